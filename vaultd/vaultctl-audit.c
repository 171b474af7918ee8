/* SPDX-License-Identifier: MIT */
/*
 * The record of every admin action vaultctl takes itself: sent to vaultd's
 * audit trail over its control socket (journald fields, the kernel audit
 * log), so that there is one trail; when vaultd cannot be reached, one
 * syslog line instead (LOG_AUTHPRIV, ident "vaultctl").
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "vaultctl.h"

static char control_path[256];

void
vaultctl_audit_to(const char *path)
{
	snprintf(control_path, sizeof(control_path), "%s", path != NULL ? path : "");
}

/* One "audit" request to vaultd; true if it recorded it. */
static bool
to_vaultd(const char *action, const char *target, bool ok, const char *sudo, const char *detail)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char req[2048], rep[64];
	size_t len = 0;
	const char *w[6] = { "audit", action, target, ok ? "ok" : "failed", sudo, detail };
	struct pollfd pfd;
	ssize_t r;
	int s;

	if (control_path[0] == '\0' || strlen(control_path) >= sizeof(sa.sun_path))
		return false;
	for (int i = 0; i < 6; i++) {
		size_t n = strlen(w[i]) + 1;

		if (len + n > sizeof(req))
			return false;
		memcpy(req + len, w[i], n);
		len += n;
	}
	memcpy(sa.sun_path, control_path, strlen(control_path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(s, req, len, MSG_NOSIGNAL) < 0) {
		close(s);
		return false;
	}
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	r = poll(&pfd, 1, 5000) == 1 ? recv(s, rep, sizeof(rep) - 1, 0) : -1;
	close(s);
	return r > 0 && strncmp(rep, "ok", 2) == 0;
}

void
vaultctl_audit(const char *action, const char *target, bool ok, const char *detail)
{
	char qsudo[128], qtarget[512], qdetail[1024];
	const char *sudo = getenv("SUDO_USER");

	if (to_vaultd(action, target != NULL ? target : "", ok, sudo != NULL ? sudo : "",
		      detail != NULL ? detail : ""))
		return;
	/* Quoted: none of these may forge a second record in the line. */
	log_quote(qsudo, sizeof(qsudo), sudo != NULL ? sudo : "");
	log_quote(qtarget, sizeof(qtarget), target != NULL ? target : "");
	log_quote(qdetail, sizeof(qdetail), detail != NULL ? detail : "");
	openlog("vaultctl", LOG_PID, LOG_AUTHPRIV);
	syslog(ok ? LOG_NOTICE : LOG_WARNING, "uid=%u sudo_user=%s action=%s target=%s result=%s detail=%s",
	       (unsigned)getuid(), qsudo, action, qtarget, ok ? "ok" : "failed", qdetail);
	closelog();
}
