/* SPDX-License-Identifier: MIT */
/*
 * Nothing escapes the root: "..", absolute paths, symlinks planted in the
 * root (absolute, relative, escaping, to /proc magic links), reserved
 * ".sealvault" names, NUL bytes, over-long paths, and control characters in
 * names (which must not forge log lines).
 *
 * Every case also checks the outside: base/outside/secret keeps its bytes
 * and no entry appears next to it.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)
#define SECRET	"TOP SECRET outside the root\n"

static void
assert_outside_untouched(struct h_ctx *c)
{
	char p[PATH_MAX + 32];
	FILE *f;
	char buf[128];

	snprintf(p, sizeof(p), "%s/secret", c->outside);
	f = fopen(p, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, strlen(SECRET));
	assert_memory_equal(buf, SECRET, n);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* Only "secret" in outside/, only "root" and "outside" in base/. */
	char cmd[PATH_MAX * 2 + 64];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1 && test $(ls -A '%s' | wc -l) -eq 2",
		 c->outside, c->base);
	if (system(cmd) != 0)
		fail_msg("something appeared outside the root (in %s or %s)", c->outside, c->base);
}

/* Never data from outside: the reply must not be a handle or attrs of the secret. */
static void
assert_no_secret_read(struct h_ctx *c, const char *path)
{
	struct h_server *s = c->s;
	struct h_attrs a;
	struct h_handle h;
	int st = h_stat(s, path, &a);

	if (st == SSH_FX_OK && a.size == strlen(SECRET))
		fail_msg("STAT \"%s\" returned the attributes of the secret outside", path);
	st = h_open(s, path, SSH_FXF_READ, NULL, &h);
	if (st == SSH_FX_OK) {
		struct h_reply r;
		int rs = h_read(s, &h, 0, 4096, &r);
		if (rs == SSH_FX_OK && r.data_len && memmem(r.data, r.data_len, "TOP SECRET", 10))
			fail_msg("READ through \"%s\" returned the secret outside the root", path);
		h_close(s, &h);
	}
}

static void
expect_noent(struct h_server *s, const char *path)
{
	struct h_handle h;
	int st = h_stat(s, path, NULL);

	if (st != SSH_FX_NO_SUCH_FILE)
		fail_msg("STAT \"%s\": %s (%s), expected NO_SUCH_FILE", path, h_status_name(st),
			 s->last_msg);
	st = h_open(s, path, SSH_FXF_READ, NULL, &h);
	if (st != SSH_FX_NO_SUCH_FILE)
		fail_msg("OPEN READ \"%s\": %s (%s), expected NO_SUCH_FILE", path,
			 h_status_name(st), s->last_msg);
}

static void
dotdot_stays_in_root(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	char p[PATH_MAX + 64];
	struct h_handle h;
	struct h_reply r;

	h_disk_put_str(c, "etc/passwd", "the root's own etc/passwd\n");
	expect_noent(s, "../outside/secret");
	expect_noent(s, "/../outside/secret");
	expect_noent(s, "../../../../../../../../outside/secret");
	snprintf(p, sizeof(p), "%s/secret", c->outside);
	expect_noent(s, p);
	snprintf(p, sizeof(p), "/../../../../..%s/secret", c->outside);
	expect_noent(s, p);
	assert_no_secret_read(c, "../outside/secret");

	/* "/../../etc/passwd" is the root's etc/passwd, not the host's. */
	h_assert_status(s, h_open(s, "/../../etc/passwd", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_read(s, &h, 0, 4096, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 26);
	assert_memory_equal(r.data, "the root's own etc/passwd\n", 26);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);

	/* Creating through "..": lands inside. */
	h_assert_status(s, h_put(s, "../escaped", WCT, "in", 2), SSH_FX_OK);
	assert_true(h_disk_exists(c, "escaped"));
	h_assert_status(s, h_mkdir(s, "../../mk", NULL), SSH_FX_OK);
	assert_true(h_disk_exists(c, "mk"));
	h_assert_status(s, h_open(s, "../outside/new", WCT, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_mkdir(s, "../outside/newdir", NULL), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_remove(s, "../outside/secret"), SSH_FX_NO_SUCH_FILE);
	struct h_attrs zero = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0 };
	int st = h_setstat(s, "../outside/secret", &zero);
	if (st != SSH_FX_NO_SUCH_FILE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("SETSTAT ../outside/secret: %s", h_status_name(st));

	char **names;
	size_t n;
	h_assert_status(s, h_listdir(s, "..", &names, &n), SSH_FX_OK);
	assert_true(h_names_contain(names, n, "etc"));
	assert_true(h_names_contain(names, n, "escaped"));
	assert_false(h_names_contain(names, n, "outside"));
	assert_false(h_names_contain(names, n, "root"));
	assert_outside_untouched(c);
}

static void
symlink_absolute_escape(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	char target[PATH_MAX + 32];
	struct h_handle h;

	h_disk_symlink(c, c->outside, "esc_abs");
	snprintf(target, sizeof(target), "%s/secret", c->outside);
	h_disk_symlink(c, target, "file_abs");
	h_disk_symlink(c, "/etc", "etc_link");
	h_disk_symlink(c, "/etc/passwd", "passwd_link");

	expect_noent(s, "esc_abs/secret");
	expect_noent(s, "file_abs");
	expect_noent(s, "etc_link/passwd");
	expect_noent(s, "passwd_link");
	assert_no_secret_read(c, "esc_abs/secret");
	assert_no_secret_read(c, "file_abs");
	h_assert_status(s, h_opendir(s, "esc_abs", &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_opendir(s, "etc_link", &h), SSH_FX_NO_SUCH_FILE);

	h_assert_status(s, h_open(s, "esc_abs/new", WCT, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_mkdir(s, "esc_abs/newdir", NULL), SSH_FX_NO_SUCH_FILE);

	/* Writing "through" the link as the last component: never reaches the target. */
	int st = h_open(s, "file_abs", WCT, NULL, &h);
	if (st == SSH_FX_OK) {
		h_write(s, &h, 0, "PWNED", 5);
		h_close(s, &h);
	}
	st = h_open(s, "file_abs", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h);
	if (st == SSH_FX_OK) {
		h_write(s, &h, 0, "PWNED", 5);
		h_close(s, &h);
	}
	struct h_attrs zero = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0 };
	h_setstat(s, "file_abs", &zero);
	h_setstat(s, "esc_abs/secret", &zero);
	h_remove(s, "esc_abs/secret");
	struct stat lst;
	assert_int_equal(h_disk_lstat(c, "file_abs", &lst), 0);
	assert_true(S_ISLNK(lst.st_mode));
	assert_outside_untouched(c);
}

static void
symlink_relative_escape(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	char p[PATH_MAX + 64];
	struct h_handle h;

	h_disk_symlink(c, "../outside", "esc_rel");
	h_disk_symlink(c, "../..", "esc_dd");
	h_disk_symlink(c, "../../../../../../../../../..", "deep/er/esc");
	h_disk_symlink(c, "../outside/secret", "file_rel");

	expect_noent(s, "esc_rel/secret");
	expect_noent(s, "esc_dd/outside/secret");
	expect_noent(s, "file_rel");
	snprintf(p, sizeof(p), "deep/er/esc%s/secret", c->outside);
	expect_noent(s, p);
	snprintf(p, sizeof(p), "deep/er/esc/../outside/secret");
	expect_noent(s, p);
	assert_no_secret_read(c, "esc_rel/secret");
	assert_no_secret_read(c, "file_rel");
	h_assert_status(s, h_open(s, "esc_rel/new", WCT, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_open(s, "esc_dd/outside/new", WCT, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_mkdir(s, "esc_rel/d", NULL), SSH_FX_NO_SUCH_FILE);
	assert_outside_untouched(c);
}

static void
symlink_loops(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	char *p;

	h_disk_symlink(c, "loop2", "loop1");
	h_disk_symlink(c, "loop1", "loop2");
	h_disk_symlink(c, "self", "self");
	h_disk_symlink(c, "/deep/../self2/x", "self2");
	static const char *const paths[] = { "loop1", "loop2/x", "self", "self2", "self/../x" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_not_equal(h_stat(s, paths[i], NULL), SSH_FX_OK);
		assert_int_not_equal(h_open(s, paths[i], SSH_FXF_READ, NULL, &h), SSH_FX_OK);
		assert_int_not_equal(h_opendir(s, paths[i], &h), SSH_FX_OK);
	}
	h_assert_status(s, h_lstat(s, "loop1", NULL), SSH_FX_OK);
	h_assert_status(s, h_realpath(s, ".", &p), SSH_FX_OK);
	assert_string_equal(p, "/");
}

/*
 * Per the spec, no symlink is followed, not even one that stays inside the
 * root: the path the policy classifies must be the path that is touched.
 */
static void
symlinks_resolve_inside_root(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_attrs a;
	struct h_handle h;
	struct h_reply r;

	h_disk_put_str(c, "data/x", "inside");
	h_disk_symlink(c, "../..", "up");
	h_disk_symlink(c, "/", "abs");
	h_disk_symlink(c, "data", "rel");
	h_disk_symlink(c, "/data/x", "xlink");
	h_assert_status(s, h_stat(s, "up/data/x", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_stat(s, "abs/data/x", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_stat(s, "rel/x", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_stat(s, "xlink", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_open(s, "abs/abs/up/data/x", SSH_FXF_READ, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_open(s, "rel/new", SSH_FXF_WRITE | SSH_FXF_CREAT, NULL, &h), SSH_FX_NO_SUCH_FILE);
	h_assert_disk_absent(c, "data/new");
	/* The direct path still works. */
	h_assert_status(s, h_open(s, "data/x", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_read(s, &h, 0, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 6);
	assert_memory_equal(r.data, "inside", 6);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

/* A procfs inside the root (a careless admin's bind mount): magic links give ELOOP. */
static void
proc_magic_links(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const char *const paths[] = {
		"/proc/self/root/etc/passwd", "/proc/self/root", "/proc/self/cwd/etc/passwd",
		"/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/3", "/proc/1/root/etc/passwd",
		"/proc/thread-self/root/etc/passwd", "magic/etc/passwd", "magicfd",
	};
	char p[PATH_MAX];
	struct h_handle h;

	/* Without procfs: plain missing paths. */
	expect_noent(s, "/proc/self/fd/3");
	expect_noent(s, "/proc/self/root/etc/passwd");

	/* Our own mount namespace, so that the mount dies with this process. */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		print_message("no mount namespace (%s): procfs cases skipped\n", strerror(errno));
		return;
	}
	h_disk_mkdir(c, "proc", 0555);
	h_path(c, "proc", p);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
		print_message("cannot mount procfs (%s): procfs cases skipped\n", strerror(errno));
		return;
	}
	snprintf(c->proc_mount, sizeof(c->proc_mount), "%s", p);
	h_disk_symlink(c, "/proc/self/root", "magic");
	h_disk_symlink(c, "/proc/self/fd/0", "magicfd");

	/* A fresh server: it must see the mount (same namespace as this process). */
	struct h_server *s2 = h_spawn(c, NULL);
	assert_int_equal(h_init(s2, 3), 0);
	struct h_server *ss[2] = { s, s2 };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			struct h_attrs a;
			int st = h_stat(ss[k], paths[i], &a);
			if (st == SSH_FX_OK)
				fail_msg("STAT \"%s\" through a magic link answered attrs", paths[i]);
			st = h_open(ss[k], paths[i], SSH_FXF_READ, NULL, &h);
			if (st == SSH_FX_OK)
				fail_msg("OPEN READ \"%s\" through a magic link gave a handle", paths[i]);
			st = h_opendir(ss[k], paths[i], &h);
			if (st == SSH_FX_OK)
				fail_msg("OPENDIR \"%s\" through a magic link gave a handle", paths[i]);
		}
		char q[PATH_MAX + 64];
		snprintf(q, sizeof(q), "/proc/self/root%s/new", c->outside);
		int st = h_open(ss[k], q, WCT, NULL, &h);
		if (st == SSH_FX_OK)
			fail_msg("OPEN for writing \"%s\" gave a handle", q);
		snprintf(q, sizeof(q), "/proc/self/root%s/secret", c->outside);
		assert_no_secret_read(c, q);
		st = h_mkdir(ss[k], "/proc/self/root/tmp/sealvault-escape", NULL);
		assert_int_not_equal(st, SSH_FX_OK);
	}
	assert_int_equal(access("/tmp/sealvault-escape", F_OK), -1);
	assert_outside_untouched(c);
}

static void
reserved_names(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	int failures = 0;
	static const char *const reserved[] = {
		"/.sealvault.part.0123456789abcdef", "/.sealvault", "/.sealvaultx",
		"/d/.sealvault.part.0123456789abcdef", "/d/.sealvault.attic/x", "/.sealvault/x",
		"d/.sealvault-ledger",
	};

	h_disk_put_str(c, "d/.sealvault.part.0123456789abcdef", "a partial file");
	h_disk_mkdir(c, "d/.sealvault.attic", 0700);
	h_disk_put_str(c, "d/.sealvault.attic/x", "attic");
	h_disk_put_str(c, ".sealvault.part.0123456789abcdef", "root partial");

#define EXPECT_RESERVED(expr, what, path) do { \
	int st_ = (expr); \
	if (st_ != SSH_FX_PERMISSION_DENIED || !strstr(s->last_msg, "name reserved by the vault")) { \
		print_error("%s \"%s\": %s (%s), expected PERMISSION_DENIED \"name reserved by the vault\"\n", \
			    what, path, h_status_name(st_), s->last_msg); \
		failures++; \
		if (st_ == SSH_FX_OK && (what)[0] == 'O') \
			h_close(s, &h); \
	} } while (0)

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		const char *p = reserved[i];
		struct h_attrs a = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0444 };
		EXPECT_RESERVED(h_open(s, p, WCT, NULL, &h), "OPEN WRITE", p);
		EXPECT_RESERVED(h_open(s, p, SSH_FXF_READ, NULL, &h), "OPEN READ", p);
		EXPECT_RESERVED(h_stat(s, p, NULL), "STAT", p);
		EXPECT_RESERVED(h_lstat(s, p, NULL), "LSTAT", p);
		EXPECT_RESERVED(h_opendir(s, p, &h), "OPENDIR", p);
		EXPECT_RESERVED(h_mkdir(s, p, NULL), "MKDIR", p);
		EXPECT_RESERVED(h_remove(s, p), "REMOVE", p);
		EXPECT_RESERVED(h_rmdir(s, p), "RMDIR", p);
		EXPECT_RESERVED(h_setstat(s, p, &a), "SETSTAT", p);
		EXPECT_RESERVED(h_readlink(s, p, NULL), "READLINK", p);
	}
#undef EXPECT_RESERVED
	if (failures)
		fail_msg("%d requests on reserved names not refused as reserved", failures);
	/* Nothing created, the planted files intact. */
	size_t len;
	uint8_t *got = h_disk_get(c, "d/.sealvault.part.0123456789abcdef", &len);
	assert_non_null(got);
	assert_int_equal(len, 14);
	assert_false(h_disk_exists(c, ".sealvault"));
	assert_false(h_disk_exists(c, ".sealvaultx"));
	assert_false(h_disk_exists(c, "d/.sealvault-ledger"));
	assert_int_equal(h_disk_partials(c, "d", NULL), 1);
	assert_int_equal(h_disk_partials(c, "/", NULL), 1);

	/* Names that merely contain the word are ordinary. */
	static const char *const ordinary[] = { "x.sealvault", "sealvault", ".sealvaul", "a.sealvault.part.1" };
	for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		h_assert_status(s, h_put(s, ordinary[i], WCT, "ok", 2), SSH_FX_OK);
		assert_true(h_disk_exists(c, ordinary[i]));
	}
}

static void
expect_bad_path(struct h_server *s, int st, const char *what)
{
	if (st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE)
		fail_msg("%s: %s (%s), expected BAD_MESSAGE or FAILURE", what, h_status_name(st),
			 s->last_msg);
}

static void
nul_in_path(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_buf b = { 0 };

	h_disk_put_str(c, "sealed", "sealed bytes\n");
	h_disk_mkdir(c, "dir", 0755);
	struct h_snap snap;
	h_snap_take(c, "sealed", &snap);

	expect_bad_path(s, h_stat_n(s, SSH_FXP_STAT, "sealed\0junk", 11, NULL), "STAT sealed\\0junk");
	expect_bad_path(s, h_stat_n(s, SSH_FXP_STAT, "sealed\0", 7, NULL), "STAT sealed\\0");
	expect_bad_path(s, h_stat_n(s, SSH_FXP_LSTAT, "\0", 1, NULL), "LSTAT \\0");
	expect_bad_path(s, h_open_n(s, "new\0x", 5, WCT, NULL, &h), "OPEN new\\0x");
	assert_false(h_disk_exists(c, "new"));
	expect_bad_path(s, h_open_n(s, "sealed\0", 7, WCT, NULL, &h), "OPEN sealed\\0 for writing");
	expect_bad_path(s, h_open_n(s, "sealed\0/../x", 12, SSH_FXF_READ, NULL, &h),
			"OPEN sealed\\0/../x");
	expect_bad_path(s, h_path_req(s, SSH_FXP_REMOVE, "sealed\0", 7, SSH_FXP_STATUS, NULL),
			"REMOVE sealed\\0");
	expect_bad_path(s, h_path_req(s, SSH_FXP_OPENDIR, "dir\0", 4, SSH_FXP_HANDLE, NULL),
			"OPENDIR dir\\0");
	expect_bad_path(s, h_path_req(s, SSH_FXP_RMDIR, "dir\0", 4, SSH_FXP_STATUS, NULL),
			"RMDIR dir\\0");
	expect_bad_path(s, h_path_req(s, SSH_FXP_REALPATH, "a\0b", 3, SSH_FXP_NAME, NULL),
			"REALPATH a\\0b");

	pk_begin_req(s, &b, SSH_FXP_MKDIR);
	pk_str(&b, "dn\0x", 4);
	pk_attrs(&b, NULL);
	pk_end(&b);
	expect_bad_path(s, h_call(s, &b, SSH_FXP_STATUS, NULL), "MKDIR dn\\0x");
	assert_false(h_disk_exists(c, "dn"));

	pk_begin_req(s, &b, SSH_FXP_SETSTAT);
	pk_str(&b, "sealed\0", 7);
	struct h_attrs a = { .flags = SSH_FILEXFER_ATTR_SIZE, .size = 0 };
	pk_attrs(&b, &a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	if (st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("SETSTAT sealed\\0: %s", h_status_name(st));
	hb_free(&b);
	h_assert_unchanged(c, "sealed", &snap, true);
	/* The session goes on. */
	h_assert_status(s, h_stat(s, "sealed", NULL), SSH_FX_OK);
}

static void
path_too_long(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	enum { LONG = 5000 };
	char *p = h_xmalloc(LONG + 1);

	for (int i = 0; i < LONG; i++)
		p[i] = (i % 10 == 9) ? '/' : 'a';
	p[LONG] = '\0';
	expect_bad_path(s, h_stat(s, p, NULL), "STAT of a 5000-byte path");
	expect_bad_path(s, h_open(s, p, WCT, NULL, &h), "OPEN of a 5000-byte path");
	expect_bad_path(s, h_mkdir(s, p, NULL), "MKDIR of a 5000-byte path");
	expect_bad_path(s, h_realpath(s, p, NULL), "REALPATH of a 5000-byte path");

	/* Exactly PATH_MAX bytes: no room for the NUL. */
	char *q = h_xmalloc(PATH_MAX + 1);
	memset(q, 'b', PATH_MAX);
	for (int i = 100; i < PATH_MAX; i += 100)
		q[i] = '/';
	q[PATH_MAX] = '\0';
	expect_bad_path(s, h_open(s, q, WCT, NULL, &h), "OPEN of a PATH_MAX-byte path");

	/* "../" x 2000: normalises to "/", but the request itself is too long. */
	char *d = h_xmalloc(6001);
	for (int i = 0; i < 2000; i++)
		memcpy(d + 3 * i, "../", 3);
	d[6000] = '\0';
	expect_bad_path(s, h_stat(s, d, NULL), "STAT ../ x 2000");

	/* One component over NAME_MAX: refused somehow, never a crash. */
	char comp[400];
	memset(comp, 'n', sizeof(comp) - 1);
	comp[sizeof(comp) - 1] = '\0';
	int st = h_open(s, comp, WCT, NULL, &h);
	assert_int_not_equal(st, SSH_FX_OK);

	char **names;
	size_t n;
	h_assert_status(s, h_listdir(s, "/", &names, &n), SSH_FX_OK);
	assert_int_equal(n, 2);
	assert_int_equal(h_disk_partials(c, "/", NULL), 0);
}

/* Names with control characters: refused requests are logged with them escaped. */
static void
control_chars_escaped_in_log(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const char forged[] = "evil\nrefused remove \"forged\": sealed";
	static const char esc[] = "esc\x1b[31mred";
	static const char mixed[] = "tab\there\rcr\x01";

	h_disk_put_str(c, forged, "x");
	h_disk_put_str(c, esc, "x");
	h_disk_put_str(c, mixed, "x");
	h_assert_status(s, h_remove(s, "/evil\nrefused remove \"forged\": sealed"),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_remove(s, "/esc\x1b[31mred"), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_remove(s, "/tab\there\rcr\x01"), SSH_FX_PERMISSION_DENIED);
	/* An upload through such a name works, and is then sealed like any other. */
	h_assert_status(s, h_put(s, "/up\nload", WCT, "u", 1), SSH_FX_OK);
	h_assert_status(s, h_remove(s, "/up\nload"), SSH_FX_PERMISSION_DENIED);
	h_finish(s);
	h_assert_exit_ok(s);

	if (h_log_count(s, "forged", NULL) != 1) {
		h_log_dump(s);
		fail_msg("the newline in a name split or forged a log line");
	}
	if (h_log_count(s, "refused ", "\"/evil\\nrefused remove ") != 1) {
		h_log_dump(s);
		fail_msg("no refusal line with the newline escaped as \\n");
	}
	if (h_log_refusals(s, "/esc\\x1b[31mred") != 1) {
		h_log_dump(s);
		fail_msg("no refusal line with ESC escaped as \\x1b");
	}
	if (h_log_count(s, "refused ", "/tab") != 1 || h_log_count(s, "refused ", "/up\\nload") != 1) {
		h_log_dump(s);
		fail_msg("refusal lines for /tab... or /up\\nload missing");
	}
	for (size_t i = 0; i < s->err.len; i++) {
		uint8_t ch = s->err.p[i];
		if ((ch < 0x20 && ch != '\n') || ch == 0x7f) {
			h_log_dump(s);
			fail_msg("raw control byte 0x%02x at offset %zu of the log", ch, i);
		}
	}
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST(dotdot_stays_in_root),
		H_TEST(symlink_absolute_escape),
		H_TEST(symlink_relative_escape),
		H_TEST(symlinks_resolve_inside_root),
		H_TEST(symlink_loops),
		H_TEST(reserved_names),
		H_TEST(nul_in_path),
		H_TEST(path_too_long),
		H_TEST(control_chars_escaped_in_log),
		/* Last: it moves this process into its own mount namespace. */
		H_TEST(proc_magic_links),
	};
	return cmocka_run_group_tests_name("protocol_paths", tests, NULL, NULL);
}
