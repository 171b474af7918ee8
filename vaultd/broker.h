/* SPDX-License-Identifier: MIT */
/*
 * The seal broker, server side, as a library: reads one request from a
 * connected SOCK_SEQPACKET socket (broker-proto.h), decides, seals through
 * the received fd, and replies. Never logs: the outcome is returned for the
 * daemon to log. Never unseals.
 *
 * The seal time is recorded as the xattr SEAL_XATTR_SEALED (decimal Unix
 * time) set before the immutable flag: trusted.* needs CAP_SYS_ADMIN, so a
 * tenant can neither forge nor remove it, and once the file is immutable
 * nobody can change it without clearing the flag first.
 */
#ifndef SEALVAULT_BROKER_H
#define SEALVAULT_BROKER_H

#include <sys/types.h>

#include "broker-proto.h"
#include "policy.h"

struct broker_outcome {
	int status;				/* what the client was told: 0 or -errno */
	char reason[SEAL_PROTO_REASON_MAX];	/* why (empty on success) */
	char tenant[128];			/* "" if no tenant was found */
	char path[SEAL_PROTO_PATH_MAX];		/* the requested vault path, raw ("" if none) */
	pid_t pid;				/* the peer, from SO_PEERCRED */
	uid_t uid;
	int already;				/* 1: the file was already immutable */
};

/*
 * Serves one request on conn. Returns:
 *   0            a request was answered (out says how: sealed or refused);
 *   -ECONNRESET  the peer closed the connection (nothing to log);
 *   other < 0    the peer sent garbage or the reply could not be sent: the
 *                caller must close the connection (out->reason says why).
 */
int broker_serve_one(const struct policy *p, int conn, struct broker_outcome *out);

/*
 * The checks and the seal alone, for tests: fd is the file a peer with uid
 * passed for vpath. Returns 0 or -errno with out->reason filled.
 */
int broker_seal_fd(const struct policy *p, uid_t uid, int fd, const char *vpath,
		   struct broker_outcome *out);

#endif
