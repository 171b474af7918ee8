/* SPDX-License-Identifier: MIT */
/*
 * The record of every admin action vaultctl takes. For now one syslog line
 * (LOG_AUTHPRIV, ident "vaultctl"); this function is the one place to change
 * when the records go through vaultd's audit instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "vaultctl.h"

void
vaultctl_audit(const char *action, const char *target, bool ok, const char *detail)
{
	char qsudo[128], qtarget[512], qdetail[1024];
	const char *sudo = getenv("SUDO_USER");

	/* Quoted: none of these may forge a second record in the line. */
	log_quote(qsudo, sizeof(qsudo), sudo != NULL ? sudo : "");
	log_quote(qtarget, sizeof(qtarget), target != NULL ? target : "");
	log_quote(qdetail, sizeof(qdetail), detail != NULL ? detail : "");
	openlog("vaultctl", LOG_PID, LOG_AUTHPRIV);
	syslog(ok ? LOG_NOTICE : LOG_WARNING, "uid=%u sudo_user=%s action=%s target=%s result=%s detail=%s",
	       (unsigned)getuid(), qsudo, action, qtarget, ok ? "ok" : "failed", qdetail);
	closelog();
}
