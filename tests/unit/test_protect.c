/* SPDX-License-Identifier: MIT */
/*
 * Directory protection (protect.h) on a real ext4 filesystem: a loop image
 * made and mounted by the group setup (tmpfs has no immutable flag), so the
 * test needs root and exits 77 without it. Unmounting and removing the image
 * are in the group teardown, which cmocka runs after failed tests too, and
 * again at exit; forked children leave with _exit() and never run either.
 *
 * The tenant is uid/gid 61234 (no passwd entry needed). What the tenant can
 * and cannot do is checked by a forked child that becomes the tenant and
 * makes the real syscalls, on a protected tree and on an unprotected twin:
 * whatever the twin allows and the protected tree refuses is refused
 * because of the protection.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <acl/libacl.h>
#include <linux/fs.h>

#include <cmocka.h>

#include "protect.h"

#define TENANT_UID	((uid_t)61234)
#define TENANT_GID	((gid_t)61234)
/* The tenant's maintenance user: a second uid on the same root, in a group of its own. */
#define MAINT_UID	((uid_t)61236)
#define MAINT_GID	((gid_t)61236)

static struct {
	char	base[64];	/* mkdtemp: img and mnt */
	char	img[96];
	char	mnt[96];
	bool	mounted;
} fx;

/* base/rel into buf (PATH_MAX). */
static const char *
pj(char *buf, const char *base, const char *rel)
{
	int n = snprintf(buf, PATH_MAX, "%s%s%s", base, rel[0] ? "/" : "", rel);

	assert_true(n > 0 && n < PATH_MAX);
	return buf;
}

static void
fixture_cleanup(void)
{
	int i;

	if (fx.mounted) {
		for (i = 0; i < 50 && umount(fx.mnt) < 0; i++)
			usleep(100000);
		if (i == 50 && umount2(fx.mnt, MNT_DETACH) < 0)
			fprintf(stderr, "test_protect: cannot unmount %s: %s\n", fx.mnt,
				strerror(errno));
		fx.mounted = false;
	}
	if (fx.base[0] != '\0') {
		unlink(fx.img);
		rmdir(fx.mnt);
		rmdir(fx.base);
		fx.base[0] = '\0';
	}
}

static int
group_setup(void **state)
{
	char cmd[512];
	int fd;

	snprintf(fx.base, sizeof(fx.base), "/tmp/sealvault-test-protect.XXXXXX");
	if (mkdtemp(fx.base) == NULL)
		return -1;
	atexit(fixture_cleanup);
	/* The tenant child must be able to reach the mount point. */
	if (chmod(fx.base, 0755) < 0)
		return -1;
	snprintf(fx.img, sizeof(fx.img), "%s/img", fx.base);
	snprintf(fx.mnt, sizeof(fx.mnt), "%s/mnt", fx.base);
	if (mkdir(fx.mnt, 0755) < 0)
		return -1;
	fd = open(fx.img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 32 << 20) < 0)
		return -1;
	close(fd);
	/* Paths are ours (mkdtemp), no shell-special characters. */
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1", fx.img);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_protect: mkfs.ext4 failed\n");
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "mount -o loop,acl %s %s", fx.img, fx.mnt);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_protect: cannot loop-mount the ext4 image\n");
		return -1;
	}
	fx.mounted = true;
	return 0;
}

static int
group_teardown(void **state)
{
	fixture_cleanup();
	return 0;
}

/* --------------------------------------------------------- tree building */

/* A tenant-owned directory (as if the tenant made it) with mode. */
static void
tdir(const char *base, const char *rel, mode_t mode)
{
	char p[PATH_MAX];

	pj(p, base, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chown(p, TENANT_UID, TENANT_GID), 0);
	assert_int_equal(chmod(p, mode), 0);
}

/* A tenant-owned file; sealed: FS_IMMUTABLE_FL set through an O_RDONLY fd. */
static void
tfile(const char *base, const char *rel, bool sealed)
{
	char p[PATH_MAX];
	unsigned flags = 0;
	int fd;

	fd = open(pj(p, base, rel), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	assert_int_equal(fchown(fd, TENANT_UID, TENANT_GID), 0);
	close(fd);
	if (!sealed)
		return;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	flags |= FS_IMMUTABLE_FL;
	assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	close(fd);
}

static void
set_acl(const char *base, const char *rel, const char *text)
{
	char p[PATH_MAX];
	acl_t acl = acl_from_text(text);

	assert_non_null(acl);
	assert_int_equal(acl_set_file(pj(p, base, rel), ACL_TYPE_ACCESS, acl), 0);
	acl_free(acl);
}

/*
 * The tenant's tree: a (with a foreign ACL entry), a/b (setgid, the tenant
 * already named in its ACL but r-x only), a sealed file, a temp file, a
 * mutable file and tenant-made directories.
 */
static void
build_tree(const char *root)
{
	tdir(root, "", 0750);
	tdir(root, "a", 0710);
	set_acl(root, "a", "u::rwx,u:61235:r-x,g::--x,m::r-x,o::---");
	tdir(root, "a/tdir", 0750);
	tdir(root, "a/b", 02755);
	set_acl(root, "a/b", "u::rwx,u:61234:r-x,g::r-x,m::r-x,o::r-x");
	tfile(root, "a/b/file", true);
	tfile(root, "a/b/data.restic-temp", false);
	tfile(root, "a/b/lock", false);
	tdir(root, "a/b/empty", 0750);
	tdir(root, "a/b/guard1", 0750);
	tdir(root, "a/b/guard2", 0750);
}

/* The directory's access ACL equals text, and its mode is mode. */
static void
assert_dir_state(const char *base, const char *rel, uid_t uid, gid_t gid, mode_t mode,
		 const char *text)
{
	char p[PATH_MAX];
	struct stat st;
	acl_t want, got;
	int cmp;

	assert_int_equal(stat(pj(p, base, rel), &st), 0);
	if (st.st_uid != uid || st.st_gid != gid || (st.st_mode & 07777) != mode)
		fail_msg("%s: owner %u:%u mode %04o, want %u:%u %04o", p, st.st_uid, st.st_gid,
			 st.st_mode & 07777, uid, gid, mode);
	want = acl_from_text(text);
	assert_non_null(want);
	got = acl_get_file(p, ACL_TYPE_ACCESS);
	assert_non_null(got);
	cmp = acl_cmp(want, got);
	if (cmp != 0) {
		char *s = acl_to_any_text(got, NULL, ',', TEXT_NUMERIC_IDS);

		fail_msg("%s: ACL %s, want %s", p, s ? s : "?", text);
	}
	acl_free(want);
	acl_free(got);
}

/* ------------------------------------------------------- tenant's checks */

/* In a child: report a failed check and leave with 1. */
#define CHECK(cond) do {						\
	if (!(cond)) {							\
		dprintf(STDERR_FILENO, "%s:%d: as tenant (%s tree): %s (errno %d %s)\n", \
		    __FILE__, __LINE__, prot ? "protected" : "twin", #cond, errno, \
		    strerror(errno));					\
		return 1;						\
	}								\
} while (0)

#define FAILS(call, e)	((call) == -1 && errno == (e))
/* Refused with EPERM on the protected tree, allowed on the twin. */
#define GUARDED(call)	(prot ? FAILS(call, EPERM) : (call) == 0)

/* tenant may change a/b's ACL: a new entry for a foreign uid. */
static int
tenant_acl_change(int fd)
{
	acl_t acl = acl_get_fd(fd);
	acl_entry_t e;
	acl_permset_t ps;
	uid_t other = 61299;
	int r = -1;

	if (acl == NULL)
		return -1;
	if (acl_create_entry(&acl, &e) == 0 && acl_set_tag_type(e, ACL_USER) == 0 &&
	    acl_set_qualifier(e, &other) == 0 && acl_get_permset(e, &ps) == 0 &&
	    acl_clear_perms(ps) == 0 && acl_add_perm(ps, ACL_READ) == 0 &&
	    acl_set_permset(e, ps) == 0 && acl_calc_mask(&acl) == 0)
		r = acl_set_fd(fd, acl);
	acl_free(acl);
	return r;
}

static int
tenant_checks(const char *root, bool prot)
{
	char p[PATH_MAX], q[PATH_MAX];
	int fd;

	/* The tenant still uses its tree: list, create, publish, remove its own. */
	fd = open(pj(p, root, "a/b"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	fd = open(pj(p, root, "a/b/new"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
	CHECK(mkdir(pj(p, root, "a/b/newdir"), 0700) == 0);
	CHECK(mkdir(pj(p, root, "a/newdir"), 0700) == 0);
	CHECK(renameat2(AT_FDCWD, pj(p, root, "a/b/data.restic-temp"), AT_FDCWD,
			pj(q, root, "a/b/data"), RENAME_NOREPLACE) == 0);
	CHECK(unlink(pj(p, root, "a/b/lock")) == 0);
	CHECK(rmdir(pj(p, root, "a/b/empty")) == 0);

	/* Sealed: immutable on both trees, whatever the directory. */
	CHECK(FAILS(unlink(pj(p, root, "a/b/file")), EPERM));
	CHECK(FAILS(rename(pj(p, root, "a/b/file"), pj(q, root, "a/b/file2")), EPERM));

	/* The directories themselves. The twin's changes are undone at once. */
	CHECK(GUARDED(rename(pj(p, root, "a"), pj(q, root, "a.moved"))));
	if (!prot)
		CHECK(rename(q, p) == 0);
	CHECK(GUARDED(rename(pj(p, root, "a/b"), pj(q, root, "a/b.moved"))));
	if (!prot)
		CHECK(rename(q, p) == 0);
	CHECK(GUARDED(renameat2(AT_FDCWD, pj(p, root, "a/b"), AT_FDCWD,
				pj(q, root, "a/tdir"), RENAME_EXCHANGE)));
	if (!prot)
		CHECK(renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_EXCHANGE) == 0);
	CHECK(GUARDED(chmod(pj(p, root, "a/b"), 0777)));
	if (!prot)
		CHECK(chmod(p, 02755) == 0);
	CHECK(GUARDED(chmod(pj(p, root, ""), 0777)));
	if (!prot)
		CHECK(chmod(p, 0750) == 0);
	CHECK(GUARDED(chown(pj(p, root, "a/b"), TENANT_UID, TENANT_GID)));
	fd = open(pj(p, root, "a/b"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(GUARDED(tenant_acl_change(fd)));
	close(fd);
	/* An empty protected directory: neither removed nor replaced by a rename. */
	CHECK(GUARDED(rmdir(pj(p, root, "a/b/guard1"))));
	CHECK(GUARDED(rename(pj(p, root, "a/b/newdir"), pj(q, root, "a/b/guard2"))));
	/* Non-empty: the protection answers before the emptiness check. */
	CHECK(FAILS(rmdir(pj(p, root, "a/b")), prot ? EPERM : ENOTEMPTY));
	return 0;
}

/* Runs tenant_checks() in a child that is the tenant; asserts it passed. */
static void
as_tenant(const char *root, bool prot)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g = TENANT_GID;

		if (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 ||
		    setresuid(TENANT_UID, TENANT_UID, TENANT_UID) < 0)
			_exit(2);
		_exit(tenant_checks(root, prot));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------------ tests */

static void
test_protect_parents_tenant(void **state)
{
	char prot[PATH_MAX], twin[PATH_MAX], p[PATH_MAX];
	unsigned n = 99;
	bool changed = true;
	int rootfd, fd;

	build_tree(pj(prot, fx.mnt, "prot"));
	build_tree(pj(twin, fx.mnt, "twin"));

	/* tenants.c opens the root O_RDONLY; an O_PATH fd must do as well. */
	rootfd = open(prot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(protect_parents(rootfd, "/a/b/file", TENANT_UID, PROTECT_NO_UID, &n), 0);
	assert_int_equal(n, 3);
	n = 99;
	assert_int_equal(protect_parents(rootfd, "/a/b/file", TENANT_UID, PROTECT_NO_UID, &n), 0);
	assert_int_equal(n, 0);
	close(rootfd);

	/* Owner root, group kept, sticky, tenant rwx, mask rwx, the rest kept. */
	assert_dir_state(prot, "", 0, TENANT_GID, 01770, "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::---");
	assert_dir_state(prot, "a", 0, TENANT_GID, 01770,
			 "u::rwx,u:61234:rwx,u:61235:r-x,g::--x,m::rwx,o::---");
	/* Run as root (CAP_FSETID), S_ISGID survives. */
	assert_dir_state(prot, "a/b", 0, TENANT_GID, 03775,
			 "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::r-x");
	/* The file and the directories beside the path are not touched. */
	assert_dir_state(prot, "a/b/empty", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");
	assert_dir_state(prot, "a/tdir", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");
	{
		struct stat st;

		assert_int_equal(stat(pj(p, prot, "a/b/file"), &st), 0);
		assert_int_equal(st.st_uid, TENANT_UID);
		assert_int_equal(st.st_mode & 07777, 0640);
	}

	/* Already done: one fstat and one ACL read, nothing changed. */
	fd = open(pj(p, prot, "a/b"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, &changed), 0);
	assert_false(changed);
	close(fd);

	/* guard1 and guard2 stand for tenant-made directories that hold sealed files. */
	fd = open(pj(p, prot, "a/b/guard1"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, &changed), 0);
	assert_true(changed);
	close(fd);
	fd = open(pj(p, prot, "a/b/guard2"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, NULL), 0);
	close(fd);

	as_tenant(prot, true);
	as_tenant(twin, false);

	/* The protected tree is as it was (the tenant's own entries aside). */
	assert_dir_state(prot, "a/b", 0, TENANT_GID, 03775,
			 "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::r-x");
	assert_int_equal(access(pj(p, prot, "a/b/guard1"), F_OK), 0);
	assert_int_equal(access(pj(p, prot, "a/b/file"), F_OK), 0);
}

/* Root-owned and sticky is not enough: the tenant entry is added. */
static void
test_protect_dir_acl_only(void **state)
{
	char p[PATH_MAX];
	bool changed = false;
	int fd;

	pj(p, fx.mnt, "rootmade");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 01755), 0);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, &changed), 0);
	assert_true(changed);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, &changed), 0);
	assert_false(changed);
	close(fd);
	assert_dir_state(fx.mnt, "rootmade", 0, 0, 01775,
			 "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::r-x");
}

static void
test_protect_dir_not_dir(void **state)
{
	char base[PATH_MAX], p[PATH_MAX];
	struct stat st;
	bool changed = true;
	int fd;

	tdir(pj(base, fx.mnt, "notdir"), "", 0755);
	tfile(base, "f", false);
	fd = open(pj(p, base, "f"), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, &changed), -ENOTDIR);
	assert_false(changed);
	close(fd);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, TENANT_UID);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* No tenant: uid 0 is refused. */
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(protect_dir(fd, 0, PROTECT_NO_UID, NULL), -EINVAL);
	close(fd);
	assert_dir_state(base, "", TENANT_UID, TENANT_GID, 0755, "u::rwx,g::r-x,o::r-x");
}

/* Symlinks and ".." never lead protection outside the root. */
static void
test_protect_parents_no_escape(void **state)
{
	char base[PATH_MAX], root[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	unsigned n = 99;
	int rootfd;

	pj(base, fx.mnt, "esc");
	assert_int_equal(mkdir(base, 0755), 0);
	tdir(base, "out", 0750);
	tdir(base, "out/x", 0750);
	pj(root, base, "root");
	tdir(root, "", 0750);
	tdir(root, "a", 0750);
	assert_int_equal(symlink("../out", pj(p, root, "link")), 0);
	assert_int_equal(symlink(pj(q, base, "out"), pj(p, root, "a/abslink")), 0);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);

	/* Not clean: refused before anything is touched. */
	assert_int_equal(protect_parents(rootfd, "/../out/x/file", TENANT_UID, PROTECT_NO_UID, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(protect_parents(rootfd, "/a/../../out/file", TENANT_UID, PROTECT_NO_UID, NULL), -EINVAL);
	assert_int_equal(protect_parents(rootfd, "/a/./file", TENANT_UID, PROTECT_NO_UID, NULL), -EINVAL);
	assert_int_equal(protect_parents(rootfd, "/a//file", TENANT_UID, PROTECT_NO_UID, NULL), -EINVAL);
	assert_int_equal(protect_parents(rootfd, "/a/", TENANT_UID, PROTECT_NO_UID, NULL), -EINVAL);
	assert_int_equal(protect_parents(rootfd, "a/file", TENANT_UID, PROTECT_NO_UID, NULL), -EINVAL);
	assert_dir_state(root, "", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");

	/* A symlink component: ELOOP; the root was protected before it. */
	assert_int_equal(protect_parents(rootfd, "/link/x/file", TENANT_UID, PROTECT_NO_UID, &n), -ELOOP);
	assert_int_equal(n, 1);
	n = 99;
	assert_int_equal(protect_parents(rootfd, "/a/abslink/file", TENANT_UID, PROTECT_NO_UID, &n), -ELOOP);
	assert_int_equal(n, 1);
	/* A file where a directory should be: ENOTDIR. */
	tfile(root, "a/plain", false);
	assert_int_equal(protect_parents(rootfd, "/a/plain/file", TENANT_UID, PROTECT_NO_UID, NULL), -ENOTDIR);
	close(rootfd);

	assert_dir_state(root, "", 0, TENANT_GID, 01770, "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::---");
	assert_dir_state(base, "out", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");
	assert_dir_state(base, "out/x", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");
}

/*
 * With exactly vaultd's capabilities (privileges.c: uid 0, no CAP_FSETID,
 * no CAP_DAC_OVERRIDE) protection works; S_ISGID survives only on a
 * directory whose group vaultd is in (here group 0).
 */
static void
test_protect_with_vaultd_caps(void **state)
{
	static const cap_value_t caps[] = {
		CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH,
		CAP_FOWNER, CAP_CHOWN, CAP_AUDIT_WRITE,
	};
	char root[PATH_MAX], p[PATH_MAX];
	pid_t pid;
	int status;

	pj(root, fx.mnt, "caps");
	tdir(root, "", 0700);
	tdir(root, "a", 02700);
	tdir(root, "a/g0", 0700);
	assert_int_equal(chown(pj(p, root, "a/g0"), TENANT_UID, 0), 0);
	assert_int_equal(chmod(p, 02750), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cap_t c = cap_init();
		gid_t g0 = 0;
		unsigned n = 99;
		int fd;

		if (c == NULL || setgroups(1, &g0) < 0 ||
		    cap_set_flag(c, CAP_PERMITTED, 6, caps, CAP_SET) < 0 ||
		    cap_set_flag(c, CAP_EFFECTIVE, 6, caps, CAP_SET) < 0 || cap_set_proc(c) < 0)
			_exit(2);
		cap_free(c);
		/* Without CAP_DAC_OVERRIDE, but read-search is enough to open. */
		fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			_exit(3);
		if (protect_parents(fd, "/a/g0/file", TENANT_UID, PROTECT_NO_UID, &n) != 0 || n != 3)
			_exit(4);
		if (protect_parents(fd, "/a/g0/file", TENANT_UID, PROTECT_NO_UID, &n) != 0 || n != 0)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_dir_state(root, "", 0, TENANT_GID, 01770,
			 "u::rwx,u:61234:rwx,g::---,m::rwx,o::---");
	/* Group 61234: vaultd is not in it, the kernel drops S_ISGID. */
	assert_dir_state(root, "a", 0, TENANT_GID, 01770,
			 "u::rwx,u:61234:rwx,g::---,m::rwx,o::---");
	assert_dir_state(root, "a/g0", 0, 0, 03770, "u::rwx,u:61234:rwx,g::r-x,m::rwx,o::---");
}

/* In a child that is the maintenance user: what it needs of the tenant's tree, and no more. */
static int
maint_checks(const char *root)
{
	char p[PATH_MAX];
	bool prot = true;	/* for CHECK's message */
	int fd;

	fd = open(pj(p, root, "locks/maint-lock"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(unlink(p) == 0);
	fd = open(pj(p, root, "data/ff/new-pack"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	fd = open(pj(p, root, "data/00/sealed"), O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	close(fd);
	/* The tenant's unsealed files stay the tenant's; sealed ones stay where they are. */
	CHECK(FAILS(open(pj(p, root, "data/00/tenant-temp"), O_RDONLY | O_CLOEXEC), EACCES));
	CHECK(FAILS(unlink(pj(p, root, "data/00/sealed")), EPERM));
	CHECK(FAILS(rmdir(pj(p, root, "data/ff")), EPERM));
	CHECK(FAILS(chmod(pj(p, root, "locks"), 0777), EPERM));
	/* Not below a link, not in the vault's own names. */
	CHECK(FAILS(open(pj(p, root, ".sealvault/x"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), EACCES));
	return 0;
}

/*
 * A maintenance session begins: every directory below the root is
 * protected for both uids (those the tenant made and nothing sealed in,
 * and those protected before there was a maintenance user), sealed files
 * get a read entry for it, links and .sealvault names are left alone.
 */
static void
test_protect_tree_maintenance(void **state)
{
	char root[PATH_MAX], p[PATH_MAX], out[PATH_MAX];
	const char *both = "u::rwx,u:61234:rwx,u:61236:rwx,g::r-x,m::rwx,o::---";
	static const char *const dirs[] = { "", "data", "data/00", "data/ff", "deep", "deep/a", "deep/a/b" };
	unsigned n = 99;
	bool changed;
	pid_t pid;
	int rootfd, fd, status;

	pj(root, fx.mnt, "mtree");
	tdir(root, "", 0750);
	tdir(root, "locks", 0700);
	tdir(root, "data", 0750);
	tdir(root, "data/00", 0750);
	tdir(root, "data/ff", 0750);
	tdir(root, "deep", 0750);
	tdir(root, "deep/a", 0750);
	tdir(root, "deep/a/b", 0750);
	tdir(root, ".sealvault", 0700);
	tfile(root, "data/00/tenant-temp", false);
	tdir(pj(out, fx.mnt, "mtree-outside"), "", 0750);
	assert_int_equal(symlink(out, pj(p, root, "link")), 0);
	/* Protected for the tenant alone, before the maintenance user existed. */
	fd = open(pj(p, root, "data"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(protect_dir(fd, TENANT_UID, PROTECT_NO_UID, NULL), 0);
	assert_int_equal(protect_dir(fd, TENANT_UID, TENANT_UID, NULL), -EINVAL);
	assert_int_equal(protect_dir(fd, TENANT_UID, 0, NULL), -EINVAL);
	/* Already protected for the tenant: the maintenance entry is still added. */
	assert_int_equal(protect_dir(fd, TENANT_UID, MAINT_UID, &changed), 0);
	assert_true(changed);
	close(fd);
	/* A file sealed for both: root's, readable by both. */
	fd = open(pj(p, root, "data/00/sealed"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && fchown(fd, TENANT_UID, TENANT_GID) == 0);
	close(fd);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_int_equal(protect_file(fd, TENANT_UID, MAINT_UID), 0);
	close(fd);
	tfile(root, "data/00/sealed2", true);

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(protect_tree(rootfd, TENANT_UID, MAINT_UID, &n), 0);
	assert_int_equal(n, 7);		/* all but data, done above */
	n = 99;
	assert_int_equal(protect_tree(rootfd, TENANT_UID, MAINT_UID, &n), 0);
	assert_int_equal(n, 0);
	close(rootfd);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct stat st;

		assert_int_equal(stat(pj(p, root, dirs[i]), &st), 0);
		assert_dir_state(root, dirs[i], 0, TENANT_GID, (st.st_mode & 02000) | 01770, both);
	}
	/* restic makes its directories 0700: the group stays without access. */
	assert_dir_state(root, "locks", 0, TENANT_GID, 01770, "u::rwx,u:61234:rwx,u:61236:rwx,g::---,m::rwx,o::---");
	assert_dir_state(root, ".sealvault", TENANT_UID, TENANT_GID, 0700, "u::rwx,g::---,o::---");
	assert_dir_state(out, "", TENANT_UID, TENANT_GID, 0750, "u::rwx,g::r-x,o::---");
	{
		acl_t acl = acl_get_file(pj(p, root, "data/00/sealed"), ACL_TYPE_ACCESS);
		acl_t want = acl_from_text("u::rw-,u:61234:r--,u:61236:r--,g::---,m::r--,o::---");
		struct stat st;

		assert_non_null(acl);
		assert_non_null(want);
		assert_int_equal(acl_cmp(want, acl), 0);
		acl_free(acl);
		acl_free(want);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, 0);
	}

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g = MAINT_GID;

		if (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 ||
		    setresuid(MAINT_UID, MAINT_UID, MAINT_UID) < 0)
			_exit(2);
		_exit(maint_checks(root));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protect_parents_tenant),
		cmocka_unit_test(test_protect_dir_acl_only),
		cmocka_unit_test(test_protect_dir_not_dir),
		cmocka_unit_test(test_protect_parents_no_escape),
		cmocka_unit_test(test_protect_with_vaultd_caps),
		cmocka_unit_test(test_protect_tree_maintenance),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_protect: needs root (loop mount, chown, immutable flag)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
