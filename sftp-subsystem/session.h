/* SPDX-License-Identifier: MIT */
/*
 * The SFTP engine: a state machine over bytes in and bytes out.
 *
 * A front end (vault-sftp on stdin/stdout, the libssh listener on a channel)
 * owns the I/O. It pushes what it read with sftp_session_feed(), sends what
 * sftp_session_output() returns and acknowledges it with
 * sftp_session_output_done(). The engine keeps no globals: any number of
 * sessions can live in one process.
 *
 * Memory is bounded: the engine accepts at most sftp_session_input_room()
 * bytes, and processes a request only when its largest possible reply fits
 * in the output queue. A front end that stops reading while the output is
 * full gets natural backpressure.
 */
#ifndef SEALVAULT_SFTP_SESSION_H
#define SEALVAULT_SFTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sftp_session;
struct policy_profile;

/* Largest packet accepted (length field), and the read/write sizes advertised
 * through limits@openssh.com. Same numbers as OpenSSH's sftp-server, so that
 * clients pick the same transfer sizes. */
#define SFTP_MAX_PACKET		(256 * 1024)
#define SFTP_MAX_RW_LENGTH	(SFTP_MAX_PACKET - 1024)
#define SFTP_DEFAULT_HANDLES	1024

/* Log priorities are syslog's (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG). */
struct sftp_hooks {
	/*
	 * Called once a finished upload is published under its final name and
	 * before the reply to the client's CLOSE leaves the engine: the place to
	 * make it immutable (vaultd's seal broker). fd is an O_RDONLY descriptor
	 * of the published file, path its name inside the root ("/a/b").
	 * Returns 0, or a negative errno, which fails the CLOSE (the file stays
	 * published and the failure is logged). NULL: no kernel sealing.
	 */
	int (*seal)(void *ctx, int fd, const char *path);
	/*
	 * Moves the versioned file at path (fd: O_RDONLY on it) into the attic
	 * before it is replaced or removed: vaultd's broker, which can move a
	 * sealed file. Returns 0 or a negative errno, which fails the request.
	 * NULL: the engine moves it itself (no kernel sealing).
	 */
	int (*attic)(void *ctx, int fd, const char *path);
	/* One finished log line, without newline. NULL: logs are dropped. */
	void (*log)(void *ctx, int priority, const char *line);
	/*
	 * Each refusal given to the client, raw (path unescaped), under the
	 * same rate limit as the log: for vaultd's audit trail. May be NULL.
	 */
	void (*refusal)(void *ctx, const char *op, const char *path, const char *reason);
	void *ctx;
};

struct sftp_id_name {
	uint32_t id;
	const char *name;
};

struct sftp_session_config {
	/* Directory fd of the root; the session duplicates it. */
	int root_fd;
	/* Open handles at most (0: SFTP_DEFAULT_HANDLES). Each upload holds two fds. */
	unsigned max_handles;
	/* Names for users-groups-by-id@openssh.com and READDIR's long names; may be
	 * empty. Looked up before confinement, because afterwards /etc is out of reach. */
	const struct sftp_id_name *users;
	size_t n_users;
	const struct sftp_id_name *groups;
	size_t n_groups;
	/* Who is talking, for log lines ("tenant", "key SHA256:..", "from 1.2.3.4"). */
	const char *client_label;
	/*
	 * The tenant's profile (policy.h), which must outlive the session.
	 * NULL: every path is in the sealed, write-once class.
	 */
	const struct policy_profile *profile;
	/* List the tree, but never read back the content of sealed files. */
	bool write_only;
	/*
	 * A maintenance session (the tenant's maintenance-user, policy.h):
	 * removing or replacing a sealed or versioned file moves it into the
	 * attic through hooks.attic (vaultd), and is refused without that hook.
	 */
	bool maintenance;
	/* Quotas of the tenant (0: none), counted from a scan of the root at start. */
	uint64_t quota_bytes;
	uint64_t quota_files;
};

/* Returns 0 or a negative errno (-ENOMEM, -EBADF for a root_fd that is no directory). */
int sftp_session_new(const struct sftp_session_config *config,
		     const struct sftp_hooks *hooks, struct sftp_session **ret);

/*
 * Finishes the session: uploads still open are left as hidden partial files
 * (never published, never reachable by the client; see sftp-subsystem/README.md),
 * every descriptor is closed. Accepts NULL; returns NULL.
 */
struct sftp_session *sftp_session_free(struct sftp_session *s);

/* How many bytes sftp_session_feed() takes now. 0 means: drain the output first. */
size_t sftp_session_input_room(const struct sftp_session *s);

/*
 * Appends up to len bytes of client input and processes every complete
 * request whose reply fits. Returns the number of bytes taken (at most
 * sftp_session_input_room()), or a negative errno when the session cannot go
 * on: -EPROTO for a stream whose framing is lost. Malformed requests inside
 * intact framing are answered with a status and do not end the session.
 */
ssize_t sftp_session_feed(struct sftp_session *s, const void *data, size_t len);

/* Processes buffered requests after output was drained. Same return as feed, without the count. */
int sftp_session_process(struct sftp_session *s);

/* The bytes waiting to be sent to the client (may be 0). */
const uint8_t *sftp_session_output(const struct sftp_session *s, size_t *ret_len);

/* The front end sent n bytes of the output. */
void sftp_session_output_done(struct sftp_session *s, size_t n);


#endif
