/* SPDX-License-Identifier: MIT */
/*
 * vaultd's privileges: it starts as root and keeps only the capabilities
 * its work needs (VAULTD_CAPS), clears every other capability from all sets
 * and the bounding set, locks that with securebits, and sets no-new-privs.
 * A drop that cannot be made complete is fatal: vaultd does not run with
 * more than it says.
 */
#ifndef SEALVAULT_PRIVILEGES_H
#define SEALVAULT_PRIVILEGES_H

#include <stddef.h>
#include <sys/capability.h>

/*
 * CAP_LINUX_IMMUTABLE  set FS_IMMUTABLE_FL
 * CAP_SYS_ADMIN        fanotify FID mode + FAN_UNLIMITED_QUEUE, trusted.* xattrs
 * CAP_DAC_READ_SEARCH  open_by_handle_at, reading every tenant's tree
 * CAP_FOWNER           flags, xattrs and ACLs on files vaultd does not own
 * CAP_CHOWN            directory protection: re-own a directory to root
 * CAP_AUDIT_WRITE      AUDIT_USER_MSG to the kernel audit log
 */
extern const cap_value_t vaultd_caps[];
extern const size_t vaultd_n_caps;

/*
 * Keeps exactly keep[0..n) in the permitted and effective sets (inheritable
 * and ambient cleared), drops everything else from the bounding set, sets
 * SECBIT_NOROOT|SECBIT_NO_SETUID_FIXUP (locked) and PR_SET_NO_NEW_PRIVS,
 * then reads the sets back and checks them. Returns 0, or -errno with err
 * filled. The bounding set and securebits need CAP_SETPCAP unless they are
 * already as wanted (systemd's CapabilityBoundingSet= and SecureBits=):
 * without it (not root) returns -EPERM, as when a cap of keep is not
 * permitted or not in the bounding set, before changing anything. Acts on
 * the calling thread only (plain libcap): call it before starting threads.
 */
int privileges_drop(const cap_value_t *keep, size_t n, char *err, size_t errlen);

/* True if the calling thread's effective set holds cap (for "kernel sealing is off" warnings). */
int privileges_have(cap_value_t cap);

#endif
