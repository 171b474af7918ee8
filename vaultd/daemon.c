/* SPDX-License-Identifier: MIT */
/* What the watchers and the scan call: see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ledger.h"
#include "scan.h"
#include "watcher.h"

/* A directory whose events could not be followed: the scan looks at all of it. */
static void
found_dir(struct vaultd *vd, const char *path)
{
	const char *vpath;
	struct vault_tenant *t = tenants_by_path(&vd->tenants, path, &vpath);

	if (t != NULL)
		scanner_enqueue(vd->scanner, t, vpath, SCAN_SEAL | SCAN_WATCH);
}

/* The audit records of a seal's outcome (nothing for ALREADY or NOT_SEALED_CLASS but its directories). */
static void
audit_seal(struct vaultd *vd, struct vault_tenant *t, const char *vpath, const struct seal_result *res,
	   const char *source, const struct vaultd_peer *peer)
{
	struct audit_record r = {
		.op = "seal",
		.tenant = t != NULL ? t->conf->name : NULL,
		.path = vpath,
		.source = source,
		.uid = peer != NULL ? peer->uid : (uid_t)-1,
		.pid = peer != NULL ? peer->pid : 0,
		.key_fp = peer != NULL ? peer->key_fp : NULL,
		.client = peer != NULL ? peer->client : NULL,
	};

	switch (res->outcome) {
	case SEAL_DONE:
		r.event = AUDIT_SEALED;
		r.priority = res->resealed ? LOG_WARNING : LOG_INFO;
		if (res->resealed)
			r.reason = "sealed again: its flag had been cleared (the first seal time is kept)";
		break;
	case SEAL_REFUSED:
		r.event = AUDIT_SEAL_REFUSED;
		r.priority = LOG_WARNING;
		r.reason = res->reason[0] ? res->reason : NULL;
		break;
	case SEAL_FAILED:
		r.event = AUDIT_SEAL_FAILED;
		r.priority = LOG_ERR;
		r.reason = res->reason[0] ? res->reason : NULL;
		break;
	default:
		break;
	}
	if (res->outcome == SEAL_DONE || res->outcome == SEAL_REFUSED || res->outcome == SEAL_FAILED)
		audit_emit(vd->audit, &r);
	if (res->dirs_protected > 0) {
		r.event = AUDIT_DIR_PROTECTED;
		r.priority = LOG_INFO;
		r.op = "protect";
		r.reason = "directories holding a sealed file taken out of the tenant's hands";
		audit_emit(vd->audit, &r);
	}
}

/* Counts a seal's outcome in the daemon's and the tenant's counters. */
static void
count_seal(struct vaultd *vd, struct vault_tenant *t, const struct seal_result *res)
{
	vd->n.dirs_protected += res->dirs_protected;
	switch (res->outcome) {
	case SEAL_DONE:
		vd->n.sealed++;
		t->sealed++;
		t->last_seal = time(NULL);
		break;
	case SEAL_ALREADY:
		vd->n.already++;
		break;
	case SEAL_REFUSED:
		vd->n.refused++;
		t->refused++;
		t->last_refusal = time(NULL);
		break;
	case SEAL_FAILED:
		vd->n.failed++;
		t->failed++;
		break;
	case SEAL_NOT_SEALED_CLASS:
		break;
	}
}

void
vaultd_record_seal(struct vaultd *vd, struct vault_tenant *t, const char *vpath,
		   const struct seal_result *res, const char *source, const struct vaultd_peer *peer)
{
	if (t != NULL)
		count_seal(vd, t, res);
	else if (res->outcome == SEAL_REFUSED)
		vd->n.refused++;
	if (t != NULL && res->outcome == SEAL_DONE)
		(void)ledger_add(vd->ledger, t, vpath);
	audit_seal(vd, t, vpath, res, source, peer);
}

enum seal_outcome
vaultd_found_file(struct vaultd *vd, struct vault_tenant *t, int fd, const struct stat *st,
		  const char *vpath, const char *source)
{
	struct seal_result res;

	seal_file(t, fd, st, vpath, &res);
	vaultd_record_seal(vd, t, vpath, &res, source, NULL);
	return res.outcome;
}

/* fd's current path, from /proc/self/fd; -1 if it has none a vault path could be. */
static int
fd_path(int fd, char *path, size_t size)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, size - 1);
	if (n <= 0 || n >= (ssize_t)size - 1 || path[0] != '/')
		return -1;
	path[n] = '\0';
	return 0;
}

static void
found_path(struct vaultd *vd, int fd, const struct stat *st, const char *path, const char *source);

void
vaultd_found_fd(struct vaultd *vd, int fd, const char *source)
{
	char path[PATH_MAX + 1];
	struct stat st;

	if (fstat(fd, &st) < 0 || fd_path(fd, path, sizeof(path)) < 0)
		return;		/* unlinked, or beyond any vault path */
	found_path(vd, fd, &st, path, source);
}

void
vaultd_found_at(struct vaultd *vd, int fd, int dirfd, const char *name, const char *source)
{
	char path[PATH_MAX + 1];
	struct stat st, named;
	const char *vpath;
	size_t len;

	if (fstat(fd, &st) < 0)
		return;
	if (dirfd >= 0 && name != NULL && fd_path(dirfd, path, sizeof(path)) == 0 &&
	    fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == st.st_dev &&
	    named.st_ino == st.st_ino && (len = strlen(path)) + 1 + strlen(name) < sizeof(path)) {
		snprintf(path + len, sizeof(path) - len, "%s%s", len > 1 ? "/" : "", name);
		found_path(vd, fd, &st, path, source);
		return;
	}
	if (fd_path(fd, path, sizeof(path)) == 0 && tenants_by_path(&vd->tenants, path, &vpath))
		found_path(vd, fd, &st, path, source);
	else if (dirfd >= 0 && fd_path(dirfd, path, sizeof(path)) == 0)
		found_dir(vd, path);	/* renamed since, or no path: look at the directory */
}

static void
found_path(struct vaultd *vd, int fd, const struct stat *stp, const char *path, const char *source)
{
	struct vault_tenant *t;
	const char *vpath;
	struct stat st = *stp;

	if (st.st_nlink == 0)
		return;		/* "... (deleted)": nothing left to protect */
	t = tenants_by_path(&vd->tenants, path, &vpath);
	if (t == NULL || st.st_dev != t->dev)
		return;		/* not ours: never flagged */
	if (S_ISDIR(st.st_mode)) {
		/* A directory that arrived whole: what it holds gave no events. */
		scanner_enqueue(vd->scanner, t, vpath, SCAN_SEAL | SCAN_WATCH);
		return;
	}
	/* seal_file() decides the class: temp, mutable and reserved files come back untouched. */
	vaultd_found_file(vd, t, fd, &st, vpath, source);
}

void
vaultd_overflow(struct vaultd *vd, const char *source)
{
	vd->n.overflows++;
	audit_daemon(vd->audit, LOG_WARNING, "%s event queue overflow: full catch-up scan scheduled",
		     source);
	scanner_enqueue(vd->scanner, NULL, "/", SCAN_SEAL | SCAN_WATCH);
}
