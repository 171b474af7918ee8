/* SPDX-License-Identifier: MIT */
/*
 * vaultd's audit trail (audit.h): one fixed window per kind of record for
 * the rate limit, the human MESSAGE, and the choice of sink. The journal
 * protocol is in audit-journal.c, the kernel audit log in audit-kernel.c;
 * audit.md lists the MESSAGE_IDs and fields.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit-internal.h"
#include "log.h"

/* Fixed for good: journalctl MESSAGE_ID= filters and catalogs depend on them (audit.md). */
static const struct {
	const char *name;
	const char *message_id;
} events[AUDIT_EVENT_MAX] = {
	[AUDIT_SEALED]		= { "sealed",		"0f548a214a9a46e88e66624bc47637c6" },
	[AUDIT_SEAL_REFUSED]	= { "seal-refused",	"f0da00e79bbc4ffca69a9669a9cb2e5d" },
	[AUDIT_SEAL_FAILED]	= { "seal-failed",	"8e9af0113c5f4c9baaae3eb8f76cd324" },
	[AUDIT_CLIENT_REFUSAL]	= { "client-refusal",	"134db172cc88489e9d041f2d727807ed" },
	[AUDIT_DIR_PROTECTED]	= { "dir-protected",	"2bb79c80d7824826b346014d9253a434" },
	[AUDIT_ADMIN]		= { "admin",		"331a625852a7476da71cfa35af563999" },
	[AUDIT_DAEMON]		= { "daemon",		"c1ee43d2b470405286ca0dd5d5d33f2e" },
};

uint64_t
audit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *
audit_event_name(enum audit_event e)
{
	return (unsigned)e < AUDIT_EVENT_MAX ? events[e].name : "unknown";
}

/* A bounded line: once something does not fit, it ends in "..." and takes no more. */
struct line {
	char *p;
	size_t len, size;
	bool full;
};

static void
line_put(struct line *l, const char *s, size_t n)
{
	if (l->full)
		return;
	/* Keep room for "..." and the NUL. */
	if (l->len + n + 4 > l->size) {
		memcpy(l->p + l->len, "...", 4);
		l->len += 3;
		l->full = true;
		return;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void
line_str(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static void line_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
line_fmt(struct line *l, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		line_put(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Untrusted text, unquoted: control bytes and non-ASCII become \n, \t or \xNN. */
static void
line_escaped(struct line *l, const char *s)
{
	for (; *s != '\0' && !l->full; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			line_put(l, "\\n", 2);
		else if (c == '\t')
			line_put(l, "\\t", 2);
		else if (c < 0x20 || c >= 0x7f)
			line_fmt(l, "\\x%02x", c);
		else
			line_put(l, s, 1);
	}
}

/* A path, quoted by log_quote(); it takes at most half of what is left. */
static void
line_quoted(struct line *l, const char *s)
{
	size_t room = l->full ? 0 : (l->size - l->len - 4) / 2;

	if (room < 8) {
		line_put(l, "\"...\"", 5);
		return;
	}
	log_quote(l->p + l->len, room, s);
	l->len += strlen(l->p + l->len);
}

/* MESSAGE: the caller's text, or a line made from the fields; printable either way. */
static void
describe(char *buf, size_t size, const struct audit_record *r)
{
	struct line l = { buf, 0, size, false };
	const char *op = r->op != NULL ? r->op : "unknown";

	buf[0] = '\0';
	if (r->message != NULL) {
		line_escaped(&l, r->message);
		return;
	}
	switch (r->event) {
	case AUDIT_SEALED:
		line_str(&l, "sealed");
		break;
	case AUDIT_SEAL_REFUSED:
	case AUDIT_CLIENT_REFUSAL:
		line_str(&l, "refused ");
		line_escaped(&l, op);
		break;
	case AUDIT_SEAL_FAILED:
		line_str(&l, "failed ");
		line_escaped(&l, op);
		break;
	case AUDIT_DIR_PROTECTED:
		line_str(&l, "protected");
		break;
	case AUDIT_ADMIN:
		line_str(&l, "admin ");
		line_escaped(&l, op);
		break;
	default:
		line_escaped(&l, op);
		break;
	}
	if (r->path != NULL) {
		line_str(&l, " ");
		line_quoted(&l, r->path);
	}
	if (r->tenant != NULL) {
		line_str(&l, " tenant=");
		line_escaped(&l, r->tenant);
	}
	if (r->uid != (uid_t)-1)
		line_fmt(&l, " uid=%u", (unsigned)r->uid);
	if (r->pid > 0)
		line_fmt(&l, " pid=%d", (int)r->pid);
	if (r->source != NULL) {
		line_str(&l, " source=");
		line_escaped(&l, r->source);
	}
	if (r->key_fp != NULL) {
		line_str(&l, " key=");
		line_escaped(&l, r->key_fp);
	}
	if (r->client != NULL) {
		line_str(&l, " client=");
		line_escaped(&l, r->client);
	}
	if (r->reason != NULL) {
		line_str(&l, ": ");
		line_escaped(&l, r->reason);
	}
}

static void
write_stderr(int fd, const char *msg)
{
	char buf[AUDIT_MESSAGE_MAX + 16];
	int n = snprintf(buf, sizeof(buf), "vaultd: %s\n", msg);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;

	if (len > 0 && buf[len - 1] != '\n')
		buf[len - 1] = '\n';
	/*
	 * One write per line, so lines from several writers do not interleave.
	 * send() first: under systemd stderr is a stream socket, and a journald
	 * that went away must not kill us with SIGPIPE.
	 */
	for (;;) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf, len);
		if (w >= 0 || errno != EINTR)
			break;
	}
}

/* A note about the sinks themselves: stderr only, not a record. */
static void stderr_note(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
stderr_note(struct audit *a, const char *fmt, ...)
{
	char raw[1024], msg[AUDIT_MESSAGE_MAX];
	struct line l = { msg, 0, sizeof(msg), false };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	msg[0] = '\0';
	line_escaped(&l, raw);
	write_stderr(a->err_fd, msg);
}

/* Caller values are capped (AUDIT_VALUE_MAX); our own buffers are short. */
static void
add_field(struct audit_field *f, size_t *n, const char *key, const char *value, bool ours)
{
	if (value == NULL)
		return;
	f[*n] = (struct audit_field){ key, value, ours ? strlen(value) : strnlen(value, AUDIT_VALUE_MAX) };
	(*n)++;
}

static int
send_journal(struct audit *a, const struct audit_record *r, const char *msg)
{
	struct audit_field f[16];
	char prio[4], uid[16], pid[16];
	size_t n = 0;
	int p = r->priority < LOG_EMERG ? LOG_EMERG : r->priority > LOG_DEBUG ? LOG_DEBUG : r->priority;

	snprintf(prio, sizeof(prio), "%d", p);
	snprintf(uid, sizeof(uid), "%u", (unsigned)r->uid);
	snprintf(pid, sizeof(pid), "%d", (int)r->pid);
	add_field(f, &n, "MESSAGE", msg, true);
	add_field(f, &n, "PRIORITY", prio, true);
	add_field(f, &n, "SYSLOG_IDENTIFIER", "vaultd", true);
	add_field(f, &n, "MESSAGE_ID", events[r->event].message_id, true);
	add_field(f, &n, "VAULT_OP", r->op != NULL ? r->op : "unknown", false);
	add_field(f, &n, "VAULT_TENANT", r->tenant, false);
	add_field(f, &n, "VAULT_PATH", r->path, false);
	add_field(f, &n, "VAULT_REASON", r->reason, false);
	add_field(f, &n, "VAULT_SOURCE", r->source, false);
	add_field(f, &n, "VAULT_UID", r->uid != (uid_t)-1 ? uid : NULL, true);
	add_field(f, &n, "VAULT_PID", r->pid > 0 ? pid : NULL, true);
	add_field(f, &n, "VAULT_KEY", r->key_fp, false);
	/* The session's key and client address (broker-proto.h); VAULT_KEY is the key's older name. */
	add_field(f, &n, "SEALVAULT_KEY_FINGERPRINT", r->key_fp, false);
	add_field(f, &n, "SEALVAULT_CLIENT", r->client, false);
	return audit_journal_send(&a->journal, f, n);
}

/* Connected, or worth one more try: at most one connect per AUDIT_RECONNECT_MS. */
static bool
journal_ready(struct audit *a, uint64_t now)
{
	struct audit_journal *j = &a->journal;

	if (j->fd >= 0)
		return true;
	if (j->path == NULL || now < j->next_try_ms)
		return false;
	j->next_try_ms = now + AUDIT_RECONNECT_MS;
	j->last_err = audit_journal_connect(j);
	return j->last_err == 0;
}

static void
kernel_off(struct audit *a, int err, const char *what)
{
	audit_kernel_close(&a->kernel);
	audit_daemon(a, LOG_WARNING, "kernel audit log off: %s: %s", what, strerror(-err));
}

/* The rate-limit slot of a tenant name (FNV-1a); records without one share slot 0. */
static unsigned
tenant_slot(const char *tenant)
{
	uint32_t h = 2166136261u;

	if (tenant == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)tenant; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % AUDIT_TENANT_SLOTS;
}

static void
deliver(struct audit *a, const struct audit_record *r, uint64_t now)
{
	char msg[AUDIT_MESSAGE_MAX];
	bool lost_journal = false;
	int err;

	describe(msg, sizeof(msg), r);
	if (journal_ready(a, now)) {
		err = send_journal(a, r, msg);
		if (err == -EAGAIN) {
			/* journald is behind: dropped and counted, never waited for. */
			a->win[r->event][tenant_slot(r->tenant)].suppressed++;
			a->suppressed++;
		} else if (err < 0) {
			lost_journal = err == -ENOTCONN;
			a->journal.last_err = err;
			write_stderr(a->err_fd, msg);
		}
	} else {
		write_stderr(a->err_fd, msg);
	}
	if (lost_journal)
		stderr_note(a, "journal socket %s went away: audit records go to stderr until it is back",
			    a->journal.path);
	if (a->kernel.nl != NULL) {
		err = audit_kernel_send(&a->kernel, r);
		if (err == -EPERM || err == -ECONNREFUSED || err == -EPROTONOSUPPORT)
			kernel_off(a, err, "the kernel refused our audit record");
	}
}

/* Windows that ended with dropped records are reported first (all of them when forced). */
static void
report_suppressed(struct audit *a, uint64_t now, bool force)
{
	for (unsigned e = 0; e < AUDIT_EVENT_MAX; e++) {
		for (unsigned t = 0; t < AUDIT_TENANT_SLOTS; t++) {
			struct audit_class *c = &a->win[e][t];
			char msg[128];
			uint64_t n = c->suppressed;

			if (n == 0 || (!force && now - c->window_start_ms < a->interval_ms))
				continue;
			c->suppressed = 0;
			c->in_window = 0;
			c->window_start_ms = now;
			snprintf(msg, sizeof(msg), "%llu audit records of kind %s suppressed",
				 (unsigned long long)n, events[e].name);
			a->cls[AUDIT_DAEMON].count++;
			/* Not rate-limited itself: at most one per kind, tenant slot and window. */
			deliver(a, &(struct audit_record){
				.event = AUDIT_DAEMON,
				.priority = LOG_WARNING,
				.op = "ratelimit",
				.tenant = c->tenant[0] ? c->tenant : NULL,
				.uid = (uid_t)-1,
				.message = msg,
			}, now);
		}
	}
}

static bool
allowed(struct audit *a, enum audit_event e, const char *tenant, uint64_t now)
{
	struct audit_class *c = &a->win[e][tenant_slot(tenant)];

	snprintf(c->tenant, sizeof(c->tenant), "%s", tenant ? tenant : "");
	if (now - c->window_start_ms >= a->interval_ms) {
		c->window_start_ms = now;
		c->in_window = 0;
	}
	if (c->in_window >= a->burst) {
		c->suppressed++;
		a->suppressed++;
		return false;
	}
	c->in_window++;
	return true;
}

int
audit_open(const struct audit_config *cfg, struct audit **ret)
{
	static const struct audit_config defaults = { 0 };
	struct audit *a;
	int err;

	*ret = NULL;
	if (cfg == NULL)
		cfg = &defaults;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->journal.fd = -EBADF;
	a->kernel.last = 1;
	a->kernel.enabled = -1;
	a->err_fd = STDERR_FILENO;
	a->burst = cfg->rate_burst > 0 ? cfg->rate_burst : 200;
	a->interval_ms = cfg->rate_interval_ms > 0 ? cfg->rate_interval_ms : 1000;
	if (cfg->journal_socket != NULL) {
		a->journal.path = strdup(cfg->journal_socket);
		if (a->journal.path == NULL) {
			free(a);
			return -ENOMEM;
		}
		a->journal.next_try_ms = audit_now_ms() + AUDIT_RECONNECT_MS;
		a->journal.last_err = audit_journal_connect(&a->journal);
		if (a->journal.last_err < 0)
			audit_daemon(a, LOG_WARNING, "journal socket %s unreachable (%s): audit records go to stderr",
				     a->journal.path, strerror(-a->journal.last_err));
	}
	if (cfg->kernel_audit) {
		err = audit_kernel_open(&a->kernel);
		if (err < 0) {
			kernel_off(a, err, "cannot open the audit netlink socket");
		} else {
			/* Accepted but dropped: the kernel acks user records even with auditing disabled. */
			a->kernel.enabled = audit_kernel_query_enabled();
			if (a->kernel.enabled == 0)
				audit_daemon(a, LOG_WARNING, "the kernel's audit is disabled (enabled=0): it drops "
					     "user audit records until auditd runs or 'auditctl -e 1'");
			if (a->kernel.enabled < 0)
				a->kernel.enabled = -1;
		}
	}
	*ret = a;
	return 0;
}

void
audit_emit(struct audit *a, const struct audit_record *r)
{
	struct audit_record rec;
	uint64_t now;

	if (r == NULL)
		return;
	rec = *r;
	if ((unsigned)rec.event >= AUDIT_EVENT_MAX)
		rec.event = AUDIT_DAEMON;
	if (a == NULL) {
		char msg[AUDIT_MESSAGE_MAX];

		describe(msg, sizeof(msg), &rec);
		write_stderr(STDERR_FILENO, msg);
		return;
	}
	now = audit_now_ms();
	a->cls[rec.event].count++;
	report_suppressed(a, now, false);
	if (allowed(a, rec.event, rec.tenant, now))
		deliver(a, &rec, now);
}

void
audit_daemon(struct audit *a, int priority, const char *fmt, ...)
{
	char msg[AUDIT_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_DAEMON,
		.priority = priority,
		.op = "daemon",
		.uid = (uid_t)-1,
		.message = msg,
	});
}

void
audit_tick(struct audit *a)
{
	if (a != NULL)
		report_suppressed(a, audit_now_ms(), false);
}

const char *
audit_backend(const struct audit *a)
{
	bool journal = a != NULL && a->journal.fd >= 0;
	bool kernel = a != NULL && a->kernel.nl != NULL;

	if (journal)
		return kernel ? "journal+kernel" : "journal";
	return kernel ? "stderr+kernel" : "stderr";
}

uint64_t
audit_count(const struct audit *a, enum audit_event e)
{
	return a != NULL && (unsigned)e < AUDIT_EVENT_MAX ? a->cls[e].count : 0;
}

uint64_t
audit_suppressed(const struct audit *a)
{
	return a != NULL ? a->suppressed : 0;
}

struct audit *
audit_free(struct audit *a)
{
	if (a == NULL)
		return NULL;
	/* What the last windows dropped is said before the sinks close. */
	report_suppressed(a, audit_now_ms(), true);
	audit_journal_close(&a->journal);
	audit_kernel_close(&a->kernel);
	free(a->journal.path);
	free(a);
	return NULL;
}
