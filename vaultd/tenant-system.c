/* SPDX-License-Identifier: MIT */
/*
 * What vaultctl tenant asks of the system: useradd and userdel, sshd, and
 * vaultd. Commands run with posix_spawn and an argv array (names are data,
 * never shell text), a minimal environment, and their output captured.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vaultctl-tenant.h"

#define USERADD		"/usr/sbin/useradd"
#define USERDEL		"/usr/sbin/userdel"
#define GROUPDEL	"/usr/sbin/groupdel"
#define SYSTEMCTL	"/usr/bin/systemctl"
/*
 * useradd and userdel: "cannot lock /etc/passwd" (1) or the group file (10):
 * retry. userdel also while "the user is used by a process" (8): the
 * zombie of a session that just ended counts until it is reaped.
 */
#define LOCK_TRIES	20

int
run_command(const char *const argv[], char *out, size_t size)
{
	static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	posix_spawn_file_actions_t fa;
	size_t len = 0;
	int p[2], status, r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return -r;
	}
	for (;;) {
		char sink[4096];
		ssize_t n = len + 1 < size ? read(p[0], out + len, size - len - 1)
					   : read(p[0], sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < size)
			len += (size_t)n;
	}
	close(p[0]);
	if (size > 0)
		out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 256 + WTERMSIG(status);
}

static int
run_locked(const char *const argv[], char *out, size_t size, int busy)
{
	int r = 0;

	for (int i = 0; i < LOCK_TRIES; i++) {
		r = run_command(argv, out, size);
		if (r != 1 && r != 10 && (busy == 0 || r != busy))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 250 * 1000 * 1000 }, NULL);
	}
	return r;
}

int
user_add(const char *user, const char *home, const char *shell, const char *comment, char *out, size_t size)
{
	const char *const argv[] = { USERADD,
				     "--system",
				     "--user-group",
				     "--no-create-home",
				     "--home-dir",
				     home,
				     "--shell",
				     shell,
				     "--password",
				     "*",
				     "--comment",
				     comment,
				     "--",
				     user,
				     NULL };
	int r = run_locked(argv, out, size, 0);

	return r == 0 ? 0 : r < 0 ? r : -EIO;
}

int
user_del(const char *user, char *out, size_t size)
{
	const char *const del[] = { USERDEL, "--", user, NULL };
	const char *const gdel[] = { GROUPDEL, "--", user, NULL };
	int r = run_locked(del, out, size, 8);

	if (r != 0)
		return r < 0 ? r : -EIO;
	/* userdel removes the user's own group where USERGROUPS_ENAB says so; else we do. */
	if (getgrnam(user) != NULL && run_locked(gdel, out, size, 0) != 0)
		return -EIO;
	return 0;
}

bool
pid_runs(pid_t pid, const char *name)
{
	char link[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;
	exe[n] = '\0';
	/* A binary replaced by an upgrade since it started. */
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = '\0';
	base = strrchr(exe, '/');
	return base != NULL && strcmp(base + 1, name) == 0;
}

pid_t
uid_first_process(uid_t uid)
{
	struct dirent *e;
	pid_t found = 0;
	DIR *d;

	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while (found == 0 && (e = readdir(d)) != NULL) {
		char path[300], *text, *line;
		unsigned long ruid, euid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		/* Not the owner of /proc/PID: a process that is not dumpable (vault-sftp) shows root there.
		 */
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if (file_read(path, 8192, &text, NULL) < 0)
			continue;
		line = strstr(text, "\nUid:");
		/* A zombie is a session that ended, waiting for its parent to reap it. */
		if (strstr(text, "\nState:\tZ") == NULL && line != NULL &&
		    sscanf(line, "\nUid: %lu %lu", &ruid, &euid) == 2 && (ruid == uid || euid == uid))
			found = (pid_t)atoi(e->d_name);
		free(text);
	}
	closedir(d);
	return found;
}

static int
signal_pidfile(const char *pidfile, const char *name)
{
	char *text, *end;
	long pid;
	int r;

	r = file_read(pidfile, 32, &text, NULL);
	if (r == -ENOENT) {
		printf("%s is not running (no %s): nothing to reload\n", name, pidfile);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot read %s: %s\n", pidfile, strerror(-r));
		return r;
	}
	pid = strtol(text, &end, 10);
	r = pid > 1 && pid <= INT32_MAX && (*end == '\n' || *end == '\0') ? 0 : -EINVAL;
	free(text);
	if (r < 0 || !pid_runs((pid_t)pid, name)) {
		fprintf(stderr, "vaultctl: %s does not name a running %s: reload it yourself\n", pidfile,
			name);
		return -ESRCH;
	}
	if (kill((pid_t)pid, SIGHUP) < 0) {
		r = -errno;
		fprintf(stderr, "vaultctl: cannot signal %s (pid %ld): %s\n", name, pid, strerror(-r));
		return r;
	}
	printf("reloaded %s (pid %ld, SIGHUP)\n", name, pid);
	return 0;
}

int
sshd_reload(const char *how)
{
	char out[1024];
	int r;

	if (strcmp(how, "none") == 0) {
		printf("sshd not reloaded (--reload none): it reads the drop-in at its next reload\n");
		return 0;
	}
	if (strncmp(how, "pidfile:", 8) == 0)
		return signal_pidfile(how + 8, "sshd");
	if (strcmp(how, "systemd") != 0)
		return -EINVAL;
	r = run_command((const char *const[]){ SYSTEMCTL, "reload", "ssh.service", NULL }, out, sizeof(out));
	if (r != 0) {
		fprintf(stderr, "vaultctl: systemctl reload ssh.service failed: %s",
			r < 0 ? strerror(-r) : out);
		return r < 0 ? r : -EIO;
	}
	printf("reloaded sshd (systemctl reload ssh.service)\n");
	return 0;
}

int
vaultd_reload(const char *control_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int s, r = 0;

	if (strlen(control_socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, control_socket, strlen(control_socket) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(s);
		if (r == -ENOENT || r == -ECONNREFUSED) {
			printf("vaultd is not running (nothing listens on %s): "
			       "it reads the new config when it starts\n", control_socket);
			return 0;
		}
		fprintf(stderr, "vaultctl: cannot reach vaultd at %s: %s\n", control_socket, strerror(-r));
		return r;
	}
	/* The peer of a connected Unix socket is the process that listened: vaultd itself. */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		r = -errno;
	close(s);
	if (r == 0 && (cred.pid <= 1 || !pid_runs(cred.pid, "vaultd")))
		r = -ESRCH;
	if (r == 0 && kill(cred.pid, SIGHUP) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot tell vaultd at %s to reload: %s\n", control_socket,
			strerror(-r));
		return r;
	}
	printf("told vaultd (pid %d) to reload its config (SIGHUP)\n", (int)cred.pid);
	return 0;
}
