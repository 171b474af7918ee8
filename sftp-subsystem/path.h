/* SPDX-License-Identifier: MIT */
/*
 * Client paths. A client path is first normalised lexically into a vault
 * path ("/a/b": absolute, no ".", "..", empty components), then resolved
 * inside the root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_SYMLINKS): nothing can leave the root, and no symlink is
 * followed, so the path the policy classifies is the path that is touched.
 * Operations on a name act through the parent directory's fd.
 */
#ifndef SEALVAULT_PATH_H
#define SEALVAULT_PATH_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define VAULT_PATH_MAX		PATH_MAX
/* Directories a client may nest: far beyond any backup tool, well within the quota scan. */
#define VAULT_MAX_DEPTH		128

/* Names starting with this belong to the vault (partial uploads); clients never see or touch them. */
#define VAULT_RESERVED_PREFIX	".sealvault"

/* "x/../y", "/./y/", "y" -> "/y"; ".." stops at "/". -ENAMETOOLONG if out is short. */
int path_normalize(const char *in, char *out, size_t outsize);

/*
 * True if vpath is already clean: absolute, not "/", no empty, "." or ".."
 * component, no trailing '/', every component at most NAME_MAX bytes (what
 * path_normalize() would give back unchanged, for paths a peer sends).
 */
bool path_is_clean(const char *vpath);

/* Number of components of a vault path ("/" has none). */
unsigned path_depth(const char *vpath);

/* True if a component of the vault path starts with VAULT_RESERVED_PREFIX. */
bool path_is_reserved(const char *vpath);
bool name_is_reserved(const char *name);

/* openat2 inside the root; follows symlinks only inside it. Returns an fd or a negative errno. */
int path_open(int root_fd, const char *vpath, int flags, mode_t mode);

/*
 * Opens the directory holding vpath's last component (O_PATH) and points
 * *ret_name into vpath at that component. For "/" returns -EINVAL: the root
 * has no parent the client may touch.
 */
int path_open_parent(int root_fd, const char *vpath, const char **ret_name);

#endif
