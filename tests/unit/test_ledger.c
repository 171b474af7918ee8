/* SPDX-License-Identifier: MIT */
/*
 * vaultd's ledger (vaultd/ledger.h), in-process: the line format and its
 * escaping; a sealed file hashed into <state-dir>/ledger/TENANT.ledger; a
 * file that is not immutable, or whose flag is cleared and set again while
 * it is hashed in slices, is not recorded; a big file takes several slices
 * with one file open between them; the queue's bound; a tenant gone after
 * a reload; a cut-short last line. Needs root (CAP_LINUX_IMMUTABLE) and a
 * filesystem with the immutable flag in /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "ledger.h"

static char top[64], root[128], state[128], ledger_file[256];
static struct policy *pol;
static struct tenant_table tab;
static struct audit *audit;

static int
set_immutable(const char *path, bool on)
{
	unsigned flags = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~(unsigned)FS_IMMUTABLE_FL;
		r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return r;
}

/* A file of n bytes (a repeating pattern) at vpath in the root, sealed if asked. */
static void
make_file(const char *vpath, size_t n, bool sealed)
{
	char p[512], *buf = malloc(n ? n : 1);
	int fd;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 23);
	snprintf(p, sizeof(p), "%s%s", root, vpath);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	free(buf);
	if (sealed)
		assert_int_equal(set_immutable(p, true), 0);
}

static void
sha256_hex(const char *vpath, char hex[65])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char p[512];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s%s", root, vpath);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	close(fd);
	assert_true(EVP_DigestFinal_ex(ctx, md, &len));
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The ledger's lines, parsed; returns how many (the last parsed into *last). Unparsable lines fail. */
static size_t
read_lines(struct ledger_entry *last, size_t *bad)
{
	FILE *f = fopen(ledger_file, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;

	*bad = 0;
	if (f == NULL)
		return 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		assert_int_equal(line[len - 1], '\n');
		line[len - 1] = '\0';
		if (ledger_parse(line, last) < 0)
			(*bad)++;
		else
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

static void
run_until_idle(struct ledger *l, unsigned *steps)
{
	unsigned n = 0;

	while (ledger_step(l, &tab, LEDGER_BUDGET))
		assert_true(++n < 1000);
	*steps = n + 1;
}

static int
setup(void **state_)
{
	char conf[1024];
	struct policy_error perr;
	struct audit_config acfg = { .journal_socket = "/nonexistent/journal.sock" };
	struct passwd *pw = getpwuid(getuid());

	(void)state_;
	snprintf(top, sizeof(top), "/tmp/sealvault-test-ledger.XXXXXX");
	if (pw == NULL || mkdtemp(top) == NULL)
		return -1;
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(state, sizeof(state), "%s/state", top);
	snprintf(ledger_file, sizeof(ledger_file), "%s/ledger/t1.ledger", state);
	if (mkdir(root, 0755) < 0 || mkdir(state, 0700) < 0)
		return -1;
	snprintf(conf, sizeof(conf),
		 "state-dir %s\nattic %s/attic\ntenant t1 {\n\tuser %s\n\troot %s\n\tprofile generic\n}\n",
		 state, top, pw->pw_name, root);
	if (policy_load_string(conf, "test", &pol, &perr) < 0) {
		fprintf(stderr, "%s:%u: %s\n", perr.file, perr.line, perr.message);
		return -1;
	}
	if (tenants_open(pol, &tab) < 0 || !tab.t[0].ok || audit_open(&acfg, &audit) < 0)
		return -1;
	return 0;
}

static int
unflag(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F)
		set_immutable(p, false);
	return 0;
}

static int
rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(p) : unlink(p);
}

static int
teardown(void **state_)
{
	(void)state_;
	nftw(top, unflag, 16, FTW_PHYS);
	nftw(top, rm_one, 16, FTW_PHYS | FTW_DEPTH);
	tenants_close(&tab);
	policy_free(pol);
	audit_free(audit);
	return 0;
}

static void
test_line_format(void **s)
{
	static const char *const names[] = {
		"/plain/f0001.dat", "/sp ace", "/new\nline", "/100%", "/tab\there", "/caf\xc3\xa9",
		"/\x01\x7f\xff", "/\"q\"\\",
	};
	struct ledger_entry e = { .size = 12, .sealed = 1700000000, .ino = 42 }, back;
	char line[LEDGER_LINE_MAX + 1];

	(void)s;
	memset(e.sha256, 'a', 64);
	e.sha256[64] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n;

		snprintf(e.vpath, sizeof(e.vpath), "%s", names[i]);
		n = ledger_format(&e, line, sizeof(line));
		assert_true(n > 0);
		assert_int_equal(line[n - 1], '\n');
		assert_null(memchr(line, '\n', (size_t)n - 1));	/* one line, whatever the name */
		line[n - 1] = '\0';
		for (int j = 0; j < n - 1; j++)
			assert_true((unsigned char)line[j] >= 0x20 && (unsigned char)line[j] < 0x7f);
		assert_int_equal(ledger_parse(line, &back), 0);
		assert_string_equal(back.vpath, names[i]);
		assert_string_equal(back.sha256, e.sha256);
		assert_int_equal(back.size, 12);
		assert_int_equal(back.sealed, 1700000000);
		assert_int_equal(back.ino, 42);
	}
	snprintf(e.vpath, sizeof(e.vpath), "/sp ace");
	ledger_format(&e, line, sizeof(line));
	assert_non_null(strstr(line, " /sp%20ace\n"));

	/* Not lines vaultd writes. */
	static const char *const bad[] = {
		"",
		"v1",
		"v2 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /x",
		"v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1 2 3 /x",
		"v1 aaaa 1 2 3 /x",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 x",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /x y",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1  2 3 /x",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -1 2 3 /x",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3x /x",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /%zz",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /%00",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /%2",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /a\tb",
		"v1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 2 3 /x ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ledger_parse(bad[i], &back) != -EINVAL)
			fail_msg("parsed: %s", bad[i]);
	}
}

static void
test_sealed_file_recorded(void **s)
{
	struct ledger_entry last;
	struct ledger_stats st;
	struct ledger *l = NULL;
	struct stat fst, dst;
	char hex[65], p[512];
	unsigned steps;
	size_t bad;

	(void)s;
	make_file("/one.dat", 3000, true);
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_false(ledger_busy(l));
	assert_int_equal(ledger_add(l, &tab.t[0], "/one.dat"), 0);
	ledger_stats(l, &st);
	assert_int_equal(st.queued, 1);
	run_until_idle(l, &steps);
	ledger_stats(l, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.hashed, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(read_lines(&last, &bad), 1);
	assert_int_equal(bad, 0);
	sha256_hex("/one.dat", hex);
	assert_string_equal(last.sha256, hex);
	assert_string_equal(last.vpath, "/one.dat");
	assert_int_equal(last.size, 3000);
	snprintf(p, sizeof(p), "%s/one.dat", root);
	assert_int_equal(stat(p, &fst), 0);
	assert_int_equal(last.ino, fst.st_ino);
	/* No seal-time xattr here (seal.c sets it): the time it was queued. */
	assert_true(last.sealed > 1700000000);
	assert_int_equal(stat(ledger_file, &fst), 0);
	assert_int_equal(fst.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s/ledger", state);
	assert_int_equal(stat(p, &dst), 0);
	assert_int_equal(dst.st_mode & 07777, 0700);
	ledger_free(l);
}

static void
test_not_immutable_skipped(void **s)
{
	struct ledger_entry last;
	struct ledger_stats st;
	struct ledger *l = NULL;
	size_t before, bad;
	unsigned steps;

	(void)s;
	before = read_lines(&last, &bad);
	make_file("/open.dat", 100, false);
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/open.dat"), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/gone.dat"), 0);
	run_until_idle(l, &steps);
	ledger_stats(l, &st);
	assert_int_equal(st.hashed, 0);
	assert_int_equal(st.failed, 2);
	assert_int_equal(read_lines(&last, &bad), before);
	ledger_free(l);
}

static void
test_big_file_in_slices(void **s)
{
	const size_t size = 3 * 1024 * 1024 + 5;
	struct ledger_entry last;
	struct ledger_stats st;
	struct ledger *l = NULL;
	char hex[65], p[512];
	unsigned steps;
	size_t bad;

	(void)s;
	make_file("/big.dat", size, true);
	make_file("/after.dat", 10, true);
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/big.dat"), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/after.dat"), 0);
	/* One slice reads at most the budget: the big file is still open, the other waits. */
	assert_true(ledger_step(l, &tab, LEDGER_BUDGET));
	ledger_stats(l, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.hashed, 0);
	run_until_idle(l, &steps);
	assert_true(steps >= 3);
	ledger_stats(l, &st);
	assert_int_equal(st.hashed, 2);
	read_lines(&last, &bad);
	assert_string_equal(last.vpath, "/after.dat");
	ledger_free(l);

	/* The big file again, its flag cleared and set between two slices: not recorded. */
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/big.dat"), 0);
	assert_true(ledger_step(l, &tab, LEDGER_BUDGET));
	snprintf(p, sizeof(p), "%s/big.dat", root);
	assert_int_equal(set_immutable(p, false), 0);
	assert_int_equal(set_immutable(p, true), 0);
	run_until_idle(l, &steps);
	ledger_stats(l, &st);
	assert_int_equal(st.hashed, 0);
	assert_int_equal(st.failed, 1);
	read_lines(&last, &bad);
	assert_string_equal(last.vpath, "/after.dat");
	ledger_free(l);

	/* Hashed whole, once more: the digest of all of it. */
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/big.dat"), 0);
	run_until_idle(l, &steps);
	read_lines(&last, &bad);
	sha256_hex("/big.dat", hex);
	assert_string_equal(last.vpath, "/big.dat");
	assert_string_equal(last.sha256, hex);
	assert_int_equal(last.size, size);
	ledger_free(l);
}

static void
test_queue_bound(void **s)
{
	struct ledger_stats st;
	struct ledger *l = NULL;

	(void)s;
	assert_int_equal(ledger_new(state, audit, &l), 0);
	for (unsigned i = 0; i < LEDGER_QUEUE_MAX; i++)
		assert_int_equal(ledger_add(l, &tab.t[0], "/q.dat"), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/q.dat"), -ENOBUFS);
	assert_int_equal(ledger_add(l, &tab.t[0], "/q.dat"), -ENOBUFS);
	assert_int_equal(ledger_add(l, &tab.t[0], "relative"), -ENOBUFS);
	ledger_stats(l, &st);
	assert_int_equal(st.queued, LEDGER_QUEUE_MAX);
	assert_int_equal(st.dropped, 3);
	ledger_free(l);
}

static void
test_tenant_gone_and_cut_line(void **s)
{
	struct tenant_table empty = { .t = NULL, .n = 0 };
	struct ledger_entry last;
	struct ledger_stats st;
	struct ledger *l = NULL;
	size_t n, bad;
	unsigned steps;
	int fd;

	(void)s;
	make_file("/later.dat", 20, true);
	assert_int_equal(ledger_new(state, audit, &l), 0);
	assert_int_equal(ledger_add(l, &tab.t[0], "/later.dat"), 0);
	/* A reload without the tenant: the queued file is not recorded. */
	while (ledger_step(l, &empty, LEDGER_BUDGET))
		;
	ledger_stats(l, &st);
	assert_int_equal(st.failed, 1);

	/* A line cut short (a crash, a full disk): the next line starts on a line of its own. */
	n = read_lines(&last, &bad);
	fd = open(ledger_file, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "v1 abc", 6), 6);
	close(fd);
	assert_int_equal(ledger_add(l, &tab.t[0], "/later.dat"), 0);
	run_until_idle(l, &steps);
	assert_int_equal(read_lines(&last, &bad), n + 1);
	assert_int_equal(bad, 1);
	assert_string_equal(last.vpath, "/later.dat");
	ledger_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_sealed_file_recorded),
		cmocka_unit_test(test_not_immutable_skipped),
		cmocka_unit_test(test_big_file_in_slices),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_tenant_gone_and_cut_line),
	};

	if (geteuid() != 0) {
		printf("SKIP: test_ledger needs root (the immutable flag)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
