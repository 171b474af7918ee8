/* SPDX-License-Identifier: MIT */
/*
 * The one way vaultd seals a file: broker, watchers and the catch-up scan
 * all end here, with an open O_RDONLY fd of the file (never a path looked
 * up again later) and the vault path that says its class.
 *
 * The seal time is recorded as the xattr SEAL_XATTR_SEALED (decimal Unix
 * time) before the immutable flag: trusted.* needs CAP_SYS_ADMIN, so a
 * tenant can neither forge nor remove it, and once the file is immutable
 * nobody can change it without clearing the flag first. Before that the
 * file is re-owned to root with a read ACL for the tenant, and after it the
 * tenant root and every directory down to the file are protected
 * (protect.h): the tenant can read its file, and nothing more.
 */
#ifndef SEALVAULT_SEAL_H
#define SEALVAULT_SEAL_H

#include <stdbool.h>
#include <sys/stat.h>

#include "tenants.h"

#define SEAL_REASON_MAX	256

enum seal_outcome {
	SEAL_DONE,		/* sealed now */
	SEAL_ALREADY,		/* was already immutable (directories checked again) */
	SEAL_NOT_SEALED_CLASS,	/* policy: this path is not sealed (temp, mutable, ...), or reserved */
	SEAL_REFUSED,		/* not a file vaultd seals: links, type, filesystem */
	SEAL_FAILED,		/* should be sealed and could not be */
};

struct seal_result {
	enum seal_outcome outcome;
	int error;			/* -errno for REFUSED and FAILED */
	char reason[SEAL_REASON_MAX];	/* for all but DONE and ALREADY */
	unsigned dirs_protected;	/* directories changed by protection */
	bool resealed;			/* it had been sealed before: someone cleared the flag */
};

/*
 * fd: an fd of the file (not O_PATH), st its fstat, vpath its clean vault
 * path below t's root. Returns the outcome (also in res->outcome).
 */
enum seal_outcome seal_file(struct vault_tenant *t, int fd, const struct stat *st,
			    const char *vpath, struct seal_result *res);

/* True if vpath's class takes the immutable flag and it is not reserved. */
bool seal_path_wanted(const struct vault_tenant *t, const char *vpath);

#endif
