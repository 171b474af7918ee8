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
 *
 * Session (one message, no fd): who the client of this vault-sftp session
 * is, sent once, as the first message of the connection, so that vaultd
 * names the key and the address in every record of the connection. The
 * reply is as for a seal: 0, -EALREADY (not the first message: nothing
 * changes), -EINVAL (a field is not graphic ASCII: nothing stored); the
 * connection stays either way.
 *   u32  SEAL_PROTO_MAGIC_SESSION
 *   char key_fp[]         the SSH key's fingerprint ("SHA256:..."), "" if
 *                         unknown; NUL-terminated, < SEAL_PROTO_KEY_MAX
 *   char client[]         the client's address (SSH_CONNECTION's first
 *                         word), "" if unknown; NUL-terminated,
 *                         < SEAL_PROTO_CLIENT_MAX
 * What it says is vault-sftp's word, which runs as the tenant's uid: as
 * good as the sshd or listener that started it.
 */
#ifndef SEALVAULT_BROKER_PROTO_H
#define SEALVAULT_BROKER_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#define SEAL_PROTO_MAGIC	0x53564c31u	/* "SVL1": magic and version in one */
#define SEAL_PROTO_MAGIC_REPORT	0x53565231u	/* "SVR1" */
#define SEAL_PROTO_MAGIC_ATTIC	0x53564131u	/* "SVA1": move a versioned file to the attic */
#define SEAL_PROTO_MAGIC_MAINT	0x53564d31u	/* "SVM1": a maintenance session begins */
#define SEAL_PROTO_MAGIC_SESSION	0x53565331u	/* "SVS1": the session's key and client address */
#define SEAL_PROTO_PATH_MAX	4096		/* vpath length, NUL excluded, is below this */
#define SEAL_PROTO_REASON_MAX	256
#define SEAL_PROTO_OP_MAX	32
#define SEAL_PROTO_KEY_MAX	64		/* key_fp length, NUL excluded, is below this */
#define SEAL_PROTO_CLIENT_MAX	64		/* client length, NUL excluded, is below this */

/* Largest request: the magic, the path, its NUL. */
#define SEAL_PROTO_REQUEST_MAX	(sizeof(uint32_t) + SEAL_PROTO_PATH_MAX)
#define SEAL_PROTO_REPORT_MAX	(sizeof(uint32_t) + SEAL_PROTO_OP_MAX + SEAL_PROTO_PATH_MAX + \
				 SEAL_PROTO_REASON_MAX)
#define SEAL_PROTO_SESSION_MAX	(sizeof(uint32_t) + SEAL_PROTO_KEY_MAX + SEAL_PROTO_CLIENT_MAX)
#define SEAL_PROTO_REPLY_MAX	(sizeof(int32_t) + SEAL_PROTO_REASON_MAX)

/* A session field: graphic ASCII (0x21..0x7e) only, so that it cannot forge a log line. */
static inline bool
seal_proto_session_field_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* The xattr that records when the broker sealed a file (decimal Unix time). */
#define SEAL_XATTR_SEALED	"trusted.sealvault.sealed"
/* When vaultd moved a file into the attic (decimal Unix time); purge waits from here. */
#define SEAL_XATTR_ATTIC	"trusted.sealvault.attic"

#endif
