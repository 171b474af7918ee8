/* SPDX-License-Identifier: MIT */
/* What the watchers and the scan call: see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "scan.h"
#include "watcher.h"

static void
audit_seal(struct vaultd *vd, struct vault_tenant *t, const char *vpath, const char *source,
	   const struct seal_result *res)
{
	struct audit_record r = {
		.op = "seal",
		.tenant = t->conf->name,
		.path = vpath,
		.source = source,
		.uid = (uid_t)-1,
	};

	switch (res->outcome) {
	case SEAL_DONE:
		r.event = AUDIT_SEALED;
		r.priority = LOG_INFO;
		break;
	case SEAL_REFUSED:
		r.event = AUDIT_SEAL_REFUSED;
		r.priority = LOG_WARNING;
		r.reason = res->reason;
		break;
	case SEAL_FAILED:
		r.event = AUDIT_SEAL_FAILED;
		r.priority = LOG_ERR;
		r.reason = res->reason;
		break;
	default:
		break;
	}
	if (res->outcome == SEAL_DONE || res->outcome == SEAL_REFUSED || res->outcome == SEAL_FAILED)
		audit_emit(vd->audit, &r);
	if (res->dirs_protected > 0) {
		struct audit_record p = {
			.event = AUDIT_DIR_PROTECTED,
			.priority = LOG_INFO,
			.op = "protect",
			.tenant = t->conf->name,
			.path = vpath,
			.source = source,
			.uid = (uid_t)-1,
			.reason = "directories holding a sealed file taken out of the tenant's hands",
		};

		audit_emit(vd->audit, &p);
	}
}

void
vaultd_count_seal(struct vaultd *vd, struct vault_tenant *t, const struct seal_result *res)
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

enum seal_outcome
vaultd_found_file(struct vaultd *vd, struct vault_tenant *t, int fd, const struct stat *st,
		  const char *vpath, const char *source)
{
	struct seal_result res;

	seal_file(t, fd, st, vpath, &res);
	vaultd_count_seal(vd, t, &res);
	audit_seal(vd, t, vpath, source, &res);
	return res.outcome;
}

void
vaultd_found_fd(struct vaultd *vd, int fd, const char *source)
{
	char proc[64], path[PATH_MAX + 1];
	struct vault_tenant *t;
	const char *vpath;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return;
	/* Which tenant and class: from the inode's current name; the act itself goes through fd. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, sizeof(path) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(path) - 1 || path[0] != '/')
		return;		/* unlinked, or beyond any vault path */
	path[n] = '\0';
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
	if (!seal_path_wanted(t, vpath))
		return;
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
