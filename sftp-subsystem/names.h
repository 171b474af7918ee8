/* SPDX-License-Identifier: MIT */
/* The uid/gid-to-name table a session was given (looked up before confinement). */
#ifndef SEALVAULT_NAMES_H
#define SEALVAULT_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct names {
	struct sftp_id_name *users;
	size_t n_users;
	struct sftp_id_name *groups;
	size_t n_groups;
};

/* Deep copy; -ENOMEM. */
int names_copy(struct names *n, const struct sftp_session_config *cfg);
void names_release(struct names *n);
/* NULL if unknown. */
const char *names_user(const struct names *n, uint32_t uid);
const char *names_group(const struct names *n, uint32_t gid);

#endif
