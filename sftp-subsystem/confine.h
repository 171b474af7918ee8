/* SPDX-License-Identifier: MIT */
/*
 * The second wall of vault-sftp: once the root is open, the process locks
 * itself in, so that even a bug in the engine cannot reach a file outside
 * the root, exec anything, or make a syscall the engine never needs.
 */
#ifndef SEALVAULT_CONFINE_H
#define SEALVAULT_CONFINE_H

#include <stdbool.h>

/* The newest Landlock ABI whose rights confine_self() knows (7: Linux 6.15). */
#define CONFINE_LANDLOCK_ABI_MAX	7

struct confine_options {
	bool require_landlock;	/* fail instead of warn when the kernel lacks Landlock */
};

/*
 * Confines the calling process for good:
 *  - PR_SET_NO_NEW_PRIVS and PR_SET_DUMPABLE 0;
 *  - a Landlock ruleset that allows filesystem access only beneath root_fd
 *    (read and write files, read dirs, make regular files and dirs, remove
 *    files, refer, truncate; no exec, no symlinks, sockets, FIFOs or device
 *    nodes; rmdir of empty directories), no TCP bind/connect, no abstract UNIX sockets or
 *    signals outside the process (as far as the running ABI knows them);
 *  - a seccomp allow-list (see confine.c) whose default, and the action for
 *    any other architecture, is to kill the process.
 *
 * Call it single-threaded (Landlock and seccomp bind the calling thread and
 * what it creates later), after everything that needs the outside world is
 * done: descriptors opened before stay usable, so close what is not needed.
 * root_fd is any descriptor of the root directory (O_PATH or O_RDONLY).
 * opts may be NULL: the defaults (all false).
 *
 * Returns 0, or a negative errno with *reterr_what set to a static string
 * naming the step that failed; the process may then be partly confined and
 * should exit. *ret_landlock_abi gets the Landlock ABI in force, the
 * kernel's capped at CONFINE_LANDLOCK_ABI_MAX; 0 when the kernel has no
 * Landlock and opts->require_landlock is false (warning about it is the
 * caller's job; this function does not log).
 */
int confine_self(int root_fd, const struct confine_options *opts,
		 int *ret_landlock_abi, const char **reterr_what);

/*
 * The same walls, less the root and the seccomp list, for a process that
 * needs no file at all once started: vault-listen's per-connection
 * process, which speaks SSH through libssh and OpenSSL (whose syscalls an
 * allow-list would have to guess). Landlock denies every filesystem
 * access, TCP bind and connect, abstract UNIX sockets and signals outside
 * the process; no-new-privs, not dumpable. Same returns as confine_self().
 */
int confine_no_files(const struct confine_options *opts, int *ret_landlock_abi, const char **reterr_what);

#endif
