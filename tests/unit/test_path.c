/* SPDX-License-Identifier: MIT */
/* Lexical normalisation, reserved names, and resolution that cannot leave the root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "path.h"

static void
normalize_cases(void **state)
{
	static const char *const cases[][2] = {
		{ "", "/" }, { ".", "/" }, { "/", "/" }, { "..", "/" }, { "/../../..", "/" },
		{ "a", "/a" }, { "a/", "/a" }, { "//a//b//", "/a/b" }, { "a/./b", "/a/b" },
		{ "a/../b", "/b" }, { "a/b/../../..", "/" }, { "../etc/passwd", "/etc/passwd" },
		{ "a/..b/.c", "/a/..b/.c" }, { "./...", "/..." },
	};
	char out[VAULT_PATH_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(path_normalize(cases[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
}

static void
normalize_too_long(void **state)
{
	char out[8];

	assert_int_equal(path_normalize("abcdefghij", out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(path_normalize("abc/../defg", out, sizeof(out)), 0);
	assert_string_equal(out, "/defg");
}

/* path_is_clean: what a peer may send as a vault path, checked, never fixed. */
static void
clean_paths(void **state)
{
	char long_name[NAME_MAX + 3];

	assert_true(path_is_clean("/a"));
	assert_true(path_is_clean("/a/b.c/..d"));
	assert_false(path_is_clean("/"));
	assert_false(path_is_clean("a/b"));
	assert_false(path_is_clean("//a"));
	assert_false(path_is_clean("/a/"));
	assert_false(path_is_clean("/a/./b"));
	assert_false(path_is_clean("/a/../b"));
	assert_false(path_is_clean("/.."));
	long_name[0] = '/';
	memset(long_name + 1, 'x', NAME_MAX + 1);
	long_name[NAME_MAX + 2] = '\0';
	assert_false(path_is_clean(long_name));
	long_name[NAME_MAX + 1] = '\0';
	assert_true(path_is_clean(long_name));
	(void)state;
}

static void
reserved_names(void **state)
{
	assert_true(path_is_reserved("/.sealvault.part.0011"));
	assert_true(path_is_reserved("/a/.sealvault/b"));
	assert_true(path_is_reserved("/a/.sealvaultx"));
	assert_false(path_is_reserved("/a/x.sealvault"));
	assert_false(path_is_reserved("/sealvault"));
	assert_false(path_is_reserved("/"));
}

static char root[] = "/tmp/sealvault-test-path-XXXXXX";

static int
setup(void **state)
{
	char p[256];
	int fd;

	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/inside", root);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "in", 2) != 2)
		return -1;
	close(fd);
	snprintf(p, sizeof(p), "%s/abs", root);
	if (symlink("/etc/passwd", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/up", root);
	if (symlink("../../../../../../../etc/passwd", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/magic", root);
	if (symlink("/proc/self/root/etc/passwd", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/etc", root);
	if (mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "vault", 5) != 5)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Reads the file a vault path resolves to: escapes land on root/etc/passwd ("vault"). */
static void
expect_content(int root_fd, const char *vpath, const char *want)
{
	char got[16] = "";
	int fd = path_open(root_fd, vpath, O_RDONLY, 0);

	assert_true(fd >= 0);
	assert_true(read(fd, got, sizeof(got) - 1) >= 0);
	close(fd);
	assert_string_equal(got, want);
}

static void
open_stays_in_root(void **state)
{
	int root_fd = open(root, O_RDONLY | O_DIRECTORY);

	assert_true(root_fd >= 0);
	expect_content(root_fd, "/inside", "in");
	expect_content(root_fd, "/etc/passwd", "vault");
	/* No symlink is followed at all, whether it would stay inside or not. */
	assert_int_equal(path_open(root_fd, "/abs", O_RDONLY, 0), -ELOOP);
	assert_int_equal(path_open(root_fd, "/up", O_RDONLY, 0), -ELOOP);
	assert_int_equal(path_open(root_fd, "/magic", O_RDONLY, 0), -ELOOP);
	assert_int_equal(path_open(root_fd, "/abs/x", O_RDONLY, 0), -ELOOP);
	close(root_fd);
}

static void
parent_of_root_is_refused(void **state)
{
	int root_fd = open(root, O_RDONLY | O_DIRECTORY);
	const char *name = "x";
	int fd;

	assert_int_equal(path_open_parent(root_fd, "/", &name), -EINVAL);
	assert_null(name);
	fd = path_open_parent(root_fd, "/etc/passwd", &name);
	assert_true(fd >= 0);
	assert_string_equal(name, "passwd");
	assert_int_equal(faccessat(fd, name, F_OK, 0), 0);
	close(fd);
	close(root_fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalize_cases),
		cmocka_unit_test(normalize_too_long),
		cmocka_unit_test(reserved_names),
		cmocka_unit_test(clean_paths),
		cmocka_unit_test(open_stays_in_root),
		cmocka_unit_test(parent_of_root_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
