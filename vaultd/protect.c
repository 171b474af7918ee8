/* SPDX-License-Identifier: MIT */
/*
 * Directory protection: see protect.h. The steps of protect_dir() are
 * ordered so that the tenant can always enter its directory: the ACL entry
 * is added while the tenant still owns it, and only then is it re-owned,
 * so a failure (a filesystem without ACLs) leaves the directory as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/acl.h>
#include <unistd.h>

#include <acl/libacl.h>

#include "path.h"
#include "protect.h"

bool
protect_dir_is_done(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == 0 && (st->st_mode & S_ISVTX);
}

static bool
entry_is_rwx(acl_entry_t e)
{
	acl_permset_t ps;

	if (acl_get_permset(e, &ps) < 0)
		return false;
	return acl_get_perm(ps, ACL_READ) == 1 && acl_get_perm(ps, ACL_WRITE) == 1 &&
	       acl_get_perm(ps, ACL_EXECUTE) == 1;
}

/* The ACL_USER entry of uid: 1 found (*ret set), 0 none, -errno. */
static int
find_user_entry(acl_t acl, uid_t uid, acl_entry_t *ret)
{
	acl_entry_t e;
	acl_tag_t tag;
	int r;

	for (r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1;
	     r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
		uid_t *q;
		bool match;

		if (acl_get_tag_type(e, &tag) < 0)
			return -errno;
		if (tag != ACL_USER)
			continue;
		q = acl_get_qualifier(e);
		if (q == NULL)
			return -errno;
		match = *q == uid;
		acl_free(q);
		if (match) {
			*ret = e;
			return 1;
		}
	}
	return r < 0 ? -errno : 0;
}

/* 1 if the access ACL grants uid rwx with mask rwx, 0 if not, or -errno. */
static int
acl_grants(int fd, uid_t uid)
{
	acl_t acl;
	acl_entry_t e;
	acl_tag_t tag;
	int r;

	acl = acl_get_fd(fd);
	if (acl == NULL)
		return -errno;
	r = find_user_entry(acl, uid, &e);
	if (r == 1 && !entry_is_rwx(e))
		r = 0;
	if (r == 1) {
		/* A user entry implies a mask; it must not narrow the entry. */
		int g;

		r = 0;
		for (g = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); g == 1;
		     g = acl_get_entry(acl, ACL_NEXT_ENTRY, &e))
			if (acl_get_tag_type(e, &tag) == 0 && tag == ACL_MASK) {
				r = entry_is_rwx(e);
				break;
			}
	}
	acl_free(acl);
	return r;
}

/* Sets user:uid to exactly perms (ACL_READ|...), mask recomputed; the rest is kept. */
static int
acl_grant(int fd, uid_t uid, unsigned perms)
{
	acl_t acl;
	acl_entry_t e;
	acl_permset_t ps;
	int r;

	acl = acl_get_fd(fd);
	if (acl == NULL)
		return -errno;
	r = find_user_entry(acl, uid, &e);
	if (r == 0) {
		if (acl_create_entry(&acl, &e) < 0 || acl_set_tag_type(e, ACL_USER) < 0 ||
		    acl_set_qualifier(e, &uid) < 0)
			r = -errno;
	}
	if (r >= 0) {
		if (acl_get_permset(e, &ps) < 0 || acl_clear_perms(ps) < 0 ||
		    ((perms & ACL_READ) && acl_add_perm(ps, ACL_READ) < 0) ||
		    ((perms & ACL_WRITE) && acl_add_perm(ps, ACL_WRITE) < 0) ||
		    ((perms & ACL_EXECUTE) && acl_add_perm(ps, ACL_EXECUTE) < 0) ||
		    acl_set_permset(e, ps) < 0 || acl_calc_mask(&acl) < 0)
			r = -errno;
		else if (acl_valid(acl) < 0)
			r = -EINVAL;
		else if (acl_set_fd(fd, acl) < 0)
			r = -errno;
		else
			r = 0;
	}
	acl_free(acl);
	return r;
}

/* 1 if every uid of uids[0..n) has rwx (mask rwx), 0 if one has not, or -errno. */
static int
acl_grants_all(int fd, const uid_t *uids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = acl_grants(fd, uids[i]);

		if (r <= 0)
			return r;
	}
	return 1;
}

/* Gives every uid of uids[0..n) that lacks it rwx; *changed set when one was added. */
static int
acl_grant_all(int fd, const uid_t *uids, size_t n, bool *changed)
{
	for (size_t i = 0; i < n; i++) {
		int r = acl_grants(fd, uids[i]);

		if (r == 0)
			r = acl_grant(fd, uids[i], ACL_READ | ACL_WRITE | ACL_EXECUTE);
		else if (r == 1)
			continue;
		if (r < 0)
			return r;
		if (changed != NULL)
			*changed = true;
	}
	return 0;
}

int
protect_dir(int dirfd, uid_t tenant_uid, uid_t maint_uid, bool *changed)
{
	const uid_t uids[2] = { tenant_uid, maint_uid };
	size_t n = maint_uid == PROTECT_NO_UID ? 1 : 2;
	struct stat st;
	mode_t want;
	int granted, r;

	if (changed != NULL)
		*changed = false;
	if (tenant_uid == 0 || maint_uid == 0 || maint_uid == tenant_uid)
		return -EINVAL;
	if (fstat(dirfd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	granted = acl_grants_all(dirfd, uids, n);
	if (granted < 0)
		return granted;
	if (granted && protect_dir_is_done(&st))
		return 0;

	if (st.st_uid != 0) {
		if (!granted && (r = acl_grant_all(dirfd, uids, n, changed)) < 0)
			return r;
		if (fchown(dirfd, 0, (gid_t)-1) < 0)
			return -errno;
		if (changed != NULL)
			*changed = true;
		/* Until the chown, the owner could change the ACL. */
		granted = acl_grants_all(dirfd, uids, n);
		if (granted < 0)
			return granted;
	}
	if (!granted && (r = acl_grant_all(dirfd, uids, n, changed)) < 0)
		return r;
	/*
	 * chmod sets the ACL mask from the group bits: take the mode as the
	 * ACL left it (group bits = mask = rwx) and only add the sticky bit.
	 * S_ISGID is in it if the kernel kept it: chown keeps it on a
	 * directory, the ACL and chmod drop it unless the caller is in the
	 * directory's group or has CAP_FSETID (vaultd has not).
	 */
	if (fstat(dirfd, &st) < 0)
		return -errno;
	want = (st.st_mode & 07777) | S_ISVTX;
	if ((st.st_mode & 07777) != want) {
		if (fchmod(dirfd, want) < 0)
			return -errno;
		if (changed != NULL)
			*changed = true;
	}
	return 0;
}

int
protect_parents(int rootfd, const char *vpath, uid_t tenant_uid, uid_t maint_uid, unsigned *n_changed)
{
	unsigned n = 0;
	const char *p;
	bool ch;
	int fd, fl, r;

	if (n_changed != NULL)
		*n_changed = 0;
	if (vpath == NULL || vpath[0] != '/' || !path_is_clean(vpath))
		return -EINVAL;
	fl = fcntl(rootfd, F_GETFL);
	if (fl < 0)
		return -errno;
	fd = rootfd;
	if (fl & O_PATH) {
		/* fchown, fchmod and the ACL calls refuse an O_PATH fd. */
		fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	p = vpath + 1;
	for (;;) {
		const char *slash;
		char name[NAME_MAX + 1];
		int next;

		r = protect_dir(fd, tenant_uid, maint_uid, &ch);
		n += ch;	/* a failing protect_dir may have changed something */
		if (r < 0)
			break;
		slash = strchr(p, '/');
		if (slash == NULL)
			break;	/* p is the file itself */
		memcpy(name, p, (size_t)(slash - p));
		name[slash - p] = '\0';
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			struct stat lst;

			r = -errno;
			/* O_DIRECTORY answers a symlink with ENOTDIR, before O_NOFOLLOW's ELOOP. */
			if (r == -ENOTDIR && fstatat(fd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(lst.st_mode))
				r = -ELOOP;
			break;
		}
		if (fd != rootfd)
			close(fd);
		fd = next;
		p = slash + 1;
	}
	if (fd != rootfd)
		close(fd);
	if (n_changed != NULL)
		*n_changed = n;
	return r;
}

int
protect_file(int fd, uid_t tenant_uid, uid_t maint_uid)
{
	int r;

	if (tenant_uid == 0 || maint_uid == 0 || maint_uid == tenant_uid)
		return -EINVAL;
	/* The ACL first, while the tenant may still own it: it never loses read access. */
	r = acl_grant(fd, tenant_uid, ACL_READ);
	if (r == 0 && maint_uid != PROTECT_NO_UID)
		r = acl_grant(fd, maint_uid, ACL_READ);
	if (r < 0)
		return r;
	if (fchown(fd, 0, (gid_t)-1) < 0)
		return -errno;
	return 0;
}

/* protect_tree() below dirfd (protected already), depth levels down. */
static int
protect_below(int dirfd, dev_t dev, uid_t tenant_uid, uid_t maint_uid, unsigned depth, unsigned *n)
{
	struct dirent *de;
	int fd, first = 0;
	DIR *d;

	if (depth >= PROTECT_TREE_DEPTH)
		return 0;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		bool ch = false;
		int sub, r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, ".sealvault", 10) == 0 ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		/* O_NOFOLLOW: a symlink gives ELOOP or ENOTDIR, and is left alone. */
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st) < 0 || st.st_dev != dev) {
			close(sub);
			continue;
		}
		r = protect_dir(sub, tenant_uid, maint_uid, &ch);
		*n += ch;
		if (r == 0)
			r = protect_below(sub, dev, tenant_uid, maint_uid, depth + 1, n);
		close(sub);
		if (first == 0)
			first = r;
	}
	closedir(d);
	return first;
}

int
protect_tree(int rootfd, uid_t tenant_uid, uid_t maint_uid, unsigned *n_changed)
{
	unsigned n = 0;
	struct stat st;
	bool ch = false;
	int fd, r;

	if (n_changed != NULL)
		*n_changed = 0;
	/* fchown, fchmod and the ACL calls refuse an O_PATH fd. */
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : protect_dir(fd, tenant_uid, maint_uid, &ch);
	n += ch;
	if (r == 0)
		r = protect_below(fd, st.st_dev, tenant_uid, maint_uid, 0, &n);
	close(fd);
	if (n_changed != NULL)
		*n_changed = n;
	return r;
}
