/* SPDX-License-Identifier: MIT */
/*
 * vaultctl status: asks the running vaultd over its control socket
 * (vaultd/control.h) and prints what it says: a table, or with --json
 * the JSON object for scripts. Exit 1 when vaultd cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "policy.h"
#include "vaultctl.h"

#define REPLY_TIMEOUT_MS	5000

static int
ask(const char *path, const char *request, char *reply, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	ssize_t r;
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(s, request, strlen(request), MSG_NOSIGNAL) < 0) {
		r = -errno;
		close(s);
		return (int)r;
	}
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	if (poll(&pfd, 1, REPLY_TIMEOUT_MS) != 1) {
		close(s);
		return -ETIMEDOUT;
	}
	r = recv(s, reply, size - 1, 0);
	close(s);
	if (r <= 0)
		return r < 0 ? -errno : -ECONNRESET;
	reply[r] = '\0';
	return 0;
}

int
status_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = VAULTCTL_DEFAULT_CONFIG, *sock = NULL;
	struct policy *p = NULL;
	struct policy_error perr;
	char *reply;
	int c, json = 0, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: vaultctl status [--json] [--config FILE] [--control SOCKET]\n"
			       "Asks the running vaultd how it is: watcher, counters, catch-up scan,\n"
			       "tenants. --json prints one JSON object for scripts.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return 2;
	if (sock == NULL) {
		if (policy_load(config, &p, &perr) < 0) {
			fprintf(stderr, "vaultctl: %s:%u: %s\n", perr.file, perr.line, perr.message);
			return 1;
		}
		sock = p->control_socket;
	}
	reply = malloc(CONTROL_REPLY_MAX + 1);
	if (reply == NULL) {
		policy_free(p);
		return 1;
	}
	r = ask(sock, json ? "status" : "status text", reply, CONTROL_REPLY_MAX + 1);
	if (r < 0)
		fprintf(stderr, "vaultctl: vaultd is not reachable at %s: %s\n", sock, strerror(-r));
	else
		fputs(reply, stdout);
	free(reply);
	policy_free(p);
	return r < 0 ? 1 : 0;
}
