/* SPDX-License-Identifier: MIT */
/*
 * The tenant table vaultd works from: each configured tenant with its user
 * resolved to a uid once (not a passwd lookup per request), its root open,
 * its canonical root path and its filesystem. A tenant whose user or root
 * is missing at start is kept with ok=false: it is reported, never sealed
 * for, and the others run.
 */
#ifndef SEALVAULT_TENANTS_H
#define SEALVAULT_TENANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "policy.h"

struct vault_tenant {
	const struct policy_tenant *conf;
	bool ok;		/* user and root found at start */
	char problem[256];	/* why not, when !ok */
	uid_t uid;
	gid_t gid;
	/*
	 * The maintenance user's uid (policy.h: maintenance-user), resolved
	 * once like uid; (uid_t)-1 when there is none, it does not exist, or
	 * it is root or the tenant's own uid. Its peers act for this tenant.
	 */
	uid_t maint_uid;
	int root_fd;		/* O_RDONLY|O_DIRECTORY */
	dev_t dev;
	ino_t root_ino;
	char *root_path;	/* canonical (realpath), no trailing '/' */
	size_t root_len;
	/*
	 * Directories protected lately (by inode, direct-mapped): a seal in one
	 * of them skips protect_parents(). Protected directories are root's:
	 * the tenant cannot rename, replace or unprotect them.
	 */
	ino_t protected_dirs[64];
	/* for status */
	uint64_t sealed, refused, failed;
	time_t last_seal, last_refusal;
	/* What the last full catch-up scan of this tenant found (at == 0: none yet). */
	struct tree_count {
		uint64_t files, bytes, sealed;
		time_t at;
	} tree, tree_acc;
};

struct tenant_table {
	struct vault_tenant *t;
	size_t n;
};

/* Returns 0 or -ENOMEM; tenants that cannot be opened are marked !ok. */
int tenants_open(const struct policy *p, struct tenant_table *tab);
void tenants_close(struct tenant_table *tab);

/*
 * The tenant whose root holds the absolute, canonical path abspath (the
 * longest matching root wins), with *vpath set to the vault path inside
 * abspath ("/" for the root itself). NULL if none.
 */
struct vault_tenant *tenants_by_path(const struct tenant_table *tab, const char *abspath,
				     const char **vpath);

/* The first tenant a peer with uid acts for (as its user or maintenance user); NULL if none. */
struct vault_tenant *tenants_by_uid(const struct tenant_table *tab, uid_t uid);

/* Whether a peer with uid acts for t: t is ok and uid is its user or its maintenance user. */
static inline bool
tenant_serves_uid(const struct vault_tenant *t, uid_t uid)
{
	return t->ok && (t->uid == uid || (t->maint_uid != (uid_t)-1 && t->maint_uid == uid));
}

/* Whether uid is t's maintenance user (who may have sealed files moved into the attic). */
static inline bool
tenant_is_maint_uid(const struct vault_tenant *t, uid_t uid)
{
	return t->ok && t->maint_uid != (uid_t)-1 && t->maint_uid == uid;
}

#endif
