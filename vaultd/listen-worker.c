/* SPDX-License-Identifier: MIT */
/*
 * vault-sftp for one channel of vault-listen: the same program, policy,
 * confinement and seal broker as under sshd, started the way sshd starts
 * it — as the tenant's user (or its maintenance user), with the client's
 * address in SSH_CONNECTION and an exec request in SSH_ORIGINAL_COMMAND —
 * and the channel's bytes on its stdin and stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "listen-proto.h"
#include "listen.h"

/* The socket pair carries bulk uploads: bigger than the default buffers. */
#define PAIR_BUFFER	(1 << 20)

const struct passwd *
listen_check_user(const struct listen_ctx *ctx, const char *user, char *reason, size_t n)
{
	const struct passwd *pw = getpwnam(user);

	if (pw == NULL)
		snprintf(reason, n, "no system user %s", user);
	else if (pw->pw_uid == 0)
		snprintf(reason, n, "user %s is root; a vault session never runs as root", user);
	else if (!ctx->privileged && pw->pw_uid != ctx->self_uid)
		snprintf(reason, n, "user %s is not the user vault-listen runs as (start it as root "
			 "to serve other users)", user);
	else
		return pw;
	return NULL;
}

/* In the child: the session's user, checked again as the listener checked it at AUTH. */
static int
become(const struct listen_ctx *ctx, const char *user, char *reason, size_t n)
{
	const struct passwd *pw = listen_check_user(ctx, user, reason, n);

	if (pw == NULL)
		return -EPERM;
	if (!ctx->privileged)
		return 0;
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		snprintf(reason, n, "cannot switch to user %s: %s", user, strerror(errno));
		return -EPERM;
	}
	return 0;
}

/* In the child: never returns. */
static void
exec_worker(const struct listen_ctx *ctx, const struct policy_tenant *t, bool maintenance,
	    const char *fingerprint, const char *command, const struct listen_peer *peer, int fd, int err_fd)
{
	char reason[256], label[256], conn[200], orig[LISTEN_COMMAND_MAX + 32];
	char *envp[4] = { NULL };
	const char *argv[16];
	size_t a = 0, e = 0;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0))
		_exit(127);
	close_range(STDERR_FILENO + 1, ~0U, 0);
	if (become(ctx, maintenance ? t->maint_user : t->user, reason, sizeof(reason)) < 0) {
		listen_log(LOG_ERR, "%s: %s", t->name, reason);
		_exit(126);
	}
	snprintf(label, sizeof(label), "%s%s key %s from %s", t->name, maintenance ? " (maintenance)" : "",
		 fingerprint, peer->addr);
	snprintf(conn, sizeof(conn), "SSH_CONNECTION=%s %u %s %u", peer->addr, peer->port, peer->local_addr,
		 peer->local_port);
	envp[e++] = conn;
	envp[e++] = "PATH=/usr/bin:/bin";
	if (command != NULL) {
		snprintf(orig, sizeof(orig), "SSH_ORIGINAL_COMMAND=%s", command);
		envp[e++] = orig;
	}
	argv[a++] = ctx->vault_sftp;
	argv[a++] = "--config";
	argv[a++] = ctx->config_path;
	argv[a++] = "--tenant";
	argv[a++] = t->name;
	argv[a++] = "--label";
	argv[a++] = label;
	argv[a++] = "--key-fingerprint";
	argv[a++] = fingerprint;
	if (command == NULL)
		argv[a++] = "--log-stderr";
	argv[a++] = "--log-level";
	argv[a++] = ctx->log_level;
	argv[a] = NULL;
	execve(ctx->vault_sftp, (char *const *)argv, envp);
	listen_log(LOG_ERR, "cannot run %s: %s", ctx->vault_sftp, strerror(errno));
	_exit(127);
}

int
listen_worker_spawn(const struct listen_ctx *ctx, const struct policy_tenant *t, bool maintenance,
		    const char *fingerprint, const char *command, const struct listen_peer *peer,
		    pid_t *ret_pid, int ret_fds[2], char *reason, size_t reason_size)
{
	int sv[2], ep[2] = { -1, -1 }, size = PAIR_BUFFER;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(reason, reason_size, "socketpair: %s", strerror(errno));
		return -errno;
	}
	if (command != NULL && pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(reason, reason_size, "pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -EMFILE;
	}
	for (int i = 0; i < 2; i++) {
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	pid = fork();
	if (pid < 0) {
		snprintf(reason, reason_size, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		if (ep[0] >= 0) {
			close(ep[0]);
			close(ep[1]);
		}
		return -EAGAIN;
	}
	if (pid == 0)
		exec_worker(ctx, t, maintenance, fingerprint, command, peer, sv[1], ep[1]);
	close(sv[1]);
	if (ep[1] >= 0)
		close(ep[1]);
	*ret_pid = pid;
	ret_fds[0] = sv[0];
	ret_fds[1] = ep[0];
	return 0;
}
