/* SPDX-License-Identifier: MIT */
/*
 * The seal broker, server side, as a library: reads one message from a
 * connected SOCK_SEQPACKET socket (broker-proto.h). A seal request is
 * checked (the peer, the path, that the fd is that path's file inside the
 * peer's tenant root), sealed through seal.h and answered; a report is
 * returned for the daemon to audit. Never logs, never unseals.
 */
#ifndef SEALVAULT_BROKER_H
#define SEALVAULT_BROKER_H

#include <stdbool.h>
#include <sys/types.h>

#include "broker-proto.h"
#include "seal.h"
#include "tenants.h"

enum broker_kind {
	BROKER_SEAL,		/* a seal request, answered */
	BROKER_ATTIC,		/* a versioned file to move into the attic, answered */
	BROKER_REPORT,		/* a refusal vault-sftp reports: op, path, reason */
	BROKER_MAINT,		/* a maintenance session begins: its tenant's directories opened to it */
	BROKER_SESSION,		/* the session's key and client address, answered */
};

/*
 * What one connection's vault-sftp said about its client (broker-proto.h,
 * SEAL_PROTO_MAGIC_SESSION). The caller keeps one per connection, zeroed
 * when it accepts the connection, and passes it to every broker_serve_one.
 */
struct broker_session {
	char key_fp[SEAL_PROTO_KEY_MAX];	/* "SHA256:...", "" unknown */
	char client[SEAL_PROTO_CLIENT_MAX];	/* the client's address, "" unknown */
	unsigned long messages;			/* handled on this connection so far */
};

struct broker_outcome {
	enum broker_kind kind;
	int status;				/* seal: what the client was told, 0 or -errno */
	enum seal_outcome seal;			/* seal: how, when the request got that far */
	char reason[SEAL_PROTO_REASON_MAX];	/* why (empty on success) */
	char op[SEAL_PROTO_OP_MAX];		/* report: the refused operation */
	struct vault_tenant *tenant;		/* NULL if no tenant was found */
	char path[SEAL_PROTO_PATH_MAX];		/* the vault path, raw ("" if none) */
	pid_t pid;				/* the peer, from SO_PEERCRED */
	uid_t uid;
	bool maintenance;			/* the peer is the tenant's maintenance user */
	unsigned dirs_protected;
	bool resealed;				/* seal: it had been sealed before (seal.h) */
	/* The connection's session, as it stands after this message ("" unknown). */
	char key_fp[SEAL_PROTO_KEY_MAX];
	char client[SEAL_PROTO_CLIENT_MAX];
};

/*
 * Serves one message on conn, whose session so far is sess (updated by a
 * session message). Returns:
 *   0            a message was handled (out says what and how);
 *   -EAGAIN      nothing to read yet;
 *   -ECONNRESET  the peer closed the connection (nothing to log);
 *   other < 0    the peer sent garbage or the reply could not be sent: the
 *                caller must close the connection (out->reason says why).
 */
int broker_serve_one(const struct tenant_table *tab, int conn, struct broker_session *sess,
		     struct broker_outcome *out);

/*
 * The checks and the seal alone, for tests: fd is the file a peer with uid
 * passed for vpath. Returns 0 or -errno with out->reason filled.
 */
int broker_seal_fd(const struct tenant_table *tab, uid_t uid, int fd, const char *vpath,
		   struct broker_outcome *out);

/*
 * Moves fd, the versioned file a peer with uid passed for vpath, into the
 * tenant's attic, sealed there (and stamped SEAL_XATTR_ATTIC); a sealed
 * file only when uid is the tenant's maintenance user. Returns 0 or -errno
 * with out->reason filled; on failure the file stays, sealed.
 */
int broker_attic_fd(const struct tenant_table *tab, uid_t uid, int fd, const char *vpath,
		    struct broker_outcome *out);

/*
 * A maintenance session of the tenant whose maintenance user uid is
 * begins: every directory of its root is protected for both its users
 * (protect_tree), so that the maintenance user reaches what the tenant
 * made. out->dirs_protected counts the changed ones. 0 or -errno (-EPERM:
 * uid is the maintenance user of no tenant) with out->reason filled.
 */
int broker_maint_begin(const struct tenant_table *tab, uid_t uid, struct broker_outcome *out);

#endif
