/* SPDX-License-Identifier: MIT */
/*
 * Requests that name a path: STAT, LSTAT, SETSTAT, REMOVE, REALPATH, RENAME,
 * READLINK, SYMLINK and the OpenSSH path extensions posix-rename, hardlink
 * and lsetstat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attic.h"
#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

/* lstat() inside the root: the last component is not followed. */
static int
lstat_in_root(struct sftp_session *s, const char *vpath, struct stat *st)
{
	const char *name;
	int parent, err = 0;

	if (strcmp(vpath, "/") == 0)
		return fstat(s->root_fd, st) < 0 ? -errno : 0;
	parent = path_open_parent(s->root_fd, vpath, &name);
	if (parent < 0)
		return parent;
	if (fstatat(parent, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	close(parent);
	return err;
}

static int
stat_common(struct sftp_session *s, uint32_t id, struct reader *r, bool follow)
{
	char vpath[VAULT_PATH_MAX];
	struct gate_verdict v;
	struct stat st;
	int err, fd;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, follow ? "stat" : "lstat", vpath, v);
	if (follow) {
		fd = path_open(s->root_fd, vpath, O_PATH, 0);
		if (fd < 0)
			return reply_errno(s, id, fd, vpath);
		err = fstat(fd, &st) < 0 ? -errno : 0;
		close(fd);
	} else {
		err = lstat_in_root(s, vpath, &st);
	}
	if (err < 0)
		return reply_errno(s, id, err, vpath);
	return reply_attrs(s, id, &st);
}

static int
process_stat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return stat_common(s, id, r, true);
}

static int
process_lstat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return stat_common(s, id, r, false);
}

static int
setstat_common(struct sftp_session *s, uint32_t id, struct reader *r, bool follow)
{
	const char *op = follow ? "setstat" : "lsetstat";
	char vpath[VAULT_PATH_MAX];
	struct sftp_attrs a;
	struct gate_verdict v;
	struct stat st;
	int err, fd;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0 || (err = attrs_decode(r, &a)) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, op, vpath, v);
	/* The vault follows no symlink, and a symlink itself has no attributes anyone may change. */
	if ((err = lstat_in_root(s, vpath, &st)) < 0)
		return reply_errno(s, id, err, vpath);
	if (S_ISLNK(st.st_mode))
		return gate_refuse(s, id, op, vpath, gate_deny("the vault does not follow symbolic links"));
	/* The change goes through an fd of the resolved file, never through a path. */
	fd = path_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW), 0);
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	err = setstat_apply(s, id, op, fd, vpath, &a);
	close(fd);
	return err;
}

static int
process_setstat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return setstat_common(s, id, r, true);
}

static int
process_lsetstat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return setstat_common(s, id, r, false);
}

int
open_entry(struct sftp_session *s, uint32_t id, const char *opname, enum policy_op op,
	   const char *vpath, struct gate_verdict *ret_v, const char **ret_name, struct stat *ret_st)
{
	int parent, err;

	*ret_v = gate_path(s, op, vpath);
	if (path_is_reserved(vpath) || strcmp(vpath, "/") == 0) {
		gate_refuse(s, id, opname, vpath, ret_v->status != SSH_FX_OK ? *ret_v :
			    gate_deny("the vault's root is kept"));
		return -1;
	}
	parent = path_open_parent(s->root_fd, vpath, ret_name);
	if (parent < 0) {
		reply_errno(s, id, parent, vpath);
		return -1;
	}
	/* A missing entry is told apart from a refused one. */
	if (fstatat(parent, *ret_name, ret_st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(parent);
		reply_errno(s, id, err, vpath);
		return -1;
	}
	if (ret_v->status != SSH_FX_OK) {
		close(parent);
		gate_refuse(s, id, opname, vpath, *ret_v);
		return -1;
	}
	return parent;
}

static int
process_remove(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct gate_verdict v;
	const char *name;
	struct stat st;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((parent = open_entry(s, id, "remove", POLICY_OP_REMOVE, vpath, &v, &name, &st)) < 0)
		return 0;
	if (S_ISDIR(st.st_mode))
		err = EISDIR;
	else if (v.action == POLICY_ATTIC)
		err = -engine_attic_move(s, parent, name, vpath);
	else if ((err = unlinkat(parent, name, 0) < 0 ? errno : 0) == 0)
		quota_release(&s->quota, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, 1);
	close(parent);
	if (err != 0)
		return reply_errno(s, id, err, vpath);
	log_line(&s->log, v.action == POLICY_ATTIC ? LOG_NOTICE : LOG_INFO, "remove \"%s\": %s", vpath,
		 v.action == POLICY_ATTIC ? "moved to the attic" : "removed");
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_realpath(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	int err;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	return reply_name(s, id, vpath);
}

/*
 * A rename publishes a temp upload under its final name: only a regular
 * temp file may move (a directory could carry sealed files with it), and
 * the target's class decides. Plain RENAME never replaces (SFTP v3, as
 * OpenSSH); posix-rename replaces what the target's class lets go.
 */
static int
rename_common(struct sftp_session *s, uint32_t id, struct reader *r, const char *op, bool posix)
{
	char from[VAULT_PATH_MAX], to[VAULT_PATH_MAX];
	const char *from_name, *to_name;
	struct gate_verdict v;
	struct stat src, dst;
	bool had_target;
	int err, from_dir = -1, to_dir = -1, ro_fd = -1;

	if ((err = read_path(r, from, sizeof(from))) != 0 || (err = read_path(r, to, sizeof(to))) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_RENAME_FROM, from)).status != SSH_FX_OK && path_is_reserved(from))
		return gate_refuse(s, id, op, from, v);
	if (strcmp(from, "/") == 0 || strcmp(to, "/") == 0)
		return gate_refuse(s, id, op, from, gate_deny("the vault's root is kept"));
	from_dir = path_open_parent(s->root_fd, from, &from_name);
	if (from_dir < 0)
		return reply_errno(s, id, from_dir, from);
	if (fstatat(from_dir, from_name, &src, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(from_dir);
		return reply_errno(s, id, err, from);
	}
	if (v.status != SSH_FX_OK || !S_ISREG(src.st_mode)) {
		close(from_dir);
		return gate_refuse(s, id, op, from, v.status != SSH_FX_OK ? v :
				   gate_deny("only files are renamed in the vault"));
	}
	to_dir = path_open_parent(s->root_fd, to, &to_name);
	if (to_dir < 0) {
		close(from_dir);
		return reply_errno(s, id, to_dir, to);
	}
	/*
	 * This one look at the target decides the call: a name that was free
	 * is only ever taken with RENAME_NOREPLACE, so a file sealed under it
	 * meanwhile is never replaced.
	 */
	had_target = fstatat(to_dir, to_name, &dst, AT_SYMLINK_NOFOLLOW) == 0;
	if (had_target && !posix) {
		/* v3 RENAME never replaces (pgBackRest then removes the old file and renames again). */
		log_line(&s->log, LOG_INFO, "%s \"%s\" to \"%s\": target exists, v3 rename never replaces",
			 op, from, to);
		err = EEXIST;
		goto out;
	}
	if (had_target && dst.st_dev == src.st_dev && dst.st_ino == src.st_ino) {
		err = 0;		/* a file renamed onto itself: nothing happens */
		v = gate_path(s, POLICY_OP_LIST, to);
		goto out;
	}
	v = gate_path(s, had_target ? POLICY_OP_RENAME_TO_EXISTING : POLICY_OP_RENAME_TO_NEW, to);
	if (v.status == SSH_FX_OK && had_target && !S_ISREG(dst.st_mode))
		v = gate_deny("only a file can be replaced");
	if (v.status == SSH_FX_OK && v.cls == POLICY_MUTABLE && v.rule != NULL && v.rule->max_size > 0 &&
	    (uint64_t)src.st_size > v.rule->max_size)
		v = gate_deny("file too large for its kind");
	if (v.status == SSH_FX_OK && !had_target && !mutable_has_room(s, to_dir, to, v))
		v = gate_deny("too many files of this kind");
	if (v.status != SSH_FX_OK) {
		close(from_dir);
		close(to_dir);
		return gate_refuse(s, id, op, to, v);
	}
	if (policy_class_seals(v.cls) && s->hooks.seal != NULL &&
	    (ro_fd = openat(from_dir, from_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		err = errno;
		goto out;
	}
	if (v.action == POLICY_ATTIC) {
		if ((err = -engine_attic_move(s, to_dir, to_name, to)) == 0)
			err = renameat2(from_dir, from_name, to_dir, to_name, RENAME_NOREPLACE) < 0 ? errno : 0;
	} else if (had_target) {
		/* The target's class lets it go (temp, mutable): plain replace. */
		err = renameat(from_dir, from_name, to_dir, to_name) < 0 ? errno : 0;
		if (err == 0)
			quota_release(&s->quota, (uint64_t)dst.st_size, 1);
	} else {
		err = renameat2(from_dir, from_name, to_dir, to_name, RENAME_NOREPLACE) < 0 ? errno : 0;
	}
out:
	close(from_dir);
	close(to_dir);
	if (err != 0) {
		if (ro_fd >= 0)
			close(ro_fd);
		return reply_errno(s, id, err, to);
	}
	log_line(&s->log, LOG_INFO, "%s \"%s\" to \"%s\": stored as %s", op, from, to, policy_class_name(v.cls));
	if (policy_class_seals(v.cls) && (err = seal_fd(s, to, ro_fd)) < 0)
		return reply_not_sealed(s, id, to, err);
	if (ro_fd >= 0 && !policy_class_seals(v.cls))
		close(ro_fd);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_rename(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return rename_common(s, id, r, "rename", false);
}

static int
process_posix_rename(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return rename_common(s, id, r, "posix-rename", true);
}

static int
process_readlink(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX], target[VAULT_PATH_MAX];
	struct gate_verdict v;
	const char *name;
	ssize_t n;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, "readlink", vpath, v);
	parent = path_open_parent(s->root_fd, vpath, &name);
	if (parent < 0)
		return reply_errno(s, id, parent, vpath);
	n = readlinkat(parent, name, target, sizeof(target) - 1);
	err = n < 0 ? errno : 0;
	close(parent);
	if (n < 0)
		return reply_errno(s, id, err, vpath);
	target[n] = '\0';
	return reply_name(s, id, target);
}

/*
 * Links are refused: a symlink could alias or shadow a sealed file, a hard
 * link would give it a second name outside its directory's protection.
 * OpenSSH sends SYMLINK as (target, link) and hardlink as (old, new); the
 * refusal names the link the client tried to create.
 */
static int
link_common(struct sftp_session *s, uint32_t id, struct reader *r, const char *op)
{
	char first[VAULT_PATH_MAX], link[VAULT_PATH_MAX];
	int err;

	if ((err = read_path(r, first, sizeof(first))) != 0 || (err = read_path(r, link, sizeof(link))) != 0)
		return err;
	return gate_refuse(s, id, op, link, gate_path(s, POLICY_OP_LINK, link));
}

static int
process_symlink(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return link_common(s, id, r, "symlink");
}

static int
process_hardlink(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return link_common(s, id, r, "hardlink");
}

const struct sftp_request_type handlers_path[] = {
	{ .name = "lstat", .type = SSH_FXP_LSTAT, .fn = process_lstat },
	{ .name = "stat", .type = SSH_FXP_STAT, .fn = process_stat },
	{ .name = "setstat", .type = SSH_FXP_SETSTAT, .fn = process_setstat },
	{ .name = "remove", .type = SSH_FXP_REMOVE, .fn = process_remove },
	{ .name = "realpath", .type = SSH_FXP_REALPATH, .fn = process_realpath },
	{ .name = "rename", .type = SSH_FXP_RENAME, .fn = process_rename },
	{ .name = "readlink", .type = SSH_FXP_READLINK, .fn = process_readlink },
	{ .name = "symlink", .type = SSH_FXP_SYMLINK, .fn = process_symlink },
	{ .name = "posix-rename", .ext_name = "posix-rename@openssh.com", .ext_version = "1",
	  .fn = process_posix_rename },
	{ .name = "hardlink", .ext_name = "hardlink@openssh.com", .ext_version = "1",
	  .fn = process_hardlink },
	{ .name = "lsetstat", .ext_name = "lsetstat@openssh.com", .ext_version = "1",
	  .fn = process_lsetstat },
	{ 0 },
};
