/* SPDX-License-Identifier: MIT */
/*
 * confine_self(): every case forks a child that confines itself on a fresh
 * root and tries things; the parent judges by exit status or signal. The
 * children run as whoever runs the test (root in CI): Landlock and seccomp
 * bind root as well.
 *
 * Child exit codes: 0 all checks passed, 1 a check failed (message on
 * stderr), 2 confine_self() failed, 3 a forbidden syscall returned.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/landlock.h>
#include <linux/openat2.h>

#include <cmocka.h>

#include "confine.h"

struct fx {
	char	base[PATH_MAX - 16];	/* mkdtemp; holds root/ and outside/ */
	char	root[PATH_MAX];
	char	outside[PATH_MAX];	/* a sibling of the root, with a file "secret" */
	int	root_fd;
};

/* In a child: report a failed check and leave with 1. */
#define CHECK(cond) do {						\
	if (!(cond)) {							\
		dprintf(STDERR_FILENO, "%s:%d: in child: %s (errno %d)\n", \
		    __FILE__, __LINE__, #cond, errno);			\
		return 1;						\
	}								\
} while (0)

/* Landlock's answer to an access it does not allow. */
#define DENIED(call)	((call) == -1 && errno == EACCES)

static int
kernel_landlock_abi(void)
{
	long abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

static void
skip_without_landlock(void)
{
	if (kernel_landlock_abi() == 0) {
		print_message("the kernel has no Landlock: skipping a Landlock test\n");
		skip();
	}
}

static int
write_file(const char *path, const char *text)
{
	int fd;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int
setup(void **state)
{
	struct fx *fx;
	const char *tmp;
	char secret[PATH_MAX + 16];

	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(fx->base, sizeof(fx->base), "%s/sealvault-confine-XXXXXX", tmp);
	assert_non_null(mkdtemp(fx->base));
	snprintf(fx->root, sizeof(fx->root), "%s/root", fx->base);
	snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->base);
	assert_int_equal(mkdir(fx->root, 0700), 0);
	assert_int_equal(mkdir(fx->outside, 0700), 0);
	snprintf(secret, sizeof(secret), "%s/secret", fx->outside);
	assert_int_equal(write_file(secret, "secret\n"), 0);
	fx->root_fd = open(fx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->root_fd >= 0);
	*state = fx;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	close(fx->root_fd);
	nftw(fx->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* In a child: confine on the fixture's root. */
static int
child_confine(const struct fx *fx, bool require_landlock, int *ret_abi)
{
	struct confine_options opts = { .require_landlock = require_landlock };
	const char *what = NULL;
	int abi, r;

	r = confine_self(fx->root_fd, &opts, &abi, &what);
	if (r < 0) {
		dprintf(STDERR_FILENO, "in child: confine_self: %s: errno %d\n",
		    what ? what : "(null)", -r);
		return -1;
	}
	if (ret_abi != NULL)
		*ret_abi = abi;
	return 0;
}

typedef int (*child_fn)(const struct fx *fx, const void *arg);

static pid_t
spawn(child_fn fn, const struct fx *fx, const void *arg)
{
	static const int sigs[] = { SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGSYS };
	pid_t pid;
	size_t i;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches some of these; the child must die of them. */
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		/* exit(), not _exit(): the sanitizers' exit work runs confined too. */
		exit(fn(fx, arg));
	}
	return pid;
}

static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return status;
}

static int
run_child(child_fn fn, const struct fx *fx, const void *arg)
{
	return reap(spawn(fn, fx, arg));
}

static const char *
describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
	return buf;
}

static void
expect_exit(int status, int code, const char *what)
{
	char buf[64];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		fail_msg("%s: child %s, expected exit %d", what,
		    describe(status, buf, sizeof(buf)), code);
}

static void
expect_signal(int status, int sig, const char *what)
{
	char buf[64];

	if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
		fail_msg("%s: child %s, expected signal %d (%s)", what,
		    describe(status, buf, sizeof(buf)), sig, strsignal(sig));
}

/* 1. Inside the root, the engine's work goes through. */

/* Create, write, read, and the calls around them. */
static int
inside_files(int rfd)
{
	char buf[64] = "";
	struct statfs sfs;
	struct stat st;
	int fd, fd2, flags;

	fd = openat(rfd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello", 5) == 5);
	CHECK(pwrite(fd, "HELLO world", 11, 0) == 11);
	CHECK(ftruncate(fd, 5) == 0);
	CHECK(fallocate(fd, 0, 0, 4096) == 0 || errno == EOPNOTSUPP);
	CHECK(ftruncate(fd, 5) == 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "HELLO", 5) == 0);
	CHECK(pread(fd, buf, 2, 3) == 2 && memcmp(buf, "LO", 2) == 0);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
	CHECK(fstatfs(fd, &sfs) == 0);
	/* The partial-file xattr; a filesystem without user xattrs says so. */
	CHECK(fsetxattr(fd, "user.sealvault.target", "g", 1, 0) == 0 ||
	    errno == EOPNOTSUPP);
	CHECK(fgetxattr(fd, "user.sealvault.target", buf, sizeof(buf)) >= 0 ||
	    errno == EOPNOTSUPP);
	CHECK(flistxattr(fd, buf, sizeof(buf)) >= 0 || errno == EOPNOTSUPP);
	/* Is it sealed? Whatever the filesystem answers, asking is allowed. */
	(void)ioctl(fd, FS_IOC_GETFLAGS, &flags);
	CHECK(fchmod(fd, 0400) == 0);
	fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	CHECK(fd2 >= 0);
	CHECK(dup3(fd, fd2, O_CLOEXEC) == fd2);
	CHECK(close(fd2) == 0 && close(fd) == 0);
	return 0;
}

/* Directories and names: mkdir, publish by rename, unlink, rmdir. */
static int
inside_names(int rfd, int abi)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	struct statx stx;
	struct dirent *de;
	char buf[16];
	DIR *dir;
	int fd, n = 0;

	CHECK(mkdirat(rfd, "d", 0700) == 0);
	CHECK(mkdirat(rfd, "d/e", 0700) == 0);
	fd = syscall(SYS_openat2, rfd, "/d/../d", &how, sizeof(how));
	CHECK(fd >= 0);
	dir = fdopendir(fd);
	CHECK(dir != NULL);
	while ((de = readdir(dir)) != NULL)
		n++;
	CHECK(n == 3 && closedir(dir) == 0);	/* ".", "..", "e" */

	/* Publishing as the engine does: onto a new name, never over one. */
	CHECK(renameat2(rfd, "f", rfd, "g", RENAME_NOREPLACE) == 0);
	fd = openat(rfd, "h", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	CHECK(renameat2(rfd, "h", rfd, "g", RENAME_NOREPLACE) == -1 &&
	    errno == EEXIST);
	/* A partial file goes away after an identical re-upload. */
	CHECK(unlinkat(rfd, "h", 0) == 0);
	/* Across directories takes REFER (ABI 2); ABI 1 always says EXDEV. */
	if (abi == 1)
		CHECK(renameat2(rfd, "g", rfd, "d/g", 0) == -1 && errno == EXDEV);
	else
		CHECK(renameat2(rfd, "g", rfd, "d/g", RENAME_NOREPLACE) == 0 &&
		    renameat2(rfd, "d/g", rfd, "g", RENAME_NOREPLACE) == 0);
	CHECK(statx(rfd, "g", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0);
	CHECK(utimensat(rfd, "g", NULL, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(fchmodat(rfd, "g", 0400, 0) == 0);
	CHECK(readlinkat(rfd, "g", buf, sizeof(buf)) == -1 && errno == EINVAL);
	/* rmdir of an empty directory: the policy decides, Landlock allows it beneath the root. */
	CHECK(unlinkat(rfd, "d/e", AT_REMOVEDIR) == 0);
	return 0;
}

/* What glibc and the front end need around the engine. */
static int
inside_process(void)
{
	struct timespec now, ns = { 0, 1 };
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct utsname un;
	struct rlimit rl;
	char buf[PATH_MAX];
	void *big;
	int s;

	big = malloc(64 << 20);		/* mmap */
	CHECK(big != NULL);
	memset(big, 1, 1 << 20);
	free(big);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK(poll(&pfd, 1, 0) >= 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &now) == 0 && nanosleep(&ns, NULL) == 0);
	CHECK(getrandom(buf, 16, 0) == 16);
	CHECK(uname(&un) == 0 && getcwd(buf, sizeof(buf)) != NULL);
	(void)getuid(); (void)geteuid(); (void)getgid(); (void)getegid();
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0 && close(s) == 0);
	openlog("test_confine", LOG_PID | LOG_NDELAY, LOG_USER);
	syslog(LOG_DEBUG, "test_confine: syslog from a confined process");
	closelog();
	return 0;
}

static int
child_inside(const struct fx *fx, const void *arg)
{
	int abi;

	if (child_confine(fx, false, &abi) < 0)
		return 2;
	if (inside_files(fx->root_fd) != 0 ||
	    inside_names(fx->root_fd, abi) != 0 ||
	    inside_process() != 0)
		return 1;
	return 0;
}

static void
test_inside_root_works(void **state)
{
	expect_exit(run_child(child_inside, *state, NULL), 0, "inside the root");
}

/* abort() must still abort (tgkill of our own pid), not die of SIGSYS. */
static int
child_abort(const struct fx *fx, const void *arg)
{
	if (child_confine(fx, false, NULL) < 0)
		return 2;
	abort();
}

static void
test_abort_still_aborts(void **state)
{
	expect_signal(run_child(child_abort, *state, NULL), SIGABRT, "abort()");
}

/* 2. Outside the root, every open fails with EACCES, whatever the path. */

static int
child_outside(const struct fx *fx, const void *arg)
{
	char path[PATH_MAX + 64];
	int rfd = fx->root_fd, etc_fd, out_fd;

	/* Set up before confinement, as a buggy engine might have. */
	CHECK(symlinkat("/etc/passwd", rfd, "to-passwd") == 0);
	CHECK(symlinkat("/etc", rfd, "to-etc") == 0);
	CHECK(symlinkat("../outside", rfd, "to-outside") == 0);
	etc_fd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(etc_fd >= 0);
	out_fd = open(fx->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(out_fd >= 0);
	CHECK(chdir("/") == 0);

	if (child_confine(fx, true, NULL) < 0)
		return 2;

	/* absolute and cwd-relative */
	CHECK(DENIED(open("/etc/passwd", O_RDONLY)));
	CHECK(DENIED(open("etc/passwd", O_RDONLY)));
	CHECK(DENIED(open(".", O_RDONLY | O_DIRECTORY)));
	CHECK(DENIED(openat(AT_FDCWD, fx->outside, O_RDONLY | O_DIRECTORY)));
	snprintf(path, sizeof(path), "%s/secret", fx->outside);
	CHECK(DENIED(open(path, O_RDONLY)));
	/* ".." from the root's fd */
	CHECK(DENIED(openat(rfd, "..", O_RDONLY | O_DIRECTORY)));
	CHECK(DENIED(openat(rfd, "../..", O_RDONLY | O_DIRECTORY)));
	CHECK(DENIED(openat(rfd, "../outside/secret", O_RDONLY)));
	CHECK(DENIED(openat(rfd, "../../../../../../etc/passwd", O_RDONLY)));
	/* symlinks planted inside the root */
	CHECK(DENIED(openat(rfd, "to-passwd", O_RDONLY)));
	CHECK(DENIED(openat(rfd, "to-etc/passwd", O_RDONLY)));
	CHECK(DENIED(openat(rfd, "to-outside/secret", O_RDONLY)));
	/* directory fds opened before confinement */
	CHECK(DENIED(openat(etc_fd, "passwd", O_RDONLY)));
	CHECK(DENIED(openat(out_fd, "secret", O_RDONLY)));
	/* magic links */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/passwd", etc_fd);
	CHECK(DENIED(open(path, O_RDONLY)));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", out_fd);
	CHECK(DENIED(open(path, O_RDONLY | O_DIRECTORY)));
	CHECK(DENIED(open("/proc/self/root/etc/passwd", O_RDONLY)));
#ifndef SEALVAULT_SANITIZE
	/* (the sanitizer build lets LeakSanitizer read /proc: confine.c) */
	CHECK(DENIED(open("/proc/self/status", O_RDONLY)));
#endif
	/* writes and new names outside */
	CHECK(DENIED(openat(out_fd, "new", O_WRONLY | O_CREAT | O_EXCL, 0600)));
	CHECK(DENIED(openat(rfd, "../new", O_WRONLY | O_CREAT | O_EXCL, 0600)));
	CHECK(DENIED(openat(out_fd, "secret", O_WRONLY | O_TRUNC)));
	CHECK(DENIED(mkdirat(rfd, "../newdir", 0700)));
	CHECK(DENIED(unlinkat(out_fd, "secret", 0)));
	CHECK(DENIED(renameat2(out_fd, "secret", rfd, "stolen", RENAME_NOREPLACE)));
	return 0;
}

static void
test_outside_root_denied(void **state)
{
	skip_without_landlock();
	expect_exit(run_child(child_outside, *state, NULL), 0, "outside the root");
}

/* 3. A syscall outside the allow-list kills the process with SIGSYS. */

static int
forbidden_execve(const struct fx *fx)
{
	char *const argv[] = { (char *)"/bin/true", NULL };
	char *const envp[] = { NULL };

	return execve("/bin/true", argv, envp);
}

static int forbidden_inet(const struct fx *fx) { return socket(AF_INET, SOCK_STREAM, 0); }
static int forbidden_inet6(const struct fx *fx) { return socket(AF_INET6, SOCK_DGRAM, 0); }
static int forbidden_netlink(const struct fx *fx) { return socket(AF_NETLINK, SOCK_RAW, 0); }
static int forbidden_linkat(const struct fx *fx) { return linkat(fx->root_fd, "f", fx->root_fd, "g", 0); }
static int forbidden_symlinkat(const struct fx *fx) { return symlinkat("/etc/passwd", fx->root_fd, "l"); }
static int forbidden_mknodat(const struct fx *fx) { return mknodat(fx->root_fd, "p", S_IFIFO | 0600, 0); }
static int forbidden_chroot(const struct fx *fx) { return chroot("."); }
static int forbidden_setuid(const struct fx *fx) { return (int)syscall(SYS_setuid, 0); }
static int forbidden_unshare(const struct fx *fx) { return unshare(CLONE_NEWUSER); }
static int forbidden_kill(const struct fx *fx) { return kill(1, 0); }
static int forbidden_tgkill(const struct fx *fx) { return (int)syscall(SYS_tgkill, 1, 1, 0); }
static int forbidden_ptrace(const struct fx *fx) { return (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static int forbidden_fork(const struct fx *fx) { return fork(); }
static int forbidden_setrlimit(const struct fx *fx)
{
	struct rlimit rl = { 0, 0 };

	return setrlimit(RLIMIT_CORE, &rl);
}
static int forbidden_prlimit_other(const struct fx *fx)
{
	struct rlimit rl;

	return prlimit(1, RLIMIT_NOFILE, NULL, &rl);
}
static int forbidden_ioctl_setflags(const struct fx *fx)
{
	int flags = 0;

	return ioctl(fx->root_fd, FS_IOC_SETFLAGS, &flags);
}
static int forbidden_ioctl_tty(const struct fx *fx)
{
	struct winsize ws;

	return ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
}
static int forbidden_mmap_exec(const struct fx *fx)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}
static int forbidden_mprotect_exec(const struct fx *fx)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}
static int forbidden_memfd(const struct fx *fx) { return (int)syscall(SYS_memfd_create, "x", 0); }
static int forbidden_bpf(const struct fx *fx) { return (int)syscall(SYS_bpf, 0, NULL, 0); }
static int forbidden_keyctl(const struct fx *fx) { return (int)syscall(SYS_keyctl, 0, 0, 0, 0, 0); }
static int forbidden_io_uring(const struct fx *fx) { return (int)syscall(SYS_io_uring_setup, 1, NULL); }
static int forbidden_personality(const struct fx *fx) { return (int)syscall(SYS_personality, 0xffffffffUL); }
static int forbidden_landlock(const struct fx *fx)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
}
#if defined(__x86_64__)
/* An x32 call: native arch in the audit field, the x32 bit in the number. */
static int forbidden_x32(const struct fx *fx) { return (int)syscall(0x40000000 | SYS_getpid); }
/* An i386 call from a 64-bit process. */
static int
forbidden_int80(const struct fx *fx)
{
	long ret;

	__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) /* i386 getpid */
	    : "memory", "cc", "r8", "r9", "r10", "r11");
	return (int)ret;
}
#endif

struct forbidden {
	const char *name;
	int (*call)(const struct fx *fx);
};

static int
child_forbidden(const struct fx *fx, const void *arg)
{
	const struct forbidden *f = arg;

	/* linkat needs a source that exists, so that only seccomp can stop it. */
	if (write_file("f", "") < 0 && errno != EEXIST)
		return 1;
	if (child_confine(fx, false, NULL) < 0)
		return 2;
	f->call(fx);
	dprintf(STDERR_FILENO, "in child: %s returned (errno %d)\n", f->name, errno);
	return 3;
}

#if defined(__x86_64__)
/* In an unconfined child: does the call work at all here (i386 emulation)? */
static int
child_plain_call(const struct fx *fx, const void *arg)
{
	const struct forbidden *f = arg;

	return f->call(fx) == getpid() ? 0 : 1;
}

static void
check_int80(const struct fx *fx)
{
	static const struct forbidden int80 = { "int 0x80 getpid", forbidden_int80 };
	int st;

	st = run_child(child_plain_call, fx, &int80);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		expect_signal(run_child(child_forbidden, fx, &int80), SIGSYS,
		    int80.name);
	else
		print_message("no i386 emulation here: int 0x80 not tried\n");
}
#endif

static void
test_forbidden_syscalls_kill(void **state)
{
	static const struct forbidden calls[] = {
		{ "execve(/bin/true)", forbidden_execve },
		{ "socket(AF_INET)", forbidden_inet },
		{ "socket(AF_INET6)", forbidden_inet6 },
		{ "socket(AF_NETLINK)", forbidden_netlink },
		{ "linkat", forbidden_linkat },
		{ "symlinkat", forbidden_symlinkat },
		{ "mknodat(FIFO)", forbidden_mknodat },
		{ "chroot", forbidden_chroot },
		{ "setuid", forbidden_setuid },
		{ "unshare(CLONE_NEWUSER)", forbidden_unshare },
		{ "kill", forbidden_kill },
		{ "tgkill(other pid)", forbidden_tgkill },
		{ "setrlimit", forbidden_setrlimit },
		{ "prlimit(other pid)", forbidden_prlimit_other },
		{ "ioctl(FS_IOC_SETFLAGS)", forbidden_ioctl_setflags },
		{ "ioctl(TIOCGWINSZ)", forbidden_ioctl_tty },
		{ "mmap(PROT_EXEC)", forbidden_mmap_exec },
		{ "mprotect(PROT_EXEC)", forbidden_mprotect_exec },
		{ "memfd_create", forbidden_memfd },
		{ "bpf", forbidden_bpf },
		{ "keyctl", forbidden_keyctl },
		{ "io_uring_setup", forbidden_io_uring },
		{ "personality", forbidden_personality },
		{ "landlock_create_ruleset", forbidden_landlock },
		/* (the sanitizer build allows LeakSanitizer's ptrace and clone, not these) */
		{ "ptrace(PTRACE_TRACEME)", forbidden_ptrace },
		{ "fork", forbidden_fork },
#if defined(__x86_64__)
		{ "x32 getpid", forbidden_x32 },
#endif
	};
	struct fx *fx = *state;
	size_t i;
	int cwd;

	/* Children run in the root, so that linkat's source is there. */
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(cwd >= 0);
	assert_int_equal(fchdir(fx->root_fd), 0);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		expect_signal(run_child(child_forbidden, fx, &calls[i]), SIGSYS,
		    calls[i].name);
#if defined(__x86_64__)
	check_int80(fx);
#endif
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
}

/*
 * 4. No new privileges, not dumpable: seen from outside, by the kernel.
 *
 * /proc/PID/status shows NoNewPrivs. Dumpable shows in who may read
 * /proc/PID/environ (ptrace_may_access): a process of the same uid may
 * only if the target is dumpable, unless it holds CAP_SYS_PTRACE, and
 * without capabilities only if the target has none either. So the
 * waiting children and the probe all drop every capability first, and an
 * unconfined waiter is the control that the probe works at all.
 */

struct waiter {
	int	fds[4];		/* to the child [0] [1], from the child [2] [3] */
	bool	confine;
	pid_t	pid;
};

static int
drop_all_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Says ready, then waits for EOF. */
static int
child_wait(const struct fx *fx, const void *arg)
{
	const struct waiter *w = arg;
	char c = 0;

	close(w->fds[1]);
	close(w->fds[2]);
	if (drop_all_caps() < 0)
		return 4;
	if (w->confine && child_confine(fx, false, NULL) < 0)
		return 2;
	if (write(w->fds[3], "r", 1) != 1)
		return 1;
	return read(w->fds[0], &c, 1) == 0 ? 0 : 1;
}

static void
waiter_start(struct waiter *w, const struct fx *fx, bool confine)
{
	char c;

	w->confine = confine;
	assert_int_equal(pipe2(&w->fds[0], O_CLOEXEC), 0);
	assert_int_equal(pipe2(&w->fds[2], O_CLOEXEC), 0);
	w->pid = spawn(child_wait, fx, w);
	close(w->fds[0]);
	close(w->fds[3]);
	assert_int_equal(read(w->fds[2], &c, 1), 1);
}

static void
waiter_finish(struct waiter *w)
{
	close(w->fds[1]);
	close(w->fds[2]);
	expect_exit(reap(w->pid), 0, w->confine ? "confined waiter" : "control waiter");
}

static bool
status_has(pid_t pid, const char *line)
{
	char path[64], buf[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (!found && fgets(buf, sizeof(buf), f) != NULL)
		found = strcmp(buf, line) == 0;
	fclose(f);
	return found;
}

static bool
can_open_environ(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* arg: { confined pid, control pid } */
static int
child_probe_dumpable(const struct fx *fx, const void *arg)
{
	const pid_t *pids = arg;

	if (drop_all_caps() < 0)
		return 4;
	if (!can_open_environ(pids[1]))
		return 5;
	return can_open_environ(pids[0]) ? 1 : 0;
}

static void
test_no_new_privs_not_dumpable(void **state)
{
	struct waiter confined, control;
	pid_t pids[2];
	int st;

	waiter_start(&confined, *state, true);
	waiter_start(&control, *state, false);

	assert_true(status_has(confined.pid, "NoNewPrivs:\t1\n"));
	assert_true(status_has(confined.pid, "Seccomp:\t2\n"));	/* filter mode */
	pids[0] = confined.pid;
	pids[1] = control.pid;
	st = run_child(child_probe_dumpable, *state, pids);

	/* The control first: it inherited the write end the confined one waits on. */
	waiter_finish(&control);
	waiter_finish(&confined);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
		fail_msg("the probe cannot read a dumpable process's environ either");
	expect_exit(st, 0, "environ of the confined child read by a probe "
	    "(exit 1: the child is dumpable)");
}

/* 5. The Landlock ABI in force is reported. */

static int
child_report_abi(const struct fx *fx, const void *arg)
{
	const int *fd = arg;
	int abi = -1;

	if (child_confine(fx, true, &abi) < 0)
		return 2;
	return write(*fd, &abi, sizeof(abi)) == sizeof(abi) ? 0 : 1;
}

static void
test_landlock_abi_reported(void **state)
{
	int p[2], abi = -1, want;

	skip_without_landlock();
	want = kernel_landlock_abi();
	if (want > CONFINE_LANDLOCK_ABI_MAX)
		want = CONFINE_LANDLOCK_ABI_MAX;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	expect_exit(run_child(child_report_abi, *state, &p[1]), 0, "report ABI");
	assert_int_equal(read(p[0], &abi, sizeof(abi)), sizeof(abi));
	close(p[0]);
	close(p[1]);
	assert_true(abi > 0);
	assert_int_equal(abi, want);
}

/* A root that Landlock cannot use is an error, named, not a silent pass. */
static int
child_bad_root(const struct fx *fx, const void *arg)
{
	struct confine_options opts = { .require_landlock = true };
	const char *what = NULL;
	int abi, r;

	r = confine_self(-1, &opts, &abi, &what);
	CHECK(r == -EBADF);
	CHECK(what != NULL && strstr(what, "landlock") != NULL);
	return 0;
}

static void
test_bad_root_fails(void **state)
{
	skip_without_landlock();
	expect_exit(run_child(child_bad_root, *state, NULL), 0, "bad root fd");
}

#ifdef SEALVAULT_SANITIZE
/*
 * Sanitizer build: a finding in a confined process must still come out as
 * the sanitizer's report and exit code, not as a SIGSYS that hides it.
 */

/* Runs fn in a child whose stderr the parent reads; returns the status. */
static int
run_child_stderr(child_fn fn, const struct fx *fx, char *out, size_t len)
{
	size_t used = 0;
	ssize_t n;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		exit(fn(fx, NULL));
	}
	close(p[1]);
	while (used + 1 < len &&
	    (n = read(p[0], out + used, len - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	while (read(p[0], &(char){0}, 1) > 0)
		;
	close(p[0]);
	return reap(pid);
}

static __attribute__((noinline)) void
leak_some(void)
{
	char *volatile p = malloc(4321);

	if (p != NULL)
		p[0] = 1;
}

static int
child_leaks(const struct fx *fx, const void *arg)
{
	if (child_confine(fx, false, NULL) < 0)
		return 2;
	leak_some();
	return 0;
}

static int
child_overflows(const struct fx *fx, const void *arg)
{
	char *volatile hidden;	/* so that UBSan's object-size check does not see it first */
	volatile char *p;

	if (child_confine(fx, false, NULL) < 0)
		return 2;
	hidden = malloc(8);
	p = hidden;
	if (p == NULL)
		return 1;
	p[8] = 1;
	free((void *)p);
	return 0;
}

static int
child_overflows_int(const struct fx *fx, const void *arg)
{
	volatile int x = INT_MAX;

	if (child_confine(fx, false, NULL) < 0)
		return 2;
	x += (int)getpid();
	return x == 0;
}

static void
expect_report(int status, int code, const char *out, const char *text)
{
	if (strstr(out, text) == NULL)
		fail_msg("no \"%s\" in the child's stderr:\n%s", text, out);
	expect_exit(status, code, text);
}

static void
test_sanitizer_reports_leak(void **state)
{
	static char out[64 * 1024];

	expect_report(run_child_stderr(child_leaks, *state, out, sizeof(out)),
	    1, out, "LeakSanitizer: detected memory leaks");
}

static void
test_sanitizer_reports_overflow(void **state)
{
	static char out[64 * 1024];

	expect_report(run_child_stderr(child_overflows, *state, out, sizeof(out)),
	    1, out, "AddressSanitizer: heap-buffer-overflow");
}

static void
test_sanitizer_reports_ub(void **state)
{
	static char out[64 * 1024];

	expect_report(run_child_stderr(child_overflows_int, *state, out, sizeof(out)),
	    1, out, "runtime error: signed integer overflow");
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inside_root_works, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_still_aborts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_root_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_syscalls_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_new_privs_not_dumpable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_landlock_abi_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_root_fails, setup, teardown),
#ifdef SEALVAULT_SANITIZE
		cmocka_unit_test_setup_teardown(test_sanitizer_reports_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sanitizer_reports_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sanitizer_reports_ub, setup, teardown),
#endif
	};
	int failed;

	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed == 0 && kernel_landlock_abi() == 0) {
		fprintf(stderr, "test_confine: the kernel has no Landlock; "
		    "its tests were skipped\n");
		return 77;
	}
	return failed;
}
