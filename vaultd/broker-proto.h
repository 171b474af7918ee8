/* SPDX-License-Identifier: MIT */
/*
 * The seal broker's wire format, shared by vault-sftp (client) and vaultd.
 *
 * Transport: a Unix SOCK_SEQPACKET socket, so every message keeps its
 * boundaries. One request at a time per connection.
 *
 * Request (one message):
 *   u32  SEAL_PROTO_MAGIC (host byte order: both ends are on this host)
 *   char vpath[]          the vault path ("/a/b"), NUL-terminated,
 *                         strlen < SEAL_PROTO_PATH_MAX
 *   + exactly one fd in an SCM_RIGHTS control message: an O_RDONLY fd of
 *     the file to seal.
 *
 * Reply (one message):
 *   i32  status           0, or a negative errno
 *   char reason[]         a short human-readable reason, NUL-terminated
 *                         (empty on success), < SEAL_PROTO_REASON_MAX
 *
 * Attic request: as a seal request with SEAL_PROTO_MAGIC_ATTIC, the fd
 * being the current file at vpath, a versioned one about to be replaced or
 * removed; vaultd moves it into the attic (sealed) and replies the same way.
 *
 * Maintenance request: as a seal request with SEAL_PROTO_MAGIC_MAINT, the
 * path "/" and no fd, sent once by a maintenance session (the tenant's
 * maintenance-user) before it serves; vaultd protects every directory of
 * the tenant's root for both its users and replies the same way.
 *
 * Report (one message, no fd, no reply): a refusal vault-sftp gave its
 * client, for vaultd's audit trail.
 *   u32  SEAL_PROTO_MAGIC_REPORT
 *   char op[]             NUL-terminated, < SEAL_PROTO_OP_MAX
 *   char vpath[]          NUL-terminated, < SEAL_PROTO_PATH_MAX
 *   char reason[]         NUL-terminated, < SEAL_PROTO_REASON_MAX
 */
#ifndef SEALVAULT_BROKER_PROTO_H
#define SEALVAULT_BROKER_PROTO_H

#include <stdint.h>

#define SEAL_PROTO_MAGIC	0x53564c31u	/* "SVL1": magic and version in one */
#define SEAL_PROTO_MAGIC_REPORT	0x53565231u	/* "SVR1" */
#define SEAL_PROTO_MAGIC_ATTIC	0x53564131u	/* "SVA1": move a versioned file to the attic */
#define SEAL_PROTO_MAGIC_MAINT	0x53564d31u	/* "SVM1": a maintenance session begins */
#define SEAL_PROTO_PATH_MAX	4096		/* vpath length, NUL excluded, is below this */
#define SEAL_PROTO_REASON_MAX	256
#define SEAL_PROTO_OP_MAX	32

/* Largest request: the magic, the path, its NUL. */
#define SEAL_PROTO_REQUEST_MAX	(sizeof(uint32_t) + SEAL_PROTO_PATH_MAX)
#define SEAL_PROTO_REPORT_MAX	(sizeof(uint32_t) + SEAL_PROTO_OP_MAX + SEAL_PROTO_PATH_MAX + \
				 SEAL_PROTO_REASON_MAX)
#define SEAL_PROTO_REPLY_MAX	(sizeof(int32_t) + SEAL_PROTO_REASON_MAX)

/* The xattr that records when the broker sealed a file (decimal Unix time). */
#define SEAL_XATTR_SEALED	"trusted.sealvault.sealed"
/* When vaultd moved a file into the attic (decimal Unix time); purge waits from here. */
#define SEAL_XATTR_ATTIC	"trusted.sealvault.attic"

#endif
