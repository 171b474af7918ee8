/* SPDX-License-Identifier: MIT */
/*
 * Per-tenant quotas in bytes and in files (every inode: files, directories),
 * checked before anything reaches the disk, so a compromised client cannot
 * fill the disk other tenants' backups need. The kernel in use has no ext4
 * quotas, so the vault keeps its own count.
 *
 * The count starts from a scan of the root when a session opens (the attic
 * and partial uploads included: kept data takes space too) and follows what
 * the session itself does. Sessions of one tenant do not see each other's
 * writes, so N parallel sessions can together pass the quota by at most what
 * each writes; vaultd's ledger will make the count shared.
 */
#ifndef SEALVAULT_QUOTA_H
#define SEALVAULT_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

struct quota {
	uint64_t max_bytes, max_files;	/* 0: no limit */
	uint64_t bytes, files;		/* in use */
};

/*
 * Counts what is under root_fd, down to 256 levels (clients cannot make
 * deeper trees). 0 or a negative errno (the count is then unusable).
 */
int quota_scan(int root_fd, uint64_t *ret_bytes, uint64_t *ret_files);

/* Takes one more file (inode); false if that passes the limit. */
bool quota_take_file(struct quota *q);
/* Takes n more bytes; false if that passes the limit. */
bool quota_take_bytes(struct quota *q, uint64_t n);
/* Gives back what a removed file held. */
void quota_release(struct quota *q, uint64_t bytes, uint64_t files);

#endif
