/* SPDX-License-Identifier: MIT */
/* vaultctl's client of vaultd's control socket: see vaultctl.h. */
#include <errno.h>
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

/* An answer may take a while: a prune walks a whole tree first. */
#define REPLY_TIMEOUT_MS	(10 * 60 * 1000)

int
vaultctl_control_path(const char *config, const char *sock, char *out, size_t size)
{
	struct policy *p = NULL;
	struct policy_error perr;

	if (sock != NULL) {
		snprintf(out, size, "%s", sock);
		return 0;
	}
	if (policy_load(config, &p, &perr) < 0) {
		fprintf(stderr, "vaultctl: %s:%u: %s\n", perr.file, perr.line, perr.message);
		return -1;
	}
	snprintf(out, size, "%s", p->control_socket);
	policy_free(p);
	return 0;
}

int
vaultctl_ask(const char *path, const void *req, size_t len, bool *last_ok)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *msg;
	int s, n = 0;

	*last_ok = false;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(s, req, len, MSG_NOSIGNAL) < 0) {
		int err = -errno;

		fprintf(stderr, "vaultctl: vaultd is not reachable at %s: %s\n", path, strerror(errno));
		if (s >= 0)
			close(s);
		return err;
	}
	msg = malloc(CONTROL_REPLY_MAX + 1);
	if (msg == NULL) {
		close(s);
		return -ENOMEM;
	}
	for (;;) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, REPLY_TIMEOUT_MS) != 1) {
			fprintf(stderr, "vaultctl: no answer from vaultd\n");
			n = -ETIMEDOUT;
			break;
		}
		r = recv(s, msg, CONTROL_REPLY_MAX, 0);
		if (r <= 0)
			break;
		msg[r] = '\0';
		fputs(msg, stdout);
		if (r > 0 && msg[r - 1] != '\n')
			fputc('\n', stdout);
		*last_ok = strncmp(msg, "ok", 2) == 0;
		n++;
	}
	free(msg);
	close(s);
	return n;
}
