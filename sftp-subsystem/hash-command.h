/* SPDX-License-Identifier: MIT */
/*
 * The commands a vault answers besides SFTP: "md5sum [PATH]" and
 * "sha1sum [PATH]", which rclone runs after every upload to verify it. The
 * vault computes them itself, read-only, for a path inside the root that
 * the policy lets the client read; no shell is ever involved.
 */
#ifndef SEALVAULT_HASH_COMMAND_H
#define SEALVAULT_HASH_COMMAND_H

#include <stdbool.h>
#include <stdio.h>

struct policy_profile;

enum client_command {
	COMMAND_SFTP,		/* serve SFTP: no command, or the sftp subsystem's */
	COMMAND_HASH,		/* md5sum or sha1sum */
	COMMAND_REFUSED,	/* anything else */
};

struct hash_request {
	bool sha1;		/* else md5 */
	char path[4096];	/* "" for standard input */
};

/*
 * What the client asked sshd to run (SSH_ORIGINAL_COMMAND, or NULL when no
 * ForceCommand replaced anything). The sftp subsystem's own command line
 * (sftp-server, internal-sftp, vault-sftp) counts as SFTP.
 */
enum client_command command_classify(const char *cmd, struct hash_request *ret);

/* Loads the digests before confinement (OpenSSL may read its configuration). 0 or -EIO. */
int hash_prepare(void);

/*
 * Prints "<hex>  <path>" to out, as md5sum does, or an error to err.
 * Returns the exit status (0, or 1).
 */
int hash_command(const struct hash_request *req, int root_fd, const struct policy_profile *prof,
		 bool write_only, FILE *out, FILE *err);

#endif
