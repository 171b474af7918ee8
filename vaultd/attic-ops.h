/* SPDX-License-Identifier: MIT */
/*
 * vaultd's privileged moves into and out of a tenant's attic
 * (<root>/.sealvault/attic/<dir>/<name>~<UTC time>-<hex>, root's, 0700).
 * A sealed file cannot be renamed, even by root, so each move clears the
 * immutable flag for the rename and sets it again wherever the file is
 * then: in the attic, or back where it was if the move failed. The file is
 * root-owned in a root-owned sticky directory first (protect_file), so the
 * tenant cannot swap or replace it in between.
 *
 * Callers: the broker (a versioned file replaced or removed), and the admin
 * requests of the control socket (prune, unlock, restore, purge).
 */
#ifndef SEALVAULT_ATTIC_OPS_H
#define SEALVAULT_ATTIC_OPS_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "tenants.h"

/*
 * Moves fd, the file at vpath in t (st: its fstat), into the attic, sealed
 * and stamped with SEAL_XATTR_ATTIC. Checks right before the move that
 * vpath still names that inode. 0, or -errno with reason filled.
 */
int attic_ops_move(const struct vault_tenant *t, int fd, const struct stat *st, const char *vpath,
		   char *reason, size_t n);

/*
 * Moves the attic entry rel ("d/b.info~20261123T212640Z-b56a3f90", below
 * the attic) back to its vault path ("/d/b.info", returned in vpath),
 * which must be free; it stays sealed. 0, or -errno with reason filled.
 */
int attic_ops_restore(const struct vault_tenant *t, const char *rel, char *vpath, size_t vsize,
		      char *reason, size_t n);

/*
 * Deletes the attic entry rel for good, if it moved into the attic at or
 * before not_after (its SEAL_XATTR_ATTIC stamp). 0, or -errno with reason.
 */
int attic_ops_purge(const struct vault_tenant *t, const char *rel, time_t not_after, uint64_t *ino,
		    char *reason, size_t n);

/* The vault path an attic entry came from: rel without its "~time-hex" suffix, with a '/'. */
int attic_ops_origin(const char *rel, char *vpath, size_t size);

/* A file's stamp (SEAL_XATTR_SEALED or SEAL_XATTR_ATTIC) as time; -1 if none or unreadable. */
time_t attic_ops_stamp(int fd, const char *xattr);

#endif
