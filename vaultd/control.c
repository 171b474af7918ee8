/* SPDX-License-Identifier: MIT */
/* The control socket's requests: see control.h. */
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "ledger.h"
#include "scan.h"
#include "watcher.h"

struct out {
	char *buf;
	size_t size, len;
	bool overflow;
};

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->overflow = true;
	else
		o->len += (size_t)n;
}

/* A JSON string; tenant names are restricted, but escape anyway. */
static void
put_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			put(o, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			put(o, "\\u%04x", *p);
		else
			put(o, "%c", *p);
	}
	put(o, "\"");
}

int
control_status_json(struct vaultd *vd, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };
	const struct scan_stats *sc = scanner_last(vd->scanner);
	struct ledger_stats ls;

	ledger_stats(vd->ledger, &ls);
	put(&o, "{\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%lld,", SEALVAULT_VERSION, (int)getpid(),
	    (long long)(time(NULL) - vd->started));
	put(&o, "\"watcher\":\"%s\",\"kernel_sealing\":%s,\"audit\":",
	    vd->watcher ? vd->watcher->ops->name : "off", vd->sealing ? "true" : "false");
	put_string(&o, audit_backend(vd->audit));
	put(&o, ",\"counters\":{\"sealed\":%llu,\"already\":%llu,\"refused\":%llu,\"failed\":%llu,"
		"\"reports\":%llu,\"events\":%llu,\"overflows\":%llu,\"dirs_protected\":%llu,"
		"\"audit_suppressed\":%llu},",
	    (unsigned long long)vd->n.sealed, (unsigned long long)vd->n.already,
	    (unsigned long long)vd->n.refused, (unsigned long long)vd->n.failed,
	    (unsigned long long)vd->n.reports, (unsigned long long)vd->n.events,
	    (unsigned long long)vd->n.overflows, (unsigned long long)vd->n.dirs_protected,
	    (unsigned long long)audit_suppressed(vd->audit));
	put(&o, "\"ledger\":{\"queued\":%llu,\"hashed\":%llu,\"dropped\":%llu,\"failed\":%llu},",
	    (unsigned long long)ls.queued, (unsigned long long)ls.hashed,
	    (unsigned long long)ls.dropped, (unsigned long long)ls.failed);
	put(&o, "\"scan\":{\"running\":%s,", scanner_busy(vd->scanner) ? "true" : "false");
	if (sc->started.tv_sec)
		put(&o, "\"last_started\":%lld,\"last_duration_ms\":%llu,\"files\":%llu,\"dirs\":%llu,"
			"\"sealed\":%llu,\"already\":%llu,\"deferred\":%llu,\"failed\":%llu,\"full\":%s},",
		    (long long)sc->started.tv_sec, (unsigned long long)sc->duration_ms,
		    (unsigned long long)sc->files, (unsigned long long)sc->dirs,
		    (unsigned long long)sc->sealed, (unsigned long long)sc->already,
		    (unsigned long long)sc->deferred, (unsigned long long)sc->failed,
		    sc->full ? "true" : "false");
	else
		put(&o, "\"last_started\":null},");
	put(&o, "\"tenants\":[");
	for (size_t i = 0; i < vd->tenants.n; i++) {
		const struct vault_tenant *t = &vd->tenants.t[i];

		put(&o, "%s{\"name\":", i ? "," : "");
		put_string(&o, t->conf->name);
		put(&o, ",\"ok\":%s,", t->ok ? "true" : "false");
		if (!t->ok) {
			put(&o, "\"problem\":");
			put_string(&o, t->problem);
			put(&o, ",");
		}
		put(&o, "\"sealed\":%llu,\"refused\":%llu,\"failed\":%llu,\"last_seal\":%lld,"
			"\"last_refusal\":%lld,",
		    (unsigned long long)t->sealed, (unsigned long long)t->refused,
		    (unsigned long long)t->failed, (long long)t->last_seal, (long long)t->last_refusal);
		/* The tree as the last full catch-up scan found it; quotas from the config (0: none). */
		put(&o, "\"tree\":{\"as_of\":%lld,\"files\":%llu,\"bytes\":%llu,\"sealed\":%llu,"
			"\"unsealed\":%llu},\"quota_bytes\":%llu,\"quota_files\":%llu}",
		    (long long)t->tree.at, (unsigned long long)t->tree.files,
		    (unsigned long long)t->tree.bytes, (unsigned long long)t->tree.sealed,
		    (unsigned long long)(t->tree.files - t->tree.sealed),
		    (unsigned long long)t->conf->quota_bytes, (unsigned long long)t->conf->quota_files);
	}
	put(&o, "]}\n");
	return o.overflow ? -ENOBUFS : (int)o.len;
}

static void
put_time(struct out *o, time_t t)
{
	struct tm tm;
	char buf[32];

	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		put(o, "%-20s", "-");
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	put(o, "%-20s", buf);
}

int
control_status_text(struct vaultd *vd, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };
	const struct scan_stats *sc = scanner_last(vd->scanner);
	struct ledger_stats ls;

	ledger_stats(vd->ledger, &ls);
	put(&o, "vaultd %s, pid %d, up %llds\n", SEALVAULT_VERSION, (int)getpid(),
	    (long long)(time(NULL) - vd->started));
	put(&o, "kernel sealing: %s\nwatcher: %s\naudit: %s (%llu suppressed)\n",
	    vd->sealing ? "on" : "OFF (no CAP_LINUX_IMMUTABLE)",
	    vd->watcher ? vd->watcher->ops->name : "off", audit_backend(vd->audit),
	    (unsigned long long)audit_suppressed(vd->audit));
	put(&o, "sealed %llu, already %llu, refused %llu, failed %llu, reports %llu, events %llu, "
		"overflows %llu, directories protected %llu\n",
	    (unsigned long long)vd->n.sealed, (unsigned long long)vd->n.already,
	    (unsigned long long)vd->n.refused, (unsigned long long)vd->n.failed,
	    (unsigned long long)vd->n.reports, (unsigned long long)vd->n.events,
	    (unsigned long long)vd->n.overflows, (unsigned long long)vd->n.dirs_protected);
	put(&o, "ledger: %llu queued, %llu hashed, %llu dropped, %llu failed\n",
	    (unsigned long long)ls.queued, (unsigned long long)ls.hashed,
	    (unsigned long long)ls.dropped, (unsigned long long)ls.failed);
	if (scanner_busy(vd->scanner))
		put(&o, "catch-up scan: running\n");
	else if (sc->started.tv_sec)
		put(&o, "catch-up scan: last %llu files, %llu sealed, %llu deferred, %llu failed, %llu ms\n",
		    (unsigned long long)sc->files, (unsigned long long)sc->sealed,
		    (unsigned long long)sc->deferred, (unsigned long long)sc->failed,
		    (unsigned long long)sc->duration_ms);
	put(&o, "\n%-20s %-6s %10s %8s %8s %-20s %-20s\n", "TENANT", "OK", "SEALED", "REFUSED",
	    "FAILED", "LAST SEAL", "LAST REFUSAL");
	for (size_t i = 0; i < vd->tenants.n; i++) {
		const struct vault_tenant *t = &vd->tenants.t[i];

		put(&o, "%-20s %-6s %10llu %8llu %8llu ", t->conf->name, t->ok ? "yes" : "NO",
		    (unsigned long long)t->sealed, (unsigned long long)t->refused,
		    (unsigned long long)t->failed);
		put_time(&o, t->last_seal);
		put(&o, " ");
		put_time(&o, t->last_refusal);
		put(&o, "\n");
		if (!t->ok)
			put(&o, "  not served: %s\n", t->problem);
		else if (t->tree.at != 0) {
			put(&o, "  tree at ");
			put_time(&o, t->tree.at);
			put(&o, " %llu files (%llu sealed, %llu not), %llu bytes", (unsigned long long)t->tree.files,
			    (unsigned long long)t->tree.sealed,
			    (unsigned long long)(t->tree.files - t->tree.sealed),
			    (unsigned long long)t->tree.bytes);
			if (t->conf->quota_bytes || t->conf->quota_files)
				put(&o, "; quota %llu bytes, %llu files", (unsigned long long)t->conf->quota_bytes,
				    (unsigned long long)t->conf->quota_files);
			put(&o, "\n");
		}
	}
	return o.overflow ? -ENOBUFS : (int)o.len;
}

/*
 * "audit ACTION TARGET ok|failed BY DETAIL": vaultctl's record of an action
 * it took itself (tenant add, key, remove), so that every admin record goes
 * through one audit trail. The peer is root (the socket is 0600).
 */
static int
audit_request(struct vaultd *vd, int conn, char **w, size_t n)
{
	struct ucred cred = { .uid = (uid_t)-1 };
	socklen_t clen = sizeof(cred);
	char why[1024];
	bool ok;

	if (n != 6 || (strcmp(w[3], "ok") != 0 && strcmp(w[3], "failed") != 0)) {
		(void)send(conn, "error: usage: audit ACTION TARGET ok|failed BY DETAIL", 53, MSG_NOSIGNAL);
		return -EINVAL;
	}
	ok = strcmp(w[3], "ok") == 0;
	(void)getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	snprintf(why, sizeof(why), "%s%s%s", w[5], w[4][0] ? "; by " : "", w[4]);
	audit_emit(vd->audit, &(struct audit_record){
		.event = AUDIT_ADMIN,
		.priority = ok ? LOG_NOTICE : LOG_WARNING,
		.op = w[1],
		.tenant = w[2][0] ? w[2] : NULL,
		.reason = why,
		.source = "vaultctl",
		.uid = cred.uid,
		.pid = cred.pid,
	});
	(void)send(conn, ok ? "ok recorded" : "ok recorded (failure)", ok ? 11 : 21, MSG_NOSIGNAL);
	return -ECONNRESET;
}

int
control_serve_one(struct vaultd *vd, int conn)
{
	char *req, *reply = NULL, *words[CONTROL_WORDS_MAX];
	size_t n = 0;
	ssize_t r;
	int len = 0, rc = 0;

	req = malloc(CONTROL_REQUEST_MAX + 1);
	if (req == NULL)
		return -ENOMEM;
	r = recv(conn, req, CONTROL_REQUEST_MAX, MSG_DONTWAIT);
	if (r <= 0) {
		rc = r == 0 ? -ECONNRESET : errno == EAGAIN ? 0 : -errno;
		goto out;
	}
	req[r] = '\0';
	/* Words: NUL-separated (a path may hold blanks). */
	for (char *p = req; p < req + r && n < CONTROL_WORDS_MAX; p += strlen(p) + 1)
		words[n++] = p;
	if (n == 0) {
		rc = -EPROTO;
		goto out;
	}
	if (strcmp(words[0], "audit") == 0) {
		rc = audit_request(vd, conn, words, n);
		goto out;
	}
	if (admin_is_request(words[0])) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		pid_t pid;

		if (vd->admin_children >= ADMIN_CHILDREN_MAX) {
			(void)send(conn, "error: too many admin requests running; try again", 50, MSG_NOSIGNAL);
		} else if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
			   (pid = admin_fork(vd, conn, words, n, cred.uid, cred.pid)) > 0) {
			vd->admin_children++;
		}
		rc = -ECONNRESET;	/* the child answers; the parent lets go */
		goto out;
	}
	reply = malloc(CONTROL_REPLY_MAX);
	if (reply == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (strcmp(words[0], "status") == 0 && n == 1)
		len = control_status_json(vd, reply, CONTROL_REPLY_MAX);
	else if (strcmp(words[0], "status") == 0 && n == 2 && strcmp(words[1], "text") == 0)
		len = control_status_text(vd, reply, CONTROL_REPLY_MAX);
	else
		len = snprintf(reply, CONTROL_REPLY_MAX, "{\"error\":\"unknown request\"}\n");
	if (len < 0)
		len = snprintf(reply, CONTROL_REPLY_MAX, "{\"error\":\"status too large\"}\n");
	if (send(conn, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		rc = -errno;
	else
		rc = -ECONNRESET;	/* one request per connection: the end tells vaultctl it is all */
out:
	free(req);
	free(reply);
	return rc;
}
