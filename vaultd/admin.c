/* SPDX-License-Identifier: MIT */
/* The admin requests of the control socket: see admin.h. */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "attic-ops.h"
#include "attic.h"
#include "broker-proto.h"
#include "ledger.h"
#include "log.h"
#include "path.h"
#include "seal.h"

#define WALK_DEPTH_MAX	VAULT_MAX_DEPTH

struct admin {
	struct vaultd *vd;
	struct vault_tenant *t;
	int conn;
	uid_t uid;
	pid_t pid;
	const char *by;		/* the sudo user vaultctl names, for the audit */
	const char *op;
	unsigned long done, failed, skipped;
};

bool
admin_is_request(const char *word)
{
	static const char *const ops[] = { "prune", "unlock", "attic-list", "attic-restore",
					   "attic-purge" };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(word, ops[i]) == 0)
			return true;
	return false;
}

/* One reply line, one message. */
static void
say(struct admin *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct admin *a, const char *fmt, ...)
{
	char line[2 * VAULT_PATH_MAX + 256];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line))
		len = sizeof(line) - 1;
	(void)send(a->conn, line, (size_t)len, MSG_NOSIGNAL);
}

static void
audit_admin(struct admin *a, const char *path, const char *reason, bool ok)
{
	char why[512];
	struct audit_record r = {
		.event = ok ? AUDIT_ADMIN : AUDIT_SEAL_FAILED,
		.priority = ok ? LOG_NOTICE : LOG_ERR,
		.op = a->op,
		.tenant = a->t->conf->name,
		.path = path,
		.source = "vaultctl",
		.uid = a->uid,
		.pid = a->pid,
	};

	snprintf(why, sizeof(why), "%s%s%s", reason, a->by[0] ? "; by " : "", a->by);
	r.reason = why;
	audit_emit(a->vd->audit, &r);
}

static void
when_text(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t < 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, size, "unknown");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Moves the file open at fd (vpath) into the attic, saying and auditing it. */
static void
move_one(struct admin *a, int fd, const struct stat *st, const char *vpath, const char *why)
{
	char reason[256], q[2 * VAULT_PATH_MAX];
	int r = attic_ops_move(a->t, fd, st, vpath, reason, sizeof(reason));

	log_shown(q, sizeof(q), vpath);
	if (r == 0) {
		a->done++;
		say(a, "moved to the attic: %s", q);
		audit_admin(a, vpath, why, true);
	} else {
		a->failed++;
		say(a, "FAILED %s: %s", q, reason);
		audit_admin(a, vpath, reason, false);
	}
}

/*
 * Calls fn for each regular file below dirfd, path (in buf, length len)
 * included: "/a/b" for the tenant tree, "a/b" for the attic (len 0 at the
 * top either way; top_slash tells). Reserved names are skipped when
 * skip_reserved; links are never followed.
 */
typedef void file_fn(struct admin *a, int fd, const struct stat *st, const char *path, void *ctx);

static void
walk(struct admin *a, int dirfd, char *buf, size_t len, unsigned depth, bool top_slash,
     bool skip_reserved, file_fn *fn, void *ctx)
{
	DIR *d;
	struct dirent *e;
	/* A new open file, not dup(): a dup shares the directory offset (with vaultd itself, across fork). */
	int own_fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (own_fd < 0 || (d = fdopendir(own_fd)) == NULL) {
		if (own_fd >= 0)
			close(own_fd);
		a->failed++;
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t nlen = strlen(e->d_name), at = len + ((len || top_slash) ? 1 : 0);
		struct stat st;
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (skip_reserved && name_is_reserved(e->d_name)) || at + nlen >= VAULT_PATH_MAX)
			continue;
		if (at > len)
			buf[len] = '/';
		memcpy(buf + at, e->d_name, nlen + 1);
		fd = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX)
				walk(a, fd, buf, at + nlen, depth + 1, top_slash, skip_reserved, fn, ctx);
			else if (S_ISREG(st.st_mode))
				fn(a, fd, &st, buf, ctx);
		}
		if (fd >= 0)
			close(fd);
		buf[len] = '\0';
	}
	closedir(d);
}

struct prune_ctx {
	time_t cutoff;
	bool dry;
};

/* prune: a sealed file whose seal time is at or before the cutoff goes into the attic. */
static void
prune_one(struct admin *a, int fd, const struct stat *st, const char *vpath, void *ctx)
{
	const struct prune_ctx *p = ctx;
	char when[32], q[2 * VAULT_PATH_MAX];
	time_t sealed;

	if (!seal_path_wanted(a->t, vpath))
		return;
	sealed = attic_ops_stamp(fd, SEAL_XATTR_SEALED);
	if (sealed < 0) {
		a->skipped++;	/* not sealed by vaultd: no server-side time */
		return;
	}
	if (sealed > p->cutoff)
		return;
	if (!p->dry) {
		move_one(a, fd, st, vpath, "pruned: older than asked");
		return;
	}
	when_text(sealed, when, sizeof(when));
	a->done++;
	say(a, "would move to the attic: %s (sealed %s)", log_shown(q, sizeof(q), vpath), when);
}

static int
parse_seconds(const char *s, time_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -EINVAL;
	*ret = (time_t)v;
	return 0;
}

static int
do_prune(struct admin *a, char **w, size_t n)
{
	char vpath[VAULT_PATH_MAX] = "";
	time_t older;
	bool dry;

	if (n != 3 || parse_seconds(w[0], &older) < 0 ||
	    (strcmp(w[1], "dry-run") != 0 && strcmp(w[1], "run") != 0)) {
		say(a, "error: usage: prune TENANT SECONDS dry-run|run BY");
		return 2;
	}
	dry = strcmp(w[1], "dry-run") == 0;
	a->by = w[2];
	if ((uint64_t)older < a->t->conf->retention_s) {
		say(a, "error: tenant %s keeps files at least %llus: nothing younger is pruned",
		    a->t->conf->name, (unsigned long long)a->t->conf->retention_s);
		audit_admin(a, NULL, "refused: younger than the tenant's retention", false);
		return 1;
	}
	{
		struct prune_ctx p = { .cutoff = time(NULL) - older, .dry = dry };

		walk(a, a->t->root_fd, vpath, 0, 0, true, true, prune_one, &p);
	}
	say(a, "%s %s: %lu %s, %lu failed, %lu skipped (no seal time)", a->failed ? "error" : "ok",
	    dry ? "dry run" : "prune", a->done, dry ? "would move" : "moved", a->failed, a->skipped);
	if (!dry) {
		char sum[128];

		snprintf(sum, sizeof(sum), "prune of files sealed over %llds ago: %lu moved, %lu failed",
			 (long long)older, a->done, a->failed);
		audit_admin(a, NULL, sum, a->failed == 0);
	}
	return a->failed ? 1 : 0;
}

static int
do_unlock(struct admin *a, char **w, size_t n)
{
	bool force;

	if (n < 3 || (strcmp(w[0], "normal") != 0 && strcmp(w[0], "force") != 0)) {
		say(a, "error: usage: unlock TENANT normal|force BY PATH...");
		return 2;
	}
	force = strcmp(w[0], "force") == 0;
	a->by = w[1];
	for (size_t i = 2; i < n; i++) {
		char norm[VAULT_PATH_MAX], q[2 * VAULT_PATH_MAX];
		struct stat st;
		time_t sealed;
		int fd;

		log_shown(q, sizeof(q), w[i]);
		if (path_normalize(w[i], norm, sizeof(norm)) < 0 || path_is_reserved(norm)) {
			a->failed++;
			say(a, "FAILED %s: not a vault path", q);
			continue;
		}
		fd = path_open(a->t->root_fd, norm, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
			a->failed++;
			say(a, "FAILED %s: %s", q, fd < 0 ? strerror(-fd) : "not a singly linked file");
			if (fd >= 0)
				close(fd);
			continue;
		}
		sealed = attic_ops_stamp(fd, SEAL_XATTR_SEALED);
		if (!force && a->t->conf->retention_s > 0 &&
		    (sealed < 0 || (uint64_t)(time(NULL) - sealed) < a->t->conf->retention_s)) {
			a->failed++;
			say(a, "FAILED %s: within the tenant's retention (unlock --force overrides)", q);
			audit_admin(a, norm, "unlock refused: within the tenant's retention", false);
		} else {
			move_one(a, fd, &st, norm, force ? "unlocked (forced past the retention)" : "unlocked");
		}
		close(fd);
	}
	say(a, "%s unlock: %lu moved to the attic, %lu failed", a->failed ? "error" : "ok", a->done,
	    a->failed);
	return a->failed ? 1 : 0;
}

static int
open_attic(struct admin *a)
{
	return path_open(a->t->root_fd, "/" ATTIC_DIR, O_RDONLY | O_DIRECTORY, 0);
}

static void
list_one(struct admin *a, int fd, const struct stat *st, const char *rel, void *ctx)
{
	char when[32], q[2 * VAULT_PATH_MAX];

	(void)ctx;
	log_shown(q, sizeof(q), rel);
	when_text(attic_ops_stamp(fd, SEAL_XATTR_ATTIC), when, sizeof(when));
	say(a, "%s\tmoved %s\t%lld bytes", q, when, (long long)st->st_size);
	a->done++;
}

static int
do_attic_list(struct admin *a, size_t n)
{
	char rel[VAULT_PATH_MAX] = "";
	int fd;

	if (n != 0) {
		say(a, "error: usage: attic-list TENANT");
		return 2;
	}
	fd = open_attic(a);
	if (fd >= 0) {
		walk(a, fd, rel, 0, 0, false, false, list_one, NULL);
		close(fd);
	}
	say(a, "ok %lu entries in the attic of %s", a->done, a->t->conf->name);
	return 0;
}

static int
do_attic_restore(struct admin *a, char **w, size_t n)
{
	char vpath[VAULT_PATH_MAX], reason[256], q[2 * VAULT_PATH_MAX];

	if (n != 2) {
		say(a, "error: usage: attic-restore TENANT BY REL");
		return 2;
	}
	a->by = w[0];
	log_shown(q, sizeof(q), w[1]);
	if (attic_ops_restore(a->t, w[1], vpath, sizeof(vpath), reason, sizeof(reason)) < 0) {
		say(a, "error: %s: %s", q, reason);
		audit_admin(a, w[1], reason, false);
		return 1;
	}
	audit_admin(a, vpath, "restored from the attic, sealed", true);
	log_shown(q, sizeof(q), vpath);
	say(a, "ok restored %s", q);
	return 0;
}

struct purge_ctx {
	time_t not_after;
};

/* Purges the attic entry rel for good, and tells the ledger, so that verify does not report it lost. */
static void
purge_entry(struct admin *a, const char *rel, time_t not_after)
{
	char reason[256], q[2 * VAULT_PATH_MAX], origin[VAULT_PATH_MAX];
	uint64_t ino = 0;

	log_shown(q, sizeof(q), rel);
	if (attic_ops_purge(a->t, rel, not_after, &ino, reason, sizeof(reason)) < 0) {
		a->failed++;
		say(a, "FAILED %s: %s", q, reason);
		audit_admin(a, rel, reason, false);
		return;
	}
	a->done++;
	if (attic_ops_origin(rel, origin, sizeof(origin)) == 0 &&
	    ledger_record_purged(a->vd->ledger, a->t->conf->name, origin, ino) < 0)
		say(a, "note: the ledger could not record the purge of %s", q);
	say(a, "purged %s", q);
	audit_admin(a, rel, "purged from the attic for good", true);
}

static void
purge_one(struct admin *a, int fd, const struct stat *st, const char *rel, void *ctx)
{
	const struct purge_ctx *p = ctx;
	time_t moved = attic_ops_stamp(fd, SEAL_XATTR_ATTIC);

	(void)st;
	if (moved < 0 || moved > p->not_after) {
		a->skipped++;
		return;
	}
	purge_entry(a, rel, p->not_after);
}

static int
do_attic_purge(struct admin *a, char **w, size_t n)
{
	struct purge_ctx p;
	char rel[VAULT_PATH_MAX] = "";
	bool force;
	int fd;

	if (n < 2 || (strcmp(w[0], "grace") != 0 && strcmp(w[0], "force") != 0)) {
		say(a, "error: usage: attic-purge TENANT grace|force BY [REL...]");
		return 2;
	}
	force = strcmp(w[0], "force") == 0;
	a->by = w[1];
	p.not_after = force ? time(NULL) : time(NULL) - (time_t)a->vd->policy->attic_grace_s;
	if (n == 2) {
		fd = open_attic(a);
		if (fd >= 0) {
			walk(a, fd, rel, 0, 0, false, false, purge_one, &p);
			close(fd);
		}
	}
	for (size_t i = 2; i < n; i++)
		purge_entry(a, w[i], force ? (time_t)INT64_MAX : p.not_after);
	say(a, "%s purge: %lu purged, %lu failed, %lu within the grace time", a->failed ? "error" : "ok",
	    a->done, a->failed, a->skipped);
	return a->failed ? 1 : 0;
}

static int
run_request(struct admin *a, char **w, size_t n)
{
	if (strcmp(w[0], "prune") == 0)
		return do_prune(a, w + 2, n - 2);
	if (strcmp(w[0], "unlock") == 0)
		return do_unlock(a, w + 2, n - 2);
	if (strcmp(w[0], "attic-list") == 0)
		return do_attic_list(a, n - 2);
	if (strcmp(w[0], "attic-restore") == 0)
		return do_attic_restore(a, w + 2, n - 2);
	return do_attic_purge(a, w + 2, n - 2);
}

pid_t
admin_fork(struct vaultd *vd, int conn, char **words, size_t n, uid_t peer_uid, pid_t peer_pid)
{
	struct admin a = { .vd = vd, .conn = conn, .uid = peer_uid, .pid = peer_pid, .by = "",
			   .op = words[0] };
	pid_t pid;

	if (n < 2) {
		a.t = NULL;
		(void)send(conn, "error: no tenant named", 22, MSG_NOSIGNAL);
		return -EINVAL;
	}
	for (size_t i = 0; i < vd->tenants.n && a.t == NULL; i++)
		if (strcmp(vd->tenants.t[i].conf->name, words[1]) == 0 && vd->tenants.t[i].ok)
			a.t = &vd->tenants.t[i];
	if (a.t == NULL) {
		char msg[300];
		int len = snprintf(msg, sizeof(msg), "error: no tenant %.200s is served", words[1]);

		(void)send(conn, msg, (size_t)len, MSG_NOSIGNAL);
		return -ENOENT;
	}
	pid = fork();
	if (pid != 0)
		return pid < 0 ? -errno : pid;
	/* The child: blocking sends, the answer, and out. */
	(void)fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
	_exit(run_request(&a, words, n));
}
