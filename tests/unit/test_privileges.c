/* SPDX-License-Identifier: MIT */
/*
 * privileges_drop(): every case forks a child that drops (or fails to
 * drop) and checks the result through /proc/self/status, the kernel's own
 * account, and through operations that need a capability. The parent
 * judges by exit status. Needs root: without it the whole test exits 77.
 *
 * Child exit codes: 0 all checks passed, 1 a check failed (message on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/securebits.h>

#include <cmocka.h>

#include "privileges.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		dprintf(STDERR_FILENO, "%s:%d: in child: %s (errno %d)\n", \
		    __FILE__, __LINE__, #cond, errno);			\
		return 1;						\
	}								\
} while (0)

#define NOBODY	65534

/* The list of vaultd/README.md ("Privileges"), written out again so a change to vaultd_caps shows. */
static const cap_value_t spec_caps[] = {
	CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH,
	CAP_FOWNER, CAP_CHOWN, CAP_AUDIT_WRITE,
};
#define SPEC_N	(sizeof(spec_caps) / sizeof(spec_caps[0]))

#define WANT_SECBITS	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |			\
			 SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED)

static uint64_t
mask_of(const cap_value_t *caps, size_t n)
{
	uint64_t m = 0;

	for (size_t i = 0; i < n; i++)
		m |= UINT64_C(1) << caps[i];
	return m;
}

/* "Name:\tVALUE" of a /proc/PID/status text, hex (caps) or decimal (NoNewPrivs). */
static int
field_in(const char *text, const char *name, int base, uint64_t *v)
{
	size_t len = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, len) == 0 && p[len] == ':') {
			char *end;

			errno = 0;
			*v = strtoull(p + len + 1, &end, base);
			return errno == 0 && end != p + len + 1 ? 0 : -EINVAL;
		}
	}
	return -ENOENT;
}

static int
read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got + 1 < len && (r = read(fd, buf + got, len - 1 - got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	return 0;
}

struct status {
	uint64_t inh, prm, eff, bnd, amb, nnp;
};

static int
parse_status(const char *text, struct status *s)
{
	if (field_in(text, "CapInh", 16, &s->inh) < 0 || field_in(text, "CapPrm", 16, &s->prm) < 0 ||
	    field_in(text, "CapEff", 16, &s->eff) < 0 || field_in(text, "CapBnd", 16, &s->bnd) < 0 ||
	    field_in(text, "CapAmb", 16, &s->amb) < 0 || field_in(text, "NoNewPrivs", 10, &s->nnp) < 0)
		return -EINVAL;
	return 0;
}

static int
self_status(struct status *s)
{
	char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = read_all(fd, buf, sizeof(buf));
	close(fd);
	return r < 0 ? r : parse_status(buf, s);
}

/* The status of a program this process execs (/bin/cat /proc/self/status). */
static int
exec_status(struct status *s)
{
	char buf[8192];
	int p[2], st, r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	r = read_all(p[0], buf, sizeof(buf));
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -ECHILD;
	return parse_status(buf, s);
}

/*
 * A process of another uid, to signal: it takes NOBODY's uid, says so on
 * the socket and waits for EOF there. It exits when the test closes *fd.
 */
static pid_t
spawn_other_uid(int *fd)
{
	int sp[2];
	char c;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(sp[0]);
		if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(1);
		if (write(sp[1], "r", 1) != 1)
			_exit(1);
		while (read(sp[1], &c, 1) > 0)
			;
		_exit(0);
	}
	close(sp[1]);
	if (read(sp[0], &c, 1) != 1) {
		close(sp[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	*fd = sp[0];
	return pid;
}

typedef int (*child_fn)(void);

static void
run_child(child_fn fn)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		exit(fn());
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child failed (status %#x)", status);
}

static int
bind_low_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(1) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	if (s < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(s);
	return r < 0 ? -e : 0;
}

static unsigned
unprivileged_port_start(void)
{
	unsigned v = 1024;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");

	if (f != NULL) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

/* ------------------------------------------------------------ the drop */

static int
child_drop_vaultd_caps(void)
{
	const uint64_t want = mask_of(spec_caps, SPEC_N);
	char dir[] = "/tmp/test_privileges.XXXXXX", path[64], err[256] = "";
	struct status s;
	int other_fd = -1, fd, bits, r;
	pid_t other;

	CHECK(vaultd_n_caps == SPEC_N);
	CHECK(mask_of(vaultd_caps, vaultd_n_caps) == want);

	/* Before: what the later checks expect to fail does work, or they prove nothing. */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/f", dir);
	other = spawn_other_uid(&other_fd);
	CHECK(other > 0);
	CHECK(kill(other, 0) == 0);
	/* Something inheritable and ambient, that the drop must clear. */
	{
		cap_t c = cap_get_proc();
		const cap_value_t inh[] = { CAP_KILL, CAP_CHOWN };

		CHECK(c != NULL);
		CHECK(cap_set_flag(c, CAP_INHERITABLE, 2, inh, CAP_SET) == 0);
		CHECK(cap_set_proc(c) == 0);
		cap_free(c);
		CHECK(cap_set_ambient(CAP_KILL, CAP_SET) == 0);
		CHECK(self_status(&s) == 0);
		CHECK(s.inh != 0 && s.amb != 0);
	}

	r = privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err));
	if (r != 0)
		dprintf(STDERR_FILENO, "privileges_drop: %d %s\n", r, err);
	CHECK(r == 0);
	CHECK(err[0] == '\0');

	CHECK(self_status(&s) == 0);
	if (s.prm != want || s.eff != want || s.bnd != want)
		dprintf(STDERR_FILENO, "want %016" PRIx64 ": prm %016" PRIx64 " eff %016" PRIx64
			" bnd %016" PRIx64 "\n", want, s.prm, s.eff, s.bnd);
	CHECK(s.inh == 0);
	CHECK(s.prm == want);
	CHECK(s.eff == want);
	CHECK(s.bnd == want);
	CHECK(s.amb == 0);
	CHECK(s.nnp == 1);
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	CHECK(bits >= 0 && (bits & WANT_SECBITS) == WANT_SECBITS);
	CHECK(getuid() == 0 && geteuid() == 0);	/* vaultd keeps uid 0 */

	/* Locked securebits cannot be undone. */
	CHECK(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) == -1 && errno == EPERM);

	/* Kept: CAP_CHOWN gives a file away; CAP_DAC_READ_SEARCH still reads it. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(fchown(fd, NOBODY, NOBODY) == 0);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	close(fd);
	CHECK(privileges_have(CAP_LINUX_IMMUTABLE) && privileges_have(CAP_SYS_ADMIN));

	/* Dropped: CAP_DAC_OVERRIDE (write nobody's 0600 file), CAP_KILL, CAP_SETUID, CAP_NET_BIND_SERVICE. */
	CHECK(open(path, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
	CHECK(kill(other, 0) == -1 && errno == EPERM);
	CHECK(setresuid(NOBODY, NOBODY, NOBODY) == -1 && errno == EPERM);
	if (unprivileged_port_start() > 1)
		CHECK(bind_low_port() == -EACCES);
	CHECK(!privileges_have(CAP_SETPCAP) && !privileges_have(CAP_KILL));
	/* And nothing comes back: not by raising, not as uid 0 through execve. */
	{
		cap_t c = cap_get_proc();
		const cap_value_t kill_cap = CAP_KILL;

		CHECK(c != NULL);
		CHECK(cap_set_flag(c, CAP_PERMITTED, 1, &kill_cap, CAP_SET) == 0);
		CHECK(cap_set_flag(c, CAP_EFFECTIVE, 1, &kill_cap, CAP_SET) == 0);
		CHECK(cap_set_proc(c) == -1 && errno == EPERM);
		cap_free(c);
	}
	CHECK(exec_status(&s) == 0);
	CHECK(s.prm == 0 && s.eff == 0 && s.inh == 0 && s.amb == 0);
	CHECK(s.bnd == want);
	CHECK(s.nnp == 1);

	close(other_fd);
	waitpid(other, NULL, 0);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
test_drop_vaultd_caps(void **state)
{
	run_child(child_drop_vaultd_caps);
}

/* ------------------------------------------------------------ refusals */

static int
child_missing_cap(void)
{
	struct status before, after;
	char err[256] = "";
	cap_t c = cap_get_proc();
	const cap_value_t sys_admin = CAP_SYS_ADMIN;
	int bits;

	/* Give up CAP_SYS_ADMIN, keep CAP_SETPCAP: a drop list asking for it cannot be met. */
	CHECK(c != NULL);
	CHECK(cap_set_flag(c, CAP_EFFECTIVE, 1, &sys_admin, CAP_CLEAR) == 0);
	CHECK(cap_set_flag(c, CAP_PERMITTED, 1, &sys_admin, CAP_CLEAR) == 0);
	CHECK(cap_set_proc(c) == 0);
	cap_free(c);
	CHECK(self_status(&before) == 0);
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);

	CHECK(privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err)) == -EPERM);
	dprintf(STDERR_FILENO, "message: %s\n", err);
	CHECK(strstr(err, "cap_sys_admin") != NULL);
	CHECK(strstr(err, "not in the permitted set") != NULL);

	/* Cleanly: nothing was changed. */
	CHECK(self_status(&after) == 0);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	CHECK(after.nnp == 0);
	CHECK(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) == bits);
	return 0;
}

static void
test_missing_cap_fails_cleanly(void **state)
{
	run_child(child_missing_cap);
}

static int
child_not_in_bounding(void)
{
	struct status before, after;
	char err[256] = "";

	CHECK(cap_drop_bound(CAP_AUDIT_WRITE) == 0);
	CHECK(self_status(&before) == 0);
	CHECK(privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "cap_audit_write") != NULL);
	CHECK(strstr(err, "bounding set") != NULL);
	CHECK(self_status(&after) == 0);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	return 0;
}

static void
test_not_in_bounding_set_fails(void **state)
{
	run_child(child_not_in_bounding);
}

static int
child_without_root(void)
{
	struct status s;
	char err[256] = "";

	CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0);
	CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0);
	CHECK(privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "cap_setpcap") != NULL);
	CHECK(self_status(&s) == 0);
	CHECK(s.nnp == 0);
	CHECK(!privileges_have(CAP_LINUX_IMMUTABLE));
	return 0;
}

static void
test_without_root_fails(void **state)
{
	run_child(child_without_root);
}

static int
child_unknown_cap(void)
{
	const cap_value_t bad[] = { CAP_CHOWN, 1000 };
	char err[256] = "";

	CHECK(privileges_drop(bad, 2, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "1000") != NULL);
	return 0;
}

static void
test_unknown_cap_fails(void **state)
{
	run_child(child_unknown_cap);
}

/*
 * How scripts/vaultd.service starts vaultd: systemd has cut the bounding
 * set to the six (CapabilityBoundingSet=), set the securebits (SecureBits=)
 * and no-new-privs, and with noroot the six arrive as ambient (and
 * inheritable) capabilities; CAP_SETPCAP is gone.
 */
static int
systemd_like_start(bool with_secbits)
{
	const uint64_t want = mask_of(spec_caps, SPEC_N);
	cap_t c = cap_init();
	int max = (int)cap_max_bits();

	CHECK(c != NULL);
	for (cap_value_t v = 0; v < max; v++)
		if (!(want & (UINT64_C(1) << v)))
			CHECK(cap_drop_bound(v) == 0);
	if (with_secbits)
		CHECK(prctl(PR_SET_SECUREBITS, WANT_SECBITS, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(cap_set_flag(c, CAP_PERMITTED, (int)SPEC_N, spec_caps, CAP_SET) == 0);
	CHECK(cap_set_flag(c, CAP_EFFECTIVE, (int)SPEC_N, spec_caps, CAP_SET) == 0);
	CHECK(cap_set_flag(c, CAP_INHERITABLE, (int)SPEC_N, spec_caps, CAP_SET) == 0);
	CHECK(cap_set_proc(c) == 0);
	cap_free(c);
	for (size_t i = 0; i < SPEC_N; i++)
		CHECK(cap_set_ambient(spec_caps[i], CAP_SET) == 0);
	CHECK(!privileges_have(CAP_SETPCAP));
	return 0;
}

static int
child_systemd_start(void)
{
	const uint64_t want = mask_of(spec_caps, SPEC_N);
	struct status s;
	char err[256] = "";
	int r;

	CHECK(systemd_like_start(true) == 0);
	CHECK(self_status(&s) == 0);
	CHECK(s.amb == want && s.inh == want);
	r = privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err));
	if (r != 0)
		dprintf(STDERR_FILENO, "privileges_drop: %d %s\n", r, err);
	CHECK(r == 0);
	CHECK(self_status(&s) == 0);
	CHECK(s.inh == 0 && s.amb == 0);
	CHECK(s.prm == want && s.eff == want && s.bnd == want);
	CHECK(s.nnp == 1);
	CHECK(exec_status(&s) == 0);
	CHECK(s.prm == 0 && s.eff == 0);
	return 0;
}

static void
test_drop_under_systemd(void **state)
{
	run_child(child_systemd_start);
}

/* A unit without SecureBits=: vaultd cannot set them without CAP_SETPCAP, so it refuses. */
static int
child_systemd_no_secbits(void)
{
	struct status before, after;
	char err[256] = "";

	CHECK(systemd_like_start(false) == 0);
	CHECK(self_status(&before) == 0);
	CHECK(privileges_drop(vaultd_caps, vaultd_n_caps, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "cap_setpcap") != NULL);
	CHECK(self_status(&after) == 0);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	return 0;
}

static void
test_systemd_without_securebits_fails(void **state)
{
	run_child(child_systemd_no_secbits);
}

/* An empty list is a valid request: no capabilities at all. */
static int
child_drop_all(void)
{
	struct status s;
	char err[256] = "";

	CHECK(privileges_drop(NULL, 0, err, sizeof(err)) == 0);
	CHECK(self_status(&s) == 0);
	CHECK(s.inh == 0 && s.prm == 0 && s.eff == 0 && s.bnd == 0 && s.amb == 0 && s.nnp == 1);
	return 0;
}

static void
test_drop_all(void **state)
{
	run_child(child_drop_all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_vaultd_caps),
		cmocka_unit_test(test_missing_cap_fails_cleanly),
		cmocka_unit_test(test_not_in_bounding_set_fails),
		cmocka_unit_test(test_without_root_fails),
		cmocka_unit_test(test_unknown_cap_fails),
		cmocka_unit_test(test_drop_all),
		cmocka_unit_test(test_drop_under_systemd),
		cmocka_unit_test(test_systemd_without_securebits_fails),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_privileges: needs root: skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
