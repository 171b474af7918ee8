/* SPDX-License-Identifier: MIT */
/* Inside the engine: the session, the handler table, and reply helpers. */
#ifndef SEALVAULT_ENGINE_H
#define SEALVAULT_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "attrs.h"
#include "buf.h"
#include "handles.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "policy.h"
#include "quota.h"
#include "gate.h"
#include "session.h"

/* The largest reply: DATA of SFTP_MAX_RW_LENGTH, or a READDIR batch, plus framing. */
#define SFTP_MAX_REPLY	(SFTP_MAX_PACKET + 64)
#define SFTP_IN_LIMIT	(4 * (SFTP_MAX_PACKET + 4))
#define SFTP_OUT_LIMIT	(2 * SFTP_MAX_REPLY)

/* Permissions a client may give what it creates: like umask 022, no set-id or sticky bits. */
#define VAULT_MODE_MASK	0755

struct sftp_session {
	int root_fd;
	struct buf in, out;
	uint64_t discard;	/* bytes of an oversized packet still to drop */
	bool initialized;
	struct handles handles;
	struct names names;
	struct sftp_hooks hooks;
	struct sftp_log log;
	char *label;
	const struct policy_profile *profile;	/* NULL: every path sealed */
	bool write_only;
	bool maintenance;	/* see sftp_session_config */
	struct quota quota;
	int fatal;		/* a reply could not be queued: the session must end */
};

struct sftp_request_type;

/*
 * A handler parses its request from r and sends exactly one reply. It returns
 * 0 once it replied, or a negative errno for a request it could not parse
 * (nothing sent); the dispatcher answers that one.
 */
typedef int (*sftp_handler_fn)(struct sftp_session *s, uint32_t id, struct reader *r);

struct sftp_request_type {
	const char *name;	/* in logs and refusals */
	const char *ext_name;	/* extension name, NULL for a core request */
	const char *ext_version;
	uint8_t type;		/* packet type for core requests */
	sftp_handler_fn fn;
};

/* Replies. Each queues one whole packet or none; a failure sets s->fatal. */
int reply_status(struct sftp_session *s, uint32_t id, uint32_t status, const char *msg);
/* status_from_errno(err) with "PATH: text" (path may be NULL). */
int reply_errno(struct sftp_session *s, uint32_t id, int err, const char *path);
int reply_handle(struct sftp_session *s, uint32_t id, const struct handle *h);
int reply_attrs(struct sftp_session *s, uint32_t id, const struct stat *st);
/* A NAME reply with one entry, as REALPATH and READLINK send it. */
int reply_name(struct sftp_session *s, uint32_t id, const char *name);

/* Reply building for handlers with variable replies (DATA, NAME lists, EXTENDED_REPLY). */
struct reply {
	size_t start;
};
int reply_begin(struct sftp_session *s, struct reply *rp, uint8_t type, uint32_t id);
int reply_end(struct sftp_session *s, struct reply *rp);
void reply_abort(struct sftp_session *s, struct reply *rp);
/* A reply that could not be queued: drops it and ends the session. Returns err. */
int reply_fatal(struct sftp_session *s, struct reply *rp, int err);

/* Reads a path string and normalises it; negative errno on malformed input. */
int read_path(struct reader *r, char *vpath, size_t size);
/* Reads a handle string; NULL (and *ret_err 0) for an unknown handle, *ret_err < 0 if malformed. */
struct handle *read_handle(struct sftp_session *s, struct reader *r, int *ret_err);
/* The reply for an unknown or stale handle. */
int reply_bad_handle(struct sftp_session *s, uint32_t id);
/*
 * For requests whose only argument is a handle: the handle, or NULL with
 * *ret set to what the handler returns (a parse error, or the reply to an
 * unknown handle).
 */
struct handle *request_handle(struct sftp_session *s, uint32_t id, struct reader *r, int *ret);

/*
 * SETSTAT, FSETSTAT or lsetstat of something that is not an upload in
 * progress: fd is the open file or directory, the gate decides by its
 * class, the permitted part is applied. Sends the reply.
 */
int setstat_apply(struct sftp_session *s, uint32_t id, const char *op, int fd,
		  const char *vpath, const struct sftp_attrs *a);

/* "quota exceeded" as FAILURE, logged; what is the bytes or files. */
int reply_quota(struct sftp_session *s, uint32_t id, const char *vpath, const char *what);

/* publish.c: whether a mutable rule may hold one more file beside vpath (true for other classes). */
bool mutable_has_room(const struct sftp_session *s, int parent_fd, const char *vpath, struct gate_verdict v);

/* publish.c: an upload's CLOSE (sends the reply, frees the handle). */
int upload_close(struct sftp_session *s, uint32_t id, struct handle *h);
/* Hands ro_fd (or its negative errno) to the seal hook and closes it; 0 without a hook. */
int seal_fd(struct sftp_session *s, const char *vpath, int ro_fd);
/*
 * publish.c: moves the versioned file name (in parent_fd, at vault path
 * vpath) into the attic: through the attic hook (vaultd, which can move a
 * sealed file) when there is one, else itself. 0 or a negative errno.
 */
int engine_attic_move(struct sftp_session *s, int parent_fd, const char *name, const char *vpath);
/* "PATH: stored, but the vault could not seal it", logged too. */
int reply_not_sealed(struct sftp_session *s, uint32_t id, const char *vpath, int err);

/*
 * The start of REMOVE and RMDIR: the gate's verdict for op on vpath, the
 * parent directory's fd, the entry's name and lstat. Answers what ends the
 * request early (the root or a reserved name, a missing entry, a refusal)
 * and returns -1 then; otherwise the parent fd, which the caller closes.
 */
int open_entry(struct sftp_session *s, uint32_t id, const char *opname, enum policy_op op,
	       const char *vpath, struct gate_verdict *ret_v, const char **ret_name, struct stat *ret_st);

/*
 * A new handle of kind for vpath. NULL with *ret_err set (-EMFILE at the
 * handle limit, -ENOMEM); reply_handle_error() answers that.
 */
struct handle *new_path_handle(struct sftp_session *s, enum handle_kind kind, const char *vpath,
			       int *ret_err);
int reply_handle_error(struct sftp_session *s, uint32_t id, int err);

/* Handler tables, one per file. */
extern const struct sftp_request_type handlers_file[];
extern const struct sftp_request_type handlers_dir[];
extern const struct sftp_request_type handlers_path[];
extern const struct sftp_request_type handlers_ext[];

#endif
