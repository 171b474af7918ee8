/* SPDX-License-Identifier: MIT */
/*
 * vaultd: the sealvault daemon. For now only the seal broker: a Unix
 * SOCK_SEQPACKET socket on which vault-sftp passes the fd of each file it
 * just published, and vaultd makes it immutable (broker.h) before it
 * replies. Runs as root and keeps all its capabilities (dropping them is a
 * later step of issue 7). Logs every seal and refusal to stderr.
 *
 * The socket is mode 0666: any local user may connect; SO_PEERCRED and the
 * tenant table are the authorization.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "policy.h"

#define MAX_CONNS	1024

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vaultd --config FILE [--socket PATH] [--foreground]\n"
		"\n"
		"Serves the seal broker on PATH (default: the config's broker-socket).\n"
		"Logs to stderr. --foreground is accepted for systemd-style use; vaultd\n"
		"never daemonizes itself.\n");
}

static void
logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logf_(const char *fmt, ...)
{
	va_list ap;

	fputs("vaultd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
log_outcome(const struct broker_outcome *o, int rc)
{
	char path[1024], reason[2 * SEAL_PROTO_REASON_MAX], tenant[300];

	log_quote(path, sizeof(path), o->path);
	log_quote(reason, sizeof(reason), o->reason);
	log_quote(tenant, sizeof(tenant), o->tenant[0] ? o->tenant : "-");
	if (rc == 0 && o->status == 0)
		logf_("sealed tenant=%s uid=%u pid=%d path=%s%s", tenant, (unsigned)o->uid,
		      (int)o->pid, path, o->already ? " (already immutable)" : "");
	else if (rc == 0)
		logf_("refused tenant=%s uid=%u pid=%d path=%s status=%d reason=%s", tenant,
		      (unsigned)o->uid, (int)o->pid, path, o->status, reason);
	else
		logf_("disconnected tenant=%s uid=%u pid=%d path=%s reason=%s", tenant,
		      (unsigned)o->uid, (int)o->pid, path, reason);
}

static int
make_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int s;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		logf_("socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A stale socket from a crash: remove it, but never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			logf_("%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		logf_("socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0111);	/* srw-rw-rw-: tenants connect; the peer uid is checked */
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		logf_("bind %s: %s", path, strerror(errno));
		umask(old);
		close(s);
		return -1;
	}
	umask(old);
	if (chmod(path, 0666) < 0 || listen(s, 128) < 0) {
		logf_("listen %s: %s", path, strerror(errno));
		close(s);
		unlink(path);
		return -1;
	}
	return s;
}

static int
serve(const struct policy *p, int lsock, int sigfd)
{
	/* pfd[0]: signals, pfd[1]: listener, pfd[2..]: connections */
	static struct pollfd pfd[MAX_CONNS + 2];
	nfds_t n = 2;

	pfd[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lsock, .events = POLLIN };
	for (;;) {
		int r = poll(pfd, n, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			logf_("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				logf_("signal %u: stopping", si.ssi_signo);
			break;
		}
		for (nfds_t i = 2; i < n; i++) {
			struct broker_outcome o;
			int rc;

			if (pfd[i].revents == 0)
				continue;
			rc = -ECONNRESET;
			if (pfd[i].revents & POLLIN) {
				rc = broker_serve_one(p, pfd[i].fd, &o);
				if (rc == -EAGAIN)
					continue;
				if (rc != -ECONNRESET)
					log_outcome(&o, rc);
			}
			if (rc < 0) {
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
				i--;
			}
		}
		if (pfd[1].revents & POLLIN) {
			for (;;) {
				int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

				if (c < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
					    errno != ECONNABORTED)
						logf_("accept: %s", strerror(errno));
					break;
				}
				if (n >= MAX_CONNS + 2) {
					logf_("too many connections (%d): refusing one", MAX_CONNS);
					close(c);
					continue;
				}
				pfd[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			}
		}
	}
	for (nfds_t i = 2; i < n; i++)
		close(pfd[i].fd);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config = NULL, *sockpath = NULL;
	struct policy *p = NULL;
	struct policy_error perr = { 0 };
	sigset_t mask;
	int c, err, lsock, sigfd, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sockpath = optarg; break;
		case 'f': break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vaultd %s\n", SEALVAULT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || config == NULL) {
		usage(stderr);
		return 2;
	}
	err = policy_load(config, &p, &perr);
	if (err < 0) {
		if (perr.line)
			logf_("%s:%u: %s", perr.file, perr.line, perr.message);
		else
			logf_("%s: %s", perr.file[0] ? perr.file : config,
			      perr.message[0] ? perr.message : strerror(-err));
		return 1;
	}
	if (sockpath == NULL)
		sockpath = p->broker_socket;
	if (sockpath == NULL || sockpath[0] != '/') {
		logf_("no absolute broker socket path");
		policy_free(p);
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		logf_("signalfd: %s", strerror(errno));
		policy_free(p);
		return 1;
	}
	lsock = make_socket(sockpath);
	if (lsock < 0) {
		close(sigfd);
		policy_free(p);
		return 1;
	}
	if (geteuid() != 0)
		logf_("WARNING: not running as root: sealing needs CAP_LINUX_IMMUTABLE and will fail");
	logf_("seal broker listening on %s (%zu tenants)", sockpath, p->n_tenants);
	rc = serve(p, lsock, sigfd);
	close(lsock);
	unlink(sockpath);
	close(sigfd);
	policy_free(p);
	return rc;
}
