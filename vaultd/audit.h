/* SPDX-License-Identifier: MIT */
/*
 * vaultd's audit trail: one record per seal, refusal and privileged
 * operation, written to journald's native socket with structured fields
 * (VAULT_TENANT, VAULT_OP, VAULT_PATH, VAULT_REASON, MESSAGE_ID, ...) or to
 * stderr when no journal can be reached, and, when the daemon holds
 * CAP_AUDIT_WRITE, to the kernel audit log as AUDIT_USER_MSG over
 * NETLINK_AUDIT. Rate-limited per event class; suppressed records are
 * counted and reported. The only logger of vaultd: everything it says goes
 * through here.
 */
#ifndef SEALVAULT_AUDIT_H
#define SEALVAULT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What happened; each has its own MESSAGE_ID (see audit.c and vaultd/README.md). */
enum audit_event {
	AUDIT_SEALED,		/* a file was made immutable */
	AUDIT_SEAL_REFUSED,	/* the broker refused a request (abuse or policy) */
	AUDIT_SEAL_FAILED,	/* a file that should be sealed could not be (I/O, flags) */
	AUDIT_CLIENT_REFUSAL,	/* vault-sftp refused a client request and reported it */
	AUDIT_DIR_PROTECTED,	/* a directory was taken out of the tenant's hands */
	AUDIT_ADMIN,		/* a privileged operation (vaultctl, attic moves) */
	AUDIT_DAEMON,		/* start, stop, watcher mode, scans, overflows */
	AUDIT_EVENT_MAX,
};

struct audit_record {
	enum audit_event event;
	int priority;		/* LOG_ERR .. LOG_DEBUG */
	const char *op;		/* VAULT_OP: "seal", "remove", "scan", ... (required) */
	const char *tenant;	/* VAULT_TENANT, NULL: none */
	const char *path;	/* VAULT_PATH: the vault path, NULL: none */
	const char *reason;	/* VAULT_REASON, NULL: none */
	const char *source;	/* VAULT_SOURCE: "broker", "fanotify", "inotify", "scan", "vault-sftp", "vaultctl" */
	const char *key_fp;	/* SEALVAULT_KEY_FINGERPRINT (and VAULT_KEY): "SHA256:...", NULL: unknown */
	const char *client;	/* SEALVAULT_CLIENT: the SSH client's address, NULL: unknown */
	uid_t uid;		/* VAULT_UID: the peer; (uid_t)-1: none */
	pid_t pid;		/* VAULT_PID: the peer; 0: none */
	const char *message;	/* MESSAGE; NULL: made from the fields */
};

struct audit_config {
	const char *journal_socket;	/* NULL or unreachable: stderr */
	bool kernel_audit;		/* also try NETLINK_AUDIT */
	unsigned rate_burst;		/* records per event class per interval (0: 200) */
	unsigned rate_interval_ms;	/* (0: 1000) */
};

struct audit;

/* Never fails for lack of a journal or of CAP_AUDIT_WRITE: it falls back. -errno on ENOMEM only. */
int audit_open(const struct audit_config *cfg, struct audit **ret);
void audit_emit(struct audit *a, const struct audit_record *r);
/* printf-style shortcut for AUDIT_DAEMON records (op "daemon"). */
void audit_daemon(struct audit *a, int priority, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Reports the suppressed counts of rate-limit windows that have ended; call
 * it from a timer so the tail of a burst is reported even when nothing else
 * is logged (audit_emit and audit_free report them too).
 */
void audit_tick(struct audit *a);
/* Where records go, for status: "journal", "stderr", each with "+kernel" when the kernel log is on. */
const char *audit_backend(const struct audit *a);
/*
 * Counts since start, for status: records of kind e passed to audit_emit
 * (suppressed or not; AUDIT_DAEMON includes the suppression notices), and
 * records dropped by the rate limit or a full journal queue.
 */
uint64_t audit_count(const struct audit *a, enum audit_event e);
uint64_t audit_suppressed(const struct audit *a);
struct audit *audit_free(struct audit *a);

#endif
