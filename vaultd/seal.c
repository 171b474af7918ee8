/* SPDX-License-Identifier: MIT */
/* The seal: see seal.h. */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <time.h>

#include "broker-proto.h"
#include "path.h"
#include "protect.h"

static enum seal_outcome
result(struct seal_result *res, enum seal_outcome o, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum seal_outcome
result(struct seal_result *res, enum seal_outcome o, int err, const char *fmt, ...)
{
	va_list ap;

	res->outcome = o;
	res->error = err;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return o;
}

bool
seal_path_wanted(const struct vault_tenant *t, const char *vpath)
{
	if (path_is_reserved(vpath))
		return false;
	return policy_class_seals(policy_classify(t->conf->profile, vpath));
}

/*
 * The directories above vpath, protected. One fstatat when the file's
 * directory was protected lately (the common case: many files, few dirs).
 */
static int
protect_above(struct vault_tenant *t, const char *vpath, unsigned *n_changed)
{
	const char *slash = strrchr(vpath, '/');
	char dir[VAULT_PATH_MAX];
	struct stat st;
	size_t slot;
	int r;

	*n_changed = 0;
	if (slash == NULL || (size_t)(slash - vpath) >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, vpath, (size_t)(slash - vpath));
	dir[slash - vpath] = '\0';
	if (fstatat(t->root_fd, dir[0] ? dir + 1 : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    protect_dir_is_done(&st) && st.st_dev == t->dev) {
		slot = (size_t)st.st_ino % (sizeof(t->protected_dirs) / sizeof(t->protected_dirs[0]));
		if (t->protected_dirs[slot] == st.st_ino)
			return 0;
	} else {
		st.st_ino = 0;
	}
	r = protect_parents(t->root_fd, vpath, t->uid, t->maint_uid, n_changed);
	if (r == 0 && st.st_ino == 0 &&
	    fstatat(t->root_fd, dir[0] ? dir + 1 : ".", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (r == 0)
		t->protected_dirs[(size_t)st.st_ino % (sizeof(t->protected_dirs) /
						      sizeof(t->protected_dirs[0]))] = st.st_ino;
	return r;
}

enum seal_outcome
seal_file(struct vault_tenant *t, int fd, const struct stat *st, const char *vpath,
	  struct seal_result *res)
{
	unsigned flags = 0;
	int r, protected;

	res->reason[0] = '\0';
	res->error = 0;
	res->dirs_protected = 0;
	res->resealed = false;
	if (path_is_reserved(vpath))
		return result(res, SEAL_NOT_SEALED_CLASS, -EPERM,
			      "a reserved (.sealvault) path is never sealed");
	{
		enum policy_class c = policy_classify(t->conf->profile, vpath);

		if (!policy_class_seals(c))
			return result(res, SEAL_NOT_SEALED_CLASS, -EPERM,
				      "the path is in the %s class, which is not sealed",
				      policy_class_name(c));
	}
	if (!S_ISREG(st->st_mode))
		return result(res, SEAL_REFUSED, -EINVAL, "not a regular file");
	if (st->st_nlink != 1)
		return result(res, SEAL_REFUSED, -EMLINK, "the file has %lu links, not one",
			      (unsigned long)st->st_nlink);
	if (st->st_dev != t->dev)
		return result(res, SEAL_REFUSED, -EXDEV, "the file is not on the tenant's filesystem");

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return result(res, SEAL_FAILED, -errno, "cannot read the file's flags: %s",
			      strerror(errno));
	/*
	 * The directories first, while the name still leads to this file's:
	 * once they are root's the tenant cannot move them, so it cannot carry
	 * the file off between here and the flag. A root tenant owns all
	 * anyway. A failure here does not stop the seal; it is reported below.
	 */
	protected = t->uid == 0 ? 0 : protect_above(t, vpath, &res->dirs_protected);
	res->outcome = SEAL_ALREADY;
	if (!(flags & FS_IMMUTABLE_FL)) {
		char when[32];
		int n = snprintf(when, sizeof(when), "%lld", (long long)time(NULL));

		/* Root-owned before immutable: see protect_file(). A root tenant owns all anyway. */
		if (t->uid != 0 && (r = protect_file(fd, t->uid, t->maint_uid)) < 0)
			return result(res, SEAL_FAILED, r, "cannot take the file from the tenant: %s",
				      strerror(-r));
		/*
		 * A seal time already there means the file was sealed before and
		 * someone (root) cleared the flag: keep the first time, which
		 * prune goes by, and say so.
		 */
		res->resealed = fgetxattr(fd, SEAL_XATTR_SEALED, NULL, 0) > 0;
		if (!res->resealed && fsetxattr(fd, SEAL_XATTR_SEALED, when, (size_t)n, 0) < 0)
			return result(res, SEAL_FAILED, -errno, "cannot record the seal time: %s",
				      strerror(errno));
		flags |= FS_IMMUTABLE_FL;
		if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
			return result(res, SEAL_FAILED, -errno, "cannot set the immutable flag: %s",
				      strerror(errno));
		res->outcome = SEAL_DONE;
	}
	if (protected < 0)
		return result(res, SEAL_FAILED, protected,
			      "sealed, but its directories could not be protected: %s", strerror(-protected));
	return res->outcome;
}
