/* SPDX-License-Identifier: MIT */
/* Moves into and out of the attic: see attic-ops.h. */
#include "attic-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attic.h"
#include "broker-proto.h"
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

static int
set_immutable(int fd, bool on)
{
	unsigned flags;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~(unsigned)FS_IMMUTABLE_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -errno : 0;
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

int
attic_ops_move(const struct vault_tenant *t, int fd, const struct stat *st, const char *vpath,
	       char *reason, size_t n)
{
	struct stat cur;
	const char *name;
	int parent, r, s;

	parent = path_open_parent(t->root_fd, vpath, &name);
	if (parent < 0)
		return fail(reason, n, parent, "cannot open the directory: %s", strerror(-parent));
	/* Right before the move: the name is still this inode. */
	if (fstatat(parent, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 || cur.st_dev != st->st_dev ||
	    cur.st_ino != st->st_ino) {
		close(parent);
		return fail(reason, n, -EPERM, "the fd is not the file at that path");
	}
	/*
	 * Root-owned before the flag goes: the tenant cannot swap it meanwhile.
	 * A file sealed before vaultd re-owned files is immutable and still the
	 * tenant's: that one takes the flag off first (a window of two calls).
	 */
	if (t->uid != 0 && st->st_uid != 0) {
		r = protect_file(fd, t->uid);
		if (r == -EPERM && (r = set_immutable(fd, false)) == 0)
			r = protect_file(fd, t->uid);
		if (r < 0) {
			(void)set_immutable(fd, true);
			close(parent);
			return fail(reason, n, r, "cannot take the file from the tenant: %s", strerror(-r));
		}
	}
	r = set_immutable(fd, false);
	if (r == 0)
		r = attic_move(t->root_fd, parent, name, vpath);
	close(parent);
	if (r == 0)
		stamp(fd, SEAL_XATTR_ATTIC);
	/* Sealed again wherever it is now: in the attic, or back where it was. */
	s = set_immutable(fd, true);
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

/* The attic entry rel, opened O_RDONLY below the tenant's attic, never through a link. */
static int
open_entry(const struct vault_tenant *t, const char *rel, char *reason, size_t n)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	char path[VAULT_PATH_MAX + sizeof(ATTIC_DIR) + 2];
	struct stat st;
	int fd;

	if (rel[0] == '/' || strstr(rel, "..") != NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", ATTIC_DIR, rel) >= sizeof(path))
		return fail(reason, n, -EINVAL, "not an attic entry: %s", rel);
	fd = (int)syscall(SYS_openat2, t->root_fd, path, &how, sizeof(how));
	if (fd < 0)
		return fail(reason, n, -errno, "no such attic entry: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(reason, n, -EINVAL, "not a file in the attic");
	}
	return fd;
}

/* The attic directory holding rel (O_PATH) and rel's last component. */
static int
open_entry_dir(const struct vault_tenant *t, const char *rel, const char **name)
{
	char vp[VAULT_PATH_MAX + sizeof(ATTIC_DIR) + 3];

	snprintf(vp, sizeof(vp), "/%s/%s", ATTIC_DIR, rel);
	return path_open_parent(t->root_fd, vp, name);
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
	fd = open_entry(t, rel, reason, n);
	if (fd < 0)
		return fd;
	parent = path_open_parent(t->root_fd, vpath, &name);
	adir = open_entry_dir(t, rel, &aname);
	if (parent < 0 || adir < 0) {
		r = parent < 0 ? parent : adir;
		fail(reason, n, r, "the directory to restore into is missing: %s", strerror(-r));
		goto out;
	}
	r = set_immutable(fd, false);
	if (r == 0 && renameat2(adir, aname, parent, name, RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r == 0)
		(void)fremovexattr(fd, SEAL_XATTR_ATTIC);
	s = set_immutable(fd, true);
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
attic_ops_purge(const struct vault_tenant *t, const char *rel, time_t not_after, char *reason,
		size_t n)
{
	const char *aname;
	time_t moved;
	int fd, adir, r;

	fd = open_entry(t, rel, reason, n);
	if (fd < 0)
		return fd;
	moved = attic_ops_stamp(fd, SEAL_XATTR_ATTIC);
	if (moved < 0 || moved > not_after) {
		close(fd);
		return fail(reason, n, -EPERM, moved < 0 ? "no attic time recorded: purge with --force"
							  : "still within the attic grace time");
	}
	adir = open_entry_dir(t, rel, &aname);
	if (adir < 0) {
		close(fd);
		return fail(reason, n, adir, "cannot open the attic directory: %s", strerror(-adir));
	}
	r = set_immutable(fd, false);
	if (r == 0 && unlinkat(adir, aname, 0) < 0) {
		r = -errno;
		(void)set_immutable(fd, true);
	}
	if (r < 0)
		fail(reason, n, r, "cannot purge: %s", strerror(-r));
	close(adir);
	close(fd);
	return r;
}
