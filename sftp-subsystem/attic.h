/* SPDX-License-Identifier: MIT */
/*
 * The attic: where versioned files go when a client replaces or removes
 * them, so that nothing is lost. Until vaultd does these moves (and owns the
 * attic outside the root), vault-sftp keeps it inside the root, under the
 * reserved name ".sealvault/attic", where no client request can reach it:
 * "<root>/.sealvault/attic/<dir of the file>/<name>~<UTC time>-<hex>".
 */
#ifndef SEALVAULT_ATTIC_H
#define SEALVAULT_ATTIC_H

#include <stddef.h>

#define ATTIC_DIR	".sealvault/attic"

/*
 * Opens (making as needed, 0700) the attic directory that mirrors vpath's
 * directory, one component at a time below root_fd, never through a link;
 * claim (may be NULL) is called on each component's fd on the way, and its
 * error stops the walk (vaultd takes each directory over there). Returns
 * an O_RDONLY directory fd or -errno.
 */
int attic_open_dir(int root_fd, const char *vpath, int (*claim)(int dirfd));

/* The attic's name for a version of name: "<name>~<UTC time>-<8 hex>", long names cut at the front. */
int attic_entry_name(const char *name, char *out, size_t size);

/*
 * Moves name (in parent_fd, a file at vault path vpath) into the attic.
 * Returns 0 or a negative errno; on failure the file is where it was.
 */
int attic_move(int root_fd, int parent_fd, const char *name, const char *vpath);

#endif
