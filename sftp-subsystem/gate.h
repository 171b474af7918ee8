/* SPDX-License-Identifier: MIT */
/*
 * The permission gate: the one place that decides what a client may do.
 * The dispatcher asks it about every request before a handler runs, and the
 * handlers ask it about every path they are about to change. Until the
 * policy library lands, every path is in the sealed (write-once) class.
 */
#ifndef SEALVAULT_GATE_H
#define SEALVAULT_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "attrs.h"

struct sftp_session;
struct sftp_request_type;

enum gate_op {
	GATE_READ,		/* open for reading, list, stat, readlink */
	GATE_CREATE,		/* upload to a new name */
	GATE_REUPLOAD,		/* upload to an existing name, compared at CLOSE */
	GATE_OVERWRITE,		/* a re-upload whose content differs */
	GATE_APPEND,
	GATE_TRUNCATE,
	GATE_REMOVE,
	GATE_RMDIR,
	GATE_MKDIR,
	GATE_RENAME,
	GATE_SYMLINK,
	GATE_HARDLINK,
	GATE_SETSTAT,		/* attribute change of a finished file or a directory */
};

struct gate_verdict {
	uint32_t status;	/* SSH_FX_OK when allowed */
	const char *reason;	/* for the client and the log; NULL when allowed */
};

/* Whether INIT advertises an extension (never one the gate would refuse outright). */
bool gate_advertise(const struct sftp_request_type *t);

/* Every request passes here before its handler. */
struct gate_verdict gate_request(const struct sftp_session *s, const struct sftp_request_type *t);

/*
 * The decision for one operation on one vault path. st describes what is
 * there now (NULL if nothing); a is the requested change for GATE_SETSTAT.
 */
struct gate_verdict gate_path(const struct sftp_session *s, enum gate_op op, const char *vpath,
			      const struct stat *st, const struct sftp_attrs *a);

/*
 * Answers a refusal: the status with "PATH: REASON" to the client, one log
 * line "refused OP "PATH": REASON". Returns what the reply returned.
 */
int gate_refuse(struct sftp_session *s, uint32_t id, const char *op, const char *vpath,
		struct gate_verdict v);

#endif
