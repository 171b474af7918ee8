/* SPDX-License-Identifier: MIT */
/*
 * Uploads never write through a name. The bytes go to a partial file,
 * ".sealvault.part.<16 hex>" in the target's directory; CLOSE publishes it
 * with renameat2(RENAME_NOREPLACE). A re-upload of an existing name is
 * compared byte for byte with what is there.
 */
#ifndef SEALVAULT_UPLOAD_H
#define SEALVAULT_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define UPLOAD_PART_PREFIX	".sealvault.part."
#define UPLOAD_PART_NAME_SIZE	(sizeof(UPLOAD_PART_PREFIX) + 16)
#define UPLOAD_TARGET_XATTR	"user.sealvault.target"

/*
 * Creates a partial file (O_RDWR, O_EXCL, mode 0600) for target_name in
 * parent_fd and records the target in an xattr (best effort: not every
 * filesystem has user xattrs). part_name receives its name. The client's
 * permissions are applied only when it is published: until then the vault
 * must always be able to reopen it for the seal broker. Returns an fd or a
 * negative errno.
 */
int upload_begin(int parent_fd, const char *target_name, bool append,
		 char part_name[UPLOAD_PART_NAME_SIZE]);

/*
 * Copies the existing regular file target_name (never followed through a
 * link) into the partial fd, for a rewrite that keeps what it does not
 * overwrite (APPEND, or WRITE without TRUNC, of a temp or mutable file).
 * Returns the bytes copied or a negative errno.
 */
int64_t upload_copy_existing(int fd, int parent_fd, const char *target_name);

/* renameat2(RENAME_NOREPLACE): 0, -EEXIST if the name exists, or another negative errno. */
int upload_publish(int parent_fd, const char *part_name, const char *target_name);

/*
 * Compares the upload (fd) with the existing target_name in parent_fd.
 * Returns 1 if byte-identical, 0 if not (or the target is no regular file),
 * or a negative errno.
 */
int upload_same_as_existing(int fd, int parent_fd, const char *target_name);

/* Removes a partial file that is no longer needed. */
int upload_discard(int parent_fd, const char *part_name);

/* Leaves an interrupted upload behind, read-only, as evidence. */
void upload_abandon(int fd);

#endif
