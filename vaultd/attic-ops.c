/* SPDX-License-Identifier: MIT */
/* Moves into and out of the attic: see attic-ops.h. */
#include "attic-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attic.h"
#include "broker-proto.h"
#include "iflags.h"
#include "path.h"
#include "protect.h"

static int
fail(char *reason, size_t n, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(char *reason, size_t n, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, n, fmt, ap);
	va_end(ap);
	return err;
}

static void
stamp(int fd, const char *xattr)
{
	char when[32];
	int len = snprintf(when, sizeof(when), "%lld", (long long)time(NULL));

	(void)fsetxattr(fd, xattr, when, (size_t)len, 0);
}

time_t
attic_ops_stamp(int fd, const char *xattr)
{
	char buf[32];
	ssize_t len = fgetxattr(fd, xattr, buf, sizeof(buf) - 1);
	char *end;
	long long v;

	if (len <= 0)
		return -1;
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	return (time_t)v;
}

/*
 * attic_open_dir()'s claim, so that every attic directory is vaultd's
 * before anything is unsealed: nothing leaves the immutable flag where the
 * tenant could reach it. Makes dirfd's directory root-owned, 0700, without
 * ACLs. A directory the tenant made (it may squat ".sealvault" before vaultd needs it, and
 * vault-sftp without a broker makes the attic as the tenant) is taken
 * over through its fd, so the tenant can neither enter nor change it.
 */
static int
take_dir(int dirfd)
{
	struct stat st;

	if (fstat(dirfd, &st) < 0)
		return -errno;
	if (st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == 0700)
		return 0;
	if (fchown(dirfd, 0, 0) < 0)
		return -errno;
	if ((fremovexattr(dirfd, "system.posix_acl_access") < 0 && errno != ENODATA) ||
	    (fremovexattr(dirfd, "system.posix_acl_default") < 0 && errno != ENODATA))
		return -errno;
	return fchmod(dirfd, 0700) < 0 ? -errno : 0;
}

int
attic_ops_move(const struct vault_tenant *t, int fd, const struct stat *st, const char *vpath,
	       char *reason, size_t n)
{
	struct stat cur;
	char target[NAME_MAX + 1];
	const char *name;
	int parent, adir, r, s;

	parent = path_open_parent(t->root_fd, vpath, &name);
	if (parent < 0)
		return fail(reason, n, parent, "cannot open the directory: %s", strerror(-parent));
	/* The attic's side first: nothing is unsealed until it is vaultd's own. */
	adir = attic_open_dir(t->root_fd, vpath, take_dir);
	if (adir < 0) {
		close(parent);
		return fail(reason, n, adir, "cannot prepare the attic: %s", strerror(-adir));
	}
	if ((r = attic_entry_name(name, target, sizeof(target))) < 0) {
		close(adir);
		close(parent);
		return fail(reason, n, r, "cannot name the attic entry: %s", strerror(-r));
	}
	/* Right before the move: the name is still this inode. */
	if (fstatat(parent, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 || cur.st_dev != st->st_dev ||
	    cur.st_ino != st->st_ino) {
		close(adir);
		close(parent);
		return fail(reason, n, -EPERM, "the fd is not the file at that path");
	}
	/*
	 * Root-owned before the flag goes: the tenant cannot swap it meanwhile.
	 * A file sealed before vaultd re-owned files is immutable and still the
	 * tenant's: that one takes the flag off first (a window of two calls).
	 */
	if (t->uid != 0 && st->st_uid != 0) {
		r = protect_file(fd, t->uid, t->maint_uid);
		if (r == -EPERM && (r = iflag_set_immutable(fd, false)) == 0)
			r = protect_file(fd, t->uid, t->maint_uid);
		if (r < 0) {
			(void)iflag_set_immutable(fd, true);
			close(adir);
			close(parent);
			return fail(reason, n, r, "cannot take the file from the tenant: %s", strerror(-r));
		}
	}
	r = iflag_set_immutable(fd, false);
	if (r == 0 && renameat2(parent, name, adir, target, RENAME_NOREPLACE) < 0)
		r = -errno;
	close(adir);
	close(parent);
	if (r == 0)
		stamp(fd, SEAL_XATTR_ATTIC);
	/* Sealed again wherever it is now: in the attic, or back where it was. */
	s = iflag_set_immutable(fd, true);
	if (r < 0)
		return fail(reason, n, r, "cannot move the file to the attic: %s", strerror(-r));
	if (s < 0)
		return fail(reason, n, s, "moved to the attic, but not sealed there: %s", strerror(-s));
	return 0;
}

int
attic_ops_origin(const char *rel, char *vpath, size_t size)
{
	const char *tilde = strrchr(rel, '~');
	const char *slash = strrchr(rel, '/');

	if (tilde == NULL || tilde == rel || (slash != NULL && tilde < slash) || tilde[-1] == '/')
		return -EINVAL;
	if ((size_t)snprintf(vpath, size, "/%.*s", (int)(tilde - rel), rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The attic entry rel: its directory (made vaultd's, see take_dir)
 * in *adir, its name in *aname, and the entry opened O_RDONLY, never
 * through a link. Returns the entry's fd or -errno with reason.
 */
static int
open_entry(const struct vault_tenant *t, const char *rel, int *adir, const char **aname,
	   char *reason, size_t n)
{
	char vp[VAULT_PATH_MAX + 2];
	const char *slash;
	struct stat st;
	int fd;

	*adir = -1;
	if (rel[0] == '/' || strstr(rel, "..") != NULL ||
	    (size_t)snprintf(vp, sizeof(vp), "/%s", rel) >= sizeof(vp))
		return fail(reason, n, -EINVAL, "not an attic entry: %s", rel);
	slash = strrchr(rel, '/');
	*aname = slash ? slash + 1 : rel;
	*adir = attic_open_dir(t->root_fd, vp, take_dir);
	if (*adir < 0) {
		int r = *adir;

		*adir = -1;
		return fail(reason, n, r, "cannot open the attic: %s", strerror(-r));
	}
	fd = openat(*adir, *aname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(reason, n, -errno, "no such attic entry: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(reason, n, -EINVAL, "not a file in the attic");
	}
	return fd;
}

int
attic_ops_restore(const struct vault_tenant *t, const char *rel, char *vpath, size_t vsize,
		  char *reason, size_t n)
{
	const char *name, *aname;
	int fd, parent, adir, r, s;

	r = attic_ops_origin(rel, vpath, vsize);
	if (r < 0)
		return fail(reason, n, r, "not an attic entry name: %s", rel);
	fd = open_entry(t, rel, &adir, &aname, reason, n);
	if (fd < 0) {
		if (adir >= 0)
			close(adir);
		return fd;
	}
	parent = path_open_parent(t->root_fd, vpath, &name);
	if (parent < 0) {
		r = fail(reason, n, parent, "the directory to restore into is missing: %s",
			 strerror(-parent));
		goto out;
	}
	r = iflag_set_immutable(fd, false);
	if (r == 0 && renameat2(adir, aname, parent, name, RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r == 0)
		(void)fremovexattr(fd, SEAL_XATTR_ATTIC);
	s = iflag_set_immutable(fd, true);
	if (r < 0)
		fail(reason, n, r, "cannot restore: %s", r == -EEXIST ? "the name is taken" : strerror(-r));
	else if (s < 0)
		r = fail(reason, n, s, "restored, but not sealed: %s", strerror(-s));
out:
	if (parent >= 0)
		close(parent);
	if (adir >= 0)
		close(adir);
	close(fd);
	return r;
}

int
attic_ops_purge(const struct vault_tenant *t, const char *rel, time_t not_after, uint64_t *ino,
		char *reason, size_t n)
{
	const char *aname;
	time_t moved;
	int fd, adir, r;

	fd = open_entry(t, rel, &adir, &aname, reason, n);
	if (fd < 0) {
		if (adir >= 0)
			close(adir);
		return fd;
	}
	{
		struct stat st;

		*ino = fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
	}
	moved = attic_ops_stamp(fd, SEAL_XATTR_ATTIC);
	if (moved < 0 || moved > not_after) {
		close(fd);
		close(adir);
		return fail(reason, n, -EPERM, moved < 0 ? "no attic time recorded: purge with --force"
							  : "still within the attic grace time");
	}
	r = iflag_set_immutable(fd, false);
	if (r == 0 && unlinkat(adir, aname, 0) < 0) {
		r = -errno;
		(void)iflag_set_immutable(fd, true);
	}
	if (r < 0)
		fail(reason, n, r, "cannot purge: %s", strerror(-r));
	close(adir);
	close(fd);
	return r;
}
