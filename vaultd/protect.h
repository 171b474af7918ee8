/* SPDX-License-Identifier: MIT */
/*
 * Directory protection: a directory that holds sealed files is taken out
 * of the tenant's hands while the tenant can still create entries in it.
 *
 * Chosen over append-only directories (FS_APPEND_FL) because those refuse
 * every rename out of a directory, which the temp class (restic's
 * *-restic-temp-* and vault-sftp's own partial files, published by a rename
 * within the directory) and the mutable class (restic's locks/) need.
 *
 * A protected directory is owned by root (group kept), has the sticky bit,
 * and an access ACL granting the tenant's uid rwx (mask rwx), and its
 * maintenance user's uid too when it has one (policy.h: maintenance-user,
 * a second uid on the same root; PROTECT_NO_UID when none). So the tenant:
 *   - can create files and directories in it, and rename or remove the
 *     entries it owns (its temp, mutable and in-progress files);
 *   - cannot chmod, chown, rename or remove the directory itself (it is
 *     not the owner, and the parent is sticky and root-owned too), nor
 *     rename or remove root-owned entries; sealed files are immutable
 *     besides, so nobody renames or removes them.
 * The tenant root and every ancestor of a sealed file up to it are
 * protected before the seal is acknowledged.
 */
#ifndef SEALVAULT_PROTECT_H
#define SEALVAULT_PROTECT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* maint_uid when the tenant has no maintenance user. */
#define PROTECT_NO_UID	((uid_t)-1)

/*
 * Protects the directory open at dirfd (O_RDONLY|O_DIRECTORY, not O_PATH)
 * for tenant uid, and for maint_uid unless it is PROTECT_NO_UID (both get
 * the same rwx entry). Idempotent and cheap when already done (one fstat
 * and one ACL read). The ACL entry is added before the chown, so the tenant is
 * never locked out of its directory and a failure before the chown (e.g.
 * EOPNOTSUPP: no ACLs) leaves the directory as it was. Owner, group and
 * other permissions and any other ACL entries are kept; so is S_ISGID
 * where the kernel lets the caller keep it (it is in the directory's group
 * or has CAP_FSETID: vaultd, without CAP_FSETID, loses it on tenant-group
 * directories, and new entries then take the creator's group). *changed
 * (may be NULL) tells whether anything was changed, also on failure.
 * Returns 0, -ENOTDIR (not a directory), -EINVAL (tenant_uid or maint_uid
 * 0, or maint_uid equal to tenant_uid) or -errno.
 */
int protect_dir(int dirfd, uid_t tenant_uid, uid_t maint_uid, bool *changed);

/* True if the directory of st looks protected (root-owned and sticky); no ACL read. */
bool protect_dir_is_done(const struct stat *st);

/*
 * Protects rootfd's directory and each directory of vpath's parent chain
 * ("/a/b/file": the root, a, a/b), opened one component at a time below
 * rootfd with O_NOFOLLOW (a symlink component fails with ELOOP). *n_changed
 * (may be NULL) counts the directories changed, also those changed before
 * a failure. A vpath that is not absolute and clean (an empty, "." or ".."
 * component, a trailing '/') gives -EINVAL before anything is touched.
 * Returns 0 or -errno, stopping at the first failure.
 */
int protect_parents(int rootfd, const char *vpath, uid_t tenant_uid, uid_t maint_uid, unsigned *n_changed);

/*
 * Protects rootfd's directory and every directory below it, for a
 * maintenance session about to start: the maintenance user must reach the
 * directories the tenant made, which nothing protected yet (restic's
 * locks/, data/XX without a pack). Never follows a link, never leaves
 * rootfd's filesystem, skips names starting with ".sealvault" (the attic,
 * partial uploads) and stops descending at depth PROTECT_TREE_DEPTH.
 * *n_changed (may be NULL) counts the directories changed. A directory it
 * cannot protect is left, with what is below it, and the walk goes on;
 * returns 0 or the first -errno.
 */
#define PROTECT_TREE_DEPTH	128
int protect_tree(int rootfd, uid_t tenant_uid, uid_t maint_uid, unsigned *n_changed);

/*
 * Takes a file about to be sealed out of the tenant's hands: owned by
 * root (group kept), with an ACL entry letting the tenant's uid read it
 * (and maint_uid, unless PROTECT_NO_UID).
 * So even while vaultd clears the immutable flag to move the file into
 * the attic, the tenant (not its owner, in a sticky root-owned directory)
 * cannot rename or replace it. fd: an O_RDONLY fd of the file. 0 or -errno.
 */
int protect_file(int fd, uid_t tenant_uid, uid_t maint_uid);

#endif
