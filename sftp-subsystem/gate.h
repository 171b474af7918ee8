/* SPDX-License-Identifier: MIT */
/*
 * The permission gate: the one place that decides what a client may do.
 * The dispatcher asks it about every request before a handler runs, and the
 * handlers ask it about every path they are about to touch. It asks the
 * tenant's policy (policy/decide.c); without a profile every path is in the
 * sealed, write-once class.
 */
#ifndef SEALVAULT_GATE_H
#define SEALVAULT_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "attrs.h"
#include "policy.h"

struct sftp_session;
struct sftp_request_type;

struct gate_verdict {
	uint32_t status;		/* SSH_FX_OK unless refused */
	const char *reason;		/* for the client and the log; NULL when simply allowed */
	enum policy_action action;
	enum policy_class cls;
	const struct policy_rule *rule;
};

/* Whether INIT advertises an extension (never one the gate would refuse outright). */
bool gate_advertise(const struct sftp_session *s, const struct sftp_request_type *t);

/* Every request passes here before its handler. */
struct gate_verdict gate_request(const struct sftp_session *s, const struct sftp_request_type *t);

/* The decision for one operation on one vault path. */
struct gate_verdict gate_path(const struct sftp_session *s, enum policy_op op, const char *vpath);

/*
 * An attribute change of what st describes. *ret_apply receives the part
 * to carry out (possibly nothing, when the rest is ignored by policy).
 */
struct gate_verdict gate_setstat(const struct sftp_session *s, const char *vpath, const struct stat *st,
				 const struct sftp_attrs *a, struct sftp_attrs *ret_apply);

/* A refusal with a fixed reason, for what no policy can allow. */
struct gate_verdict gate_deny(const char *reason);

/*
 * Answers a refusal: the status with "PATH: REASON" to the client, one log
 * line "refused OP "PATH": REASON". Returns what the reply returned.
 */
int gate_refuse(struct sftp_session *s, uint32_t id, const char *op, const char *vpath,
		struct gate_verdict v);

#endif
