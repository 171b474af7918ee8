/* SPDX-License-Identifier: MIT */
/*
 * confine_self(): no-new-privs, not dumpable, Landlock, seccomp.
 *
 * The engine already resolves every path with RESOLVE_IN_ROOT; this is the
 * wall behind it. Landlock decides which files can be opened or changed at
 * all, whatever path or descriptor reaches them; seccomp decides which
 * syscalls exist, so exec, links, symlinks, device nodes, ptrace, mounts,
 * privileges and network sockets are gone even where Landlock has no say.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/landlock.h>
#include <linux/types.h>
#include <seccomp.h>
#ifdef SEALVAULT_SANITIZE
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#endif

#include "confine.h"

/*
 * Debian 12's <linux/landlock.h> stops at ABI 2: the later bits, as the
 * kernel defines them.
 */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER		(1ULL << 13)	/* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE		(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP		(1ULL << 0)	/* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP		(1ULL << 1)	/* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV		(1ULL << 15)	/* ABI 5 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL			(1ULL << 1)	/* ABI 6 */
#endif

/* The kernel's struct landlock_ruleset_attr as of ABI 6; the header's is ABI 1. */
struct confine_ruleset_attr {
	__u64	handled_access_fs;
	__u64	handled_access_net;	/* ABI 4 */
	__u64	scoped;			/* ABI 6 */
};

/* Everything ABI 1 knows: exec, read/write, readdir, remove, make any node. */
#define LL_FS_ABI1	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
	LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | \
	LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | \
	LANDLOCK_ACCESS_FS_MAKE_SYM)

/*
 * What the engine may do beneath the root. REMOVE_FILE: a partial upload is
 * unlinked after an identical re-upload, temp and mutable files are
 * removed. REMOVE_DIR: the policy lets temp, mutable and versioned
 * directories go once empty (pgBackRest's expire); the sealed ones are the
 * gate's and, later, vaultd's to keep. REFER: renames between directories
 * of the root (ABI 2+ answers EXDEV without it; ABI 1 always does). No
 * EXECUTE, no symlinks, sockets, FIFOs or device nodes, no ioctl on devices.
 */
#define LL_FS_ALLOWED	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

/* Every filesystem right the ABI knows is handled, so whatever is not allowed is denied. */
static __u64
ll_fs_handled(int abi)
{
	__u64 fs = LL_FS_ABI1;

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

/* Older kernels reject a larger struct (E2BIG) unless its tail is zero: pass what the ABI has. */
static size_t
ll_attr_size(int abi)
{
	if (abi >= 6)
		return sizeof(struct confine_ruleset_attr);
	if (abi >= 4)
		return offsetof(struct confine_ruleset_attr, scoped);
	return offsetof(struct confine_ruleset_attr, handled_access_net);
}

/*
 * The ABI we enforce: the kernel's, capped at the newest we know. 0 when
 * the kernel has no Landlock (not built: ENOSYS; off at boot: EOPNOTSUPP).
 */
static int
ll_abi(void)
{
	long abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	/* ABI 7 only added audit logging: no rights beyond ABI 6 to miss. */
	if (abi >= 0)
		return abi > CONFINE_LANDLOCK_ABI_MAX ?
		    CONFINE_LANDLOCK_ABI_MAX : (int)abi;
	if (errno == ENOSYS || errno == EOPNOTSUPP)
		return 0;
	return -errno;
}

static int
ll_add_rule(int ruleset_fd, int dir_fd, __u64 allowed)
{
	struct landlock_path_beneath_attr pb = {
		.allowed_access = allowed,
		.parent_fd = dir_fd,
	};

	if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) < 0)
		return -errno;
	return 0;
}

#ifdef SEALVAULT_SANITIZE
/*
 * Test build only (SEALVAULT_SANITIZE): LeakSanitizer's check at exit lists
 * /proc/PID/task to stop every thread, and fails the run if it cannot.
 * Reading /proc, nothing else. The rule is on the procfs root because a
 * /proc/PID inode can be dropped and made anew, taking a rule on it along.
 */
static int
ll_add_proc(int ruleset_fd, int abi)
{
	int fd, r;

	fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = ll_add_rule(ruleset_fd, fd, (LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR) & ll_fs_handled(abi));
	close(fd);
	return r;
}
#endif

/* NO_ROOT: no file at all (confine_no_files()); any other negative fd is an error. */
#define NO_ROOT	(-2)

static int
ll_add_rules(int ruleset_fd, int root_fd, int abi, const char **what)
{
	int r;

	r = root_fd == NO_ROOT ? 0 : ll_add_rule(ruleset_fd, root_fd, LL_FS_ALLOWED & ll_fs_handled(abi));
	if (r < 0) {
		*what = "landlock_add_rule (root)";
		return r;
	}
#ifdef SEALVAULT_SANITIZE
	r = ll_add_proc(ruleset_fd, abi);
	if (r < 0)
		*what = "landlock_add_rule (/proc, sanitizer build)";
#endif
	return r;
}

static int
ll_restrict(int root_fd, int abi, const char **what)
{
	struct confine_ruleset_attr attr = {
		.handled_access_fs = ll_fs_handled(abi),
	};
	int fd, r;

	/* No rule allows TCP: handling it denies every bind and connect. */
	if (abi >= 4)
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
		    LANDLOCK_ACCESS_NET_CONNECT_TCP;
	/* No abstract UNIX sockets or signals beyond our own domain. */
	if (abi >= 6)
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;

	fd = syscall(SYS_landlock_create_ruleset, &attr, ll_attr_size(abi), 0);
	if (fd < 0) {
		*what = "landlock_create_ruleset";
		return -errno;
	}
	r = ll_add_rules(fd, root_fd, abi, what);
	if (r == 0 && syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		r = -errno;
		*what = "landlock_restrict_self";
	}
	close(fd);
	return r;
}

/* SCMP_A0(SCMP_CMP_EQ, v) leaves datum_b out, which clang's -Wextra flags. */
#define ARG_EQ(arg, v)	SCMP_CMP((arg), SCMP_CMP_EQ, (scmp_datum_t)(v), 0)

static int
sc_allow_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		/* Negative: a syscall this architecture lacks (poll on arm64). */
		if (nrs[i] < 0)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Syscalls allowed with any arguments: the engine's file work (through
 * descriptors beneath the root; Landlock judges every path), glibc's
 * malloc, stdio, syslog and abort, and the few lookups vault-sftp makes.
 * Not here, on purpose: exec*, clone/fork, ptrace, link*, symlink*, mknod*,
 * mount, chroot, pivot_root, set*id, capset, keyctl, bpf, io_uring, kill,
 * process_vm_*, memfd_create, personality, prctl, seccomp, landlock_*.
 */
static int
sc_allow_plain(scmp_filter_ctx ctx)
{
	static const int plain[] = {
		/* descriptors and file data */
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(lseek),
		SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(close),
		SCMP_SYS(close_range), SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup3),
		SCMP_SYS(ftruncate), SCMP_SYS(fallocate), SCMP_SYS(fsync),
		SCMP_SYS(fdatasync),
		/* metadata */
		SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
		SCMP_SYS(fstatfs), SCMP_SYS(statfs), SCMP_SYS(getdents64),
		SCMP_SYS(readlinkat), SCMP_SYS(fchmod), SCMP_SYS(fchmodat),
		SCMP_SYS(utimensat), SCMP_SYS(fsetxattr), SCMP_SYS(fgetxattr),
		SCMP_SYS(flistxattr),
		/* names */
		SCMP_SYS(mkdirat), SCMP_SYS(renameat2), SCMP_SYS(renameat),
		SCMP_SYS(unlinkat),
		/* waiting on stdin/stdout */
		SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(pselect6),
		/* syslog's /dev/log and the seal broker (sockets: AF_UNIX only, below) */
		SCMP_SYS(connect), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
		/* memory (mmap and mprotect: below) */
		SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
		/* process life */
		SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
		SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(rt_sigaction), SCMP_SYS(futex), SCMP_SYS(sched_yield),
		/* time and identity */
		SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
		SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid),
		SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
		SCMP_SYS(uname), SCMP_SYS(getcwd),
	};

	return sc_allow_list(ctx, plain, sizeof(plain) / sizeof(plain[0]));
}

/*
 * Syscalls allowed only with some arguments. No executable memory: a bug
 * cannot turn written bytes into code. socket: AF_UNIX only (/dev/log, the
 * broker). ioctl: reading inode flags (is it sealed?), nothing else; the
 * kernel reads cmd as 32 bits, so only those are compared. prlimit64:
 * reading our own limits (getrlimit, sysconf). tgkill: abort() and raise()
 * signal ourselves.
 */
static int
sc_allow_checked(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		    ARG_EQ(0, AF_UNIX));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, FS_IOC_GETFLAGS));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
		    ARG_EQ(0, 0), ARG_EQ(2, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		    ARG_EQ(0, getpid()));
	return r;
}

#ifdef SEALVAULT_SANITIZE
/*
 * Test build only (SEALVAULT_SANITIZE): what the ASan/UBSan/LSan runtime
 * does after confinement, found by running the sanitized test_confine (the
 * filter's default set to SCMP_ACT_LOG, then the kernel log), not guessed.
 * Nearly all of it is LeakSanitizer's check at exit: it makes the process
 * dumpable again, clones a tracer task sharing our memory, which lists
 * /proc/PID/task with the raw open/getdents and ptrace-stops every thread.
 * Production builds never get these.
 */
static int
sc_allow_sanitizer(scmp_filter_ctx ctx)
{
	static const int san[] = {
		SCMP_SYS(open), SCMP_SYS(getdents), SCMP_SYS(wait4),
		SCMP_SYS(getppid), SCMP_SYS(sigaltstack),
		SCMP_SYS(readlink),	/* /proc/self/exe, naming the module in reports */
		SCMP_SYS(pipe2),	/* UBSan: is memory readable, before dumping it */
	};
	static const int prctl_ops[] = {
		PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_PDEATHSIG,
	};
	static const int ptrace_ops[] = {
		PTRACE_ATTACH, PTRACE_GETREGSET, PTRACE_DETACH,
		PTRACE_CONT, PTRACE_KILL,	/* forwarding a signal; dying (its source) */
	};
	size_t i;
	int r;

	r = sc_allow_list(ctx, san, sizeof(san) / sizeof(san[0]));
	for (i = 0; r == 0 && i < sizeof(prctl_ops) / sizeof(prctl_ops[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    ARG_EQ(0, prctl_ops[i]));
	for (i = 0; r == 0 && i < sizeof(ptrace_ops) / sizeof(ptrace_ops[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 1,
		    ARG_EQ(0, ptrace_ops[i]));
	/* isatty(2): whether reports get colours. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, TCGETS));
	/* The tracer task only: fork()'s clone has other flags and still dies. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		    ARG_EQ(0, CLONE_VM | CLONE_FS | CLONE_FILES |
		    CLONE_UNTRACED));
	return r;
}
#endif

static int
sc_rules(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = sc_allow_plain(ctx);
	if (r == 0)
		r = sc_allow_checked(ctx);
#ifdef SEALVAULT_SANITIZE
	if (r == 0)
		r = sc_allow_sanitizer(ctx);
#endif
	return r;
}

static int
sc_load(void)
{
	scmp_filter_ctx ctx;
	int r;

	/*
	 * Native architecture only: an x32 or i386 call takes the bad-arch
	 * action, which kills too.
	 */
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return -ENOMEM;
	r = sc_rules(ctx);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* With READ_IMPLIES_EXEC, PROT_READ maps executable memory behind the filter's back. */
static int
no_read_implies_exec(void)
{
	int persona;

	persona = personality(0xffffffff);
	if (persona < 0)
		return -errno;
	if ((persona & READ_IMPLIES_EXEC) &&
	    personality(persona & ~READ_IMPLIES_EXEC) < 0)
		return -errno;
	return 0;
}

/* The walls both confinements share: no-new-privs, not dumpable, Landlock (root_fd NO_ROOT: no files). */
static int
confine_common(int root_fd, const struct confine_options *opts, int *ret_abi, const char **reterr_what)
{
	int abi, r;

	*ret_abi = 0;
	*reterr_what = NULL;

	/* Asked first, so that a required but missing Landlock changes nothing. */
	abi = ll_abi();
	if (abi < 0) {
		*reterr_what = "landlock ABI version";
		return abi;
	}
	if (abi == 0 && opts != NULL && opts->require_landlock) {
		*reterr_what = "landlock (not supported by this kernel)";
		return -EOPNOTSUPP;
	}

	/* Landlock needs it (we hold no CAP_SYS_ADMIN); exec could gain nothing anyway. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*reterr_what = "prctl(PR_SET_NO_NEW_PRIVS)";
		return -errno;
	}
	/* No core files with client data, no ptrace or /proc/PID/mem by the same uid. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		*reterr_what = "prctl(PR_SET_DUMPABLE)";
		return -errno;
	}
	r = no_read_implies_exec();
	if (r < 0) {
		*reterr_what = "personality (READ_IMPLIES_EXEC)";
		return r;
	}
	if (abi > 0) {
		r = ll_restrict(root_fd, abi, reterr_what);
		if (r < 0)
			return r;
	}
	*ret_abi = abi;
	return 0;
}

int
confine_no_files(const struct confine_options *opts, int *ret_landlock_abi, const char **reterr_what)
{
	return confine_common(NO_ROOT, opts, ret_landlock_abi, reterr_what);
}

int
confine_self(int root_fd, const struct confine_options *opts,
	     int *ret_landlock_abi, const char **reterr_what)
{
	int abi, r;

	*ret_landlock_abi = 0;
	r = confine_common(root_fd, opts, &abi, reterr_what);
	if (r < 0)
		return r;
	/* Last: the filter does not allow the Landlock syscalls. */
	r = sc_load();
	if (r < 0) {
		*reterr_what = "seccomp filter";
		return r;
	}
	*ret_landlock_abi = abi;
	return 0;
}
