/* SPDX-License-Identifier: MIT */
/*
 * Requests that name a path: STAT, LSTAT, SETSTAT, REMOVE, REALPATH, RENAME,
 * READLINK, SYMLINK and the OpenSSH path extensions posix-rename, hardlink
 * and lsetstat.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	if ((v = gate_path(s, GATE_READ, vpath, NULL, NULL)).status != SSH_FX_OK)
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
	if ((v = gate_path(s, GATE_READ, vpath, NULL, NULL)).status != SSH_FX_OK)
		return gate_refuse(s, id, op, vpath, v);
	if (!follow) {
		/* A symlink itself has no attributes the vault lets anyone change. */
		if ((err = lstat_in_root(s, vpath, &st)) < 0)
			return reply_errno(s, id, err, vpath);
		if (S_ISLNK(st.st_mode))
			return gate_refuse(s, id, op, vpath, gate_path(s, GATE_SETSTAT, vpath, &st, &a));
	}
	/* The change goes through an fd of the resolved file, never through a path. */
	fd = path_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW), 0);
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	err = setstat_finished(s, id, op, fd, vpath, &a);
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

static int
process_remove(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct stat st = { 0 };
	int err;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if (!path_is_reserved(vpath) && (err = lstat_in_root(s, vpath, &st)) < 0)
		return reply_errno(s, id, err, vpath);
	return gate_refuse(s, id, "remove", vpath, gate_path(s, GATE_REMOVE, vpath, &st, NULL));
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

static int
rename_common(struct sftp_session *s, uint32_t id, struct reader *r, const char *op)
{
	char from[VAULT_PATH_MAX], to[VAULT_PATH_MAX];
	struct stat st = { 0 };
	int err;

	if ((err = read_path(r, from, sizeof(from))) != 0 || (err = read_path(r, to, sizeof(to))) != 0)
		return err;
	if (path_is_reserved(to))
		return gate_refuse(s, id, op, to, gate_path(s, GATE_RENAME, to, NULL, NULL));
	if (!path_is_reserved(from) && (err = lstat_in_root(s, from, &st)) < 0)
		return reply_errno(s, id, err, from);
	return gate_refuse(s, id, op, from, gate_path(s, GATE_RENAME, from, &st, NULL));
}

static int
process_rename(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return rename_common(s, id, r, "rename");
}

static int
process_posix_rename(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return rename_common(s, id, r, "posix-rename");
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
	if ((v = gate_path(s, GATE_READ, vpath, NULL, NULL)).status != SSH_FX_OK)
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
link_common(struct sftp_session *s, uint32_t id, struct reader *r, const char *op, enum gate_op gop)
{
	char first[VAULT_PATH_MAX], link[VAULT_PATH_MAX];
	int err;

	if ((err = read_path(r, first, sizeof(first))) != 0 || (err = read_path(r, link, sizeof(link))) != 0)
		return err;
	return gate_refuse(s, id, op, link, gate_path(s, gop, link, NULL, NULL));
}

static int
process_symlink(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return link_common(s, id, r, "symlink", GATE_SYMLINK);
}

static int
process_hardlink(struct sftp_session *s, uint32_t id, struct reader *r)
{
	return link_common(s, id, r, "hardlink", GATE_HARDLINK);
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
