/* SPDX-License-Identifier: MIT */
/*
 * Inside the audit module: the state behind struct audit and the two sinks
 * audit.c drives. audit-journal.c speaks journald's native protocol,
 * audit-kernel.c sends AUDIT_USER_MSG over NETLINK_AUDIT. Tests include this
 * header to look at the sinks' state (the last kernel ack, the journal fd).
 */
#ifndef SEALVAULT_AUDIT_INTERNAL_H
#define SEALVAULT_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

/* No value is sent longer than this (the journal gets a prefix of it). */
#define AUDIT_VALUE_MAX		(1024 * 1024)
/* MESSAGE, the human line; the raw fields carry the full values. */
#define AUDIT_MESSAGE_MAX	8192
/* The kernel prints at most AUDIT_MESSAGE_TEXT_MAX (8560) bytes of a user message. */
#define AUDIT_KERNEL_TEXT_MAX	8560
/* One AUDIT_USER_MSG request: MNL_SOCKET_BUFFER_SIZE (8 KiB) is less than the text may take. */
#define AUDIT_KERNEL_MSG_SIZE	((16 + AUDIT_KERNEL_TEXT_MAX + 1 + 3) & ~3)
/*
 * The record type: a user message (linux/audit.h gives only the range
 * 1100-1199) of libaudit's AUDIT_TRUSTED_APP, "trusted application,
 * freestyle text" (1112, next to it, is USER_LOGIN: a seal is no login).
 */
#define AUDIT_TRUSTED_APP	1121
/* SO_SNDBUF asked for (the kernel caps it at net.core.wmem_max and doubles it). */
#define AUDIT_JOURNAL_SNDBUF	(256 * 1024)
/* At most one journal reconnect attempt per this many ms. */
#define AUDIT_RECONNECT_MS	1000

struct mnl_socket;

/* One KEY=value pair for the journal; value need not be NUL-terminated. */
struct audit_field {
	const char *key;
	const char *value;
	size_t len;
};

struct audit_journal {
	char *path;		/* NULL: no journal configured */
	int fd;			/* connected SOCK_DGRAM, or -EBADF */
	uint64_t next_try_ms;	/* earliest reconnect attempt */
	int last_err;		/* why the journal is not used: 0 or -errno */
};

struct audit_kernel {
	struct mnl_socket *nl;	/* NULL: off */
	uint32_t seq;
	int last;		/* ack of the last send: 0 or -errno; 1: nothing sent yet */
	int enabled;		/* the kernel's audit_enabled at open; -1: unknown */
};

struct audit_class {
	uint64_t window_start_ms;
	unsigned in_window;	/* records let through in this window */
	uint64_t suppressed;	/* dropped in this window, not yet reported */
	uint64_t count;		/* all records of this kind since start */
	char tenant[64];	/* the last tenant counted in this slot, for the notice */
};

/*
 * The rate limit is per kind and per tenant (by a hash of its name, into
 * this many slots): one tenant's flood cannot hide another's records.
 */
#define AUDIT_TENANT_SLOTS	16

struct audit {
	struct audit_journal journal;
	struct audit_kernel kernel;
	bool kernel_wanted;
	unsigned burst, interval_ms;
	struct audit_class cls[AUDIT_EVENT_MAX];	/* counts */
	struct audit_class win[AUDIT_EVENT_MAX][AUDIT_TENANT_SLOTS];	/* rate-limit windows */
	uint64_t suppressed;
	int err_fd;		/* the stderr sink */
	char backend[32];
};

/* CLOCK_MONOTONIC in ms. */
uint64_t audit_now_ms(void);

/* "sealed", "seal-refused", ...: the kind's name in notices and docs. */
const char *audit_event_name(enum audit_event e);

/* Connects journal->fd to journal->path. 0 or -errno. */
int audit_journal_connect(struct audit_journal *j);
/*
 * Sends one entry (n fields), never blocking: a datagram, or a sealed memfd
 * when the datagram is too big (EMSGSIZE). Returns 0; -EAGAIN when the
 * journal's queue is full (the record is dropped); -ENOTCONN when the journal
 * went away (the fd is closed); another -errno when just this entry could not
 * be sent.
 */
int audit_journal_send(struct audit_journal *j, const struct audit_field *f, size_t n);
void audit_journal_close(struct audit_journal *j);

/* Opens and binds the audit netlink socket. 0 or -errno (EPROTONOSUPPORT: no audit). */
int audit_kernel_open(struct audit_kernel *k);
/* Writes the AUDIT_USER_MSG request for r into buf (AUDIT_KERNEL_MSG_SIZE bytes, aligned); returns its length. */
size_t audit_kernel_build(void *buf, uint32_t seq, const struct audit_record *r);
/* Sends r as AUDIT_USER_MSG and reads the ack; returns it (0 or -errno), also kept in k->last. */
int audit_kernel_send(struct audit_kernel *k, const struct audit_record *r);
void audit_kernel_close(struct audit_kernel *k);
/* The kernel's audit_enabled (0, 1, 2: locked) or -errno; needs CAP_AUDIT_CONTROL. */
int audit_kernel_query_enabled(void);
/*
 * The AUDIT_USER_MSG text for r: "op=seal tenant=\"t1\" path=... res=success",
 * at most AUDIT_KERNEL_TEXT_MAX bytes (path and reason cut to fit, then
 * " trunc=yes"). Returns the length; dst gets a NUL.
 */
size_t audit_kernel_format(char *dst, size_t size, const struct audit_record *r);

#endif
