/* SPDX-License-Identifier: MIT */
/*
 * vaultctl tenant remove: the drop-in first (no new logins; sshd -t must
 * still accept its config, else it is put back and nothing else changes),
 * then the conf.d file (vaultd reloaded), the key file, the root (removed
 * when empty, else moved aside by --archive: a rename, so sealed files stay
 * immutable) and the user, with its maintenance user and that one's key
 * file when it has them. Refuses before the first change whatever it can.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "vaultctl-tenant.h"
#include "vaultctl.h"

/* The archive's name for the root: DIR/NAME-YYYYmmddTHHMMSS. Checks it can be a rename. */
static int
archive_target(const struct tenant_opts *o, const struct tenant_plan *pl, const struct stat *sr, bool own_fs,
	       char *ret, size_t size)
{
	char stamp[32];
	struct stat sa;
	time_t now = time(NULL);

	if (!host_path_is_clean(o->archive) || path_is_below(o->archive, pl->root))
		return tenant_fail("--archive %s: an absolute, clean path outside the root", o->archive);
	if (stat(o->archive, &sa) < 0 || !S_ISDIR(sa.st_mode))
		return tenant_fail("--archive %s: not an existing directory", o->archive);
	if (own_fs)
		return tenant_fail(
			"root %s is a filesystem of its own: a rename cannot move it; "
			"unmount or move it yourself",
			pl->root);
	if (sr->st_dev != sa.st_dev)
		return tenant_fail(
			"--archive %s is on another filesystem than %s: a rename cannot move it there, "
			"and a copy would lose the immutable flags",
			o->archive, pl->root);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime(&now));
	if ((size_t)snprintf(ret, size, "%s/%s-%s", o->archive, pl->name, stamp) >= size)
		return tenant_fail("--archive %s: path too long", o->archive);
	if (access(ret, F_OK) == 0)
		return tenant_fail("%s exists already", ret);
	return 0;
}

static int
remove_file(const char *path, const char *what)
{
	if (unlink(path) == 0) {
		printf("removed %s %s\n", what, path);
		return 0;
	}
	if (errno == ENOENT) {
		printf("%s %s was gone already\n", what, path);
		return 0;
	}
	return tenant_fail("cannot remove %s %s: %s", what, path, strerror(errno));
}

int
tenant_remove(const struct tenant_opts *o, const char *name)
{
	const struct policy_tenant *t;
	const struct passwd *pw;
	struct policy *p = NULL, *after = NULL;
	struct tenant_plan pl = { 0 };
	char target[PATH_MAX] = "", *dropin = NULL, out[4096];
	struct stat st, parent;
	bool has_root, own_fs = false, started = false, has_maint_user = false;
	pid_t busy;
	int status = 1, r;

	if (tenant_load_config(o->config, &p) < 0)
		return 1;
	t = tenant_find(p, name);
	if (t == NULL)
		goto out;
	tenant_plan_paths(o, &pl, name);
	snprintf(pl.user, sizeof(pl.user), "%s", t->user);
	snprintf(pl.root, sizeof(pl.root), "%s", t->root);
	if (!tenant_same_file(t->file, pl.conf_path)) {
		tenant_fail(
			"tenant %s is defined in %s:%u, not in %s: vaultctl removes only tenants it set up",
			name, t->file, t->line, pl.conf_path);
		goto out;
	}
	/* Everything that can refuse, before the first change. */
	has_root = lstat(pl.root, &st) == 0;
	if (has_root && !S_ISDIR(st.st_mode)) {
		tenant_fail("root %s is not a directory", pl.root);
		goto out;
	}
	if (has_root) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(pl.root, '/') - pl.root), pl.root);
		own_fs = stat(dir[0] != '\0' ? dir : "/", &parent) == 0 && parent.st_dev != st.st_dev;
	}
	if (has_root && dir_is_empty(pl.root) != 1) {
		if (o->archive == NULL) {
			tenant_fail("root %s holds files: nothing removed; --archive DIR moves it aside",
				    pl.root);
			goto out;
		}
		if (archive_target(o, &pl, &st, own_fs, target, sizeof(target)) < 0)
			goto out;
	}
	if (t->maint_user != NULL) {
		pw = getpwnam(t->maint_user);
		has_maint_user = pw != NULL;
		busy = pw != NULL ? uid_first_process(pw->pw_uid) : 0;
		if (busy != 0) {
			tenant_fail("maintenance user %s still runs processes (pid %d): end its sessions first; "
				    "nothing removed", t->maint_user, (int)busy);
			goto out;
		}
	}
	pw = getpwnam(pl.user);
	busy = pw != NULL ? uid_first_process(pw->pw_uid) : 0;
	if (busy != 0) {
		char comm_path[64], *comm = NULL;

		snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)busy);
		if (file_read(comm_path, 64, &comm, NULL) == 0)
			comm[strcspn(comm, "\n")] = '\0';
		tenant_fail(
			"user %s still runs processes (pid %d, %s): end its sessions first; nothing removed",
			pl.user, (int)busy, comm != NULL ? comm : "?");
		free(comm);
		goto out;
	}

	/* 1. No new logins: the drop-in goes first, and sshd must still accept its config. */
	r = file_read(pl.dropin_path, TENANT_OUT_MAX, &dropin, NULL);
	if (r < 0 && r != -ENOENT) {
		tenant_fail("cannot read %s: %s", pl.dropin_path, strerror(-r));
		goto out;
	}
	if (remove_file(pl.dropin_path, "sshd drop-in") < 0)
		goto out;
	if (tenant_sshd_test(o) < 0) {
		/* Put back, so nothing changed after all. */
		if (dropin != NULL && file_write_atomic(pl.dropin_path, dropin, strlen(dropin), 0644) == 0)
			printf("rolled back: restored %s\n", pl.dropin_path);
		tenant_fail("sshd refuses its config without the drop-in: nothing else removed");
		goto out;
	}
	started = true;
	printf("sshd -t accepts %s\n", o->sshd_config);
	if (sshd_reload(o->reload) < 0)
		fprintf(stderr, "vaultctl: WARNING: reload sshd yourself\n");

	/* 2. The config: vaultd stops sealing for the tenant. */
	if (remove_file(pl.conf_path, "tenant config") < 0)
		goto out;
	if (tenant_load_config(o->config, &after) == 0)
		printf("%s loads without tenant %s\n", o->config, name);
	if (vaultd_reload(p->control_socket) < 0)
		fprintf(stderr, "vaultctl: WARNING: reload vaultd yourself (SIGHUP)\n");

	/* 3. The key file, the root, the user. */
	if (t->authorized_keys != NULL && remove_file(t->authorized_keys, "key file") < 0)
		goto out;
	if (t->maint_user != NULL && remove_file(pl.maint_key_path, "maintenance key file") < 0)
		goto out;
	if (target[0] != '\0') {
		if (renameat2(AT_FDCWD, pl.root, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
			tenant_fail("cannot move %s to %s: %s", pl.root, target, strerror(errno));
			goto out;
		}
		printf("moved the root %s to %s (a rename: sealed files stay immutable)\n", pl.root, target);
	} else if (has_root && own_fs) {
		printf("left the empty root %s in place: it is a filesystem of its own\n", pl.root);
	} else if (has_root) {
		if (rmdir(pl.root) < 0) {
			tenant_fail("cannot remove the root %s: %s", pl.root, strerror(errno));
			goto out;
		}
		printf("removed the empty root %s\n", pl.root);
	}
	if (pw != NULL) {
		r = user_del(pl.user, out, sizeof(out));
		if (r < 0) {
			tenant_fail("userdel %s failed: %s", pl.user, r == -EIO ? out : strerror(-r));
			goto out;
		}
		printf("removed user %s\n", pl.user);
	}
	if (has_maint_user) {
		r = user_del(t->maint_user, out, sizeof(out));
		if (r < 0) {
			tenant_fail("userdel %s failed: %s", t->maint_user, r == -EIO ? out : strerror(-r));
			goto out;
		}
		printf("removed maintenance user %s\n", t->maint_user);
	}
	printf("tenant %s is removed\n", name);
	status = 0;
out:
	if (status == 0)
		vaultctl_audit("tenant remove", name, true, target[0] != '\0' ? target : "no data left");
	else if (t != NULL)
		vaultctl_audit("tenant remove", name, false,
			       started ? "failed part way" : "refused, nothing removed");
	free(dropin);
	policy_free(after);
	policy_free(p);
	return status;
}

