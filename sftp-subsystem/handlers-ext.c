/* SPDX-License-Identifier: MIT */
/*
 * OpenSSH extensions that only report or flush: statvfs, fstatvfs, fsync,
 * limits, expand-path, home-directory, users-groups-by-id. (The path
 * extensions that could change the tree live with their core requests.)
 * copy-data is not offered: nothing needs it, and each new way to write is a
 * new way to get the write-once rules wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

/* users-groups-by-id: ids per request at most; a reply of that many names still fits. */
#define MAX_ID_LOOKUPS	256

static int
reply_statvfs(struct sftp_session *s, uint32_t id, const struct statvfs *st)
{
	uint64_t flag = (st->f_flag & ST_RDONLY ? SSH_FXE_STATVFS_ST_RDONLY : 0) |
			(st->f_flag & ST_NOSUID ? SSH_FXE_STATVFS_ST_NOSUID : 0);
	const uint64_t v[] = {
		st->f_bsize, st->f_frsize, st->f_blocks, st->f_bfree, st->f_bavail,
		st->f_files, st->f_ffree, st->f_favail, st->f_fsid, flag, st->f_namemax,
	};
	struct reply rp;
	int err;

	if ((err = reply_begin(s, &rp, SSH_FXP_EXTENDED_REPLY, id)) != 0)
		goto fatal;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if ((err = buf_put_u64(&s->out, v[i])) != 0)
			goto fatal;
	return reply_end(s, &rp);
fatal:
	return reply_fatal(s, &rp, err);
}

static int
process_statvfs(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct gate_verdict v;
	struct statvfs st;
	int err, fd;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, "statvfs", vpath, v);
	fd = path_open(s->root_fd, vpath, O_PATH, 0);
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	err = fstatvfs(fd, &st) < 0 ? errno : 0;
	close(fd);
	if (err != 0)
		return reply_errno(s, id, err, vpath);
	return reply_statvfs(s, id, &st);
}

static int
fd_of(const struct handle *h)
{
	return h->kind == HANDLE_DIR ? dirfd(h->dir) : h->fd;
}

static int
process_fstatvfs(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct statvfs st;
	struct handle *h;
	int err;

	if ((h = request_handle(s, id, r, &err)) == NULL)
		return err;
	if (fstatvfs(fd_of(h), &st) < 0)
		return reply_errno(s, id, errno, h->path);
	return reply_statvfs(s, id, &st);
}

static int
process_fsync(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	int err;

	if ((h = request_handle(s, id, r, &err)) == NULL)
		return err;
	if (fsync(fd_of(h)) < 0)
		return reply_errno(s, id, errno, h->path);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_limits(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct reply rp;
	int err;

	if ((err = reply_begin(s, &rp, SSH_FXP_EXTENDED_REPLY, id)) != 0 ||
	    (err = buf_put_u64(&s->out, SFTP_MAX_PACKET)) != 0 ||
	    (err = buf_put_u64(&s->out, SFTP_MAX_RW_LENGTH)) != 0 ||
	    (err = buf_put_u64(&s->out, SFTP_MAX_RW_LENGTH)) != 0 ||
	    (err = buf_put_u64(&s->out, s->handles.max)) != 0) {
		return reply_fatal(s, &rp, err);
	}
	return reply_end(s, &rp);
}

/* The client's home is the root: "~" and "~/x" expand there; "~user" names nobody here. */
static int
process_expand_path(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char raw[VAULT_PATH_MAX], vpath[VAULT_PATH_MAX];
	const char *p = raw;
	int err;

	if ((err = reader_cstring(r, raw, sizeof(raw))) != 0)
		return err;
	if (raw[0] == '~') {
		if (raw[1] != '\0' && raw[1] != '/')
			return reply_status(s, id, SSH_FX_NO_SUCH_FILE, "no such user");
		p = raw + 1;
	}
	if ((err = path_normalize(p, vpath, sizeof(vpath))) != 0)
		return err;
	return reply_name(s, id, vpath);
}

static int
process_home_directory(struct sftp_session *s, uint32_t id, struct reader *r)
{
	const uint8_t *user;
	size_t n;
	int err;

	/* Whoever is asked about, the only home a vault client has is its root. */
	if ((err = reader_string(r, &user, &n)) != 0)
		return err;
	return reply_name(s, id, "/");
}

static int
put_names(struct sftp_session *s, const uint8_t *ids, size_t n, bool users)
{
	size_t at = buf_len(&s->out);
	int err;

	if ((err = buf_put_u32(&s->out, 0)) != 0)
		return err;
	for (size_t i = 0; i + 4 <= n; i += 4) {
		uint32_t xid = peek_u32(ids + i);
		const char *name = users ? names_user(&s->names, xid) : names_group(&s->names, xid);

		if ((err = buf_put_cstring(&s->out, name != NULL ? name : "")) != 0)
			return err;
	}
	buf_poke_u32(&s->out, at, (uint32_t)(buf_len(&s->out) - at - 4));
	return 0;
}

static int
process_users_groups_by_id(struct sftp_session *s, uint32_t id, struct reader *r)
{
	const uint8_t *uids, *gids;
	size_t nu, ng;
	struct reply rp;
	int err;

	if ((err = reader_string(r, &uids, &nu)) != 0 || (err = reader_string(r, &gids, &ng)) != 0)
		return err;
	if (nu % 4 != 0 || ng % 4 != 0)
		return -EBADMSG;
	if (nu / 4 > MAX_ID_LOOKUPS || ng / 4 > MAX_ID_LOOKUPS)
		return reply_status(s, id, SSH_FX_FAILURE, "too many ids in one request");
	if ((err = reply_begin(s, &rp, SSH_FXP_EXTENDED_REPLY, id)) != 0 ||
	    (err = put_names(s, uids, nu, true)) != 0 ||
	    (err = put_names(s, gids, ng, false)) != 0) {
		return reply_fatal(s, &rp, err);
	}
	return reply_end(s, &rp);
}

const struct sftp_request_type handlers_ext[] = {
	{ .name = "statvfs", .ext_name = "statvfs@openssh.com", .ext_version = "2",
	  .fn = process_statvfs },
	{ .name = "fstatvfs", .ext_name = "fstatvfs@openssh.com", .ext_version = "2",
	  .fn = process_fstatvfs },
	{ .name = "fsync", .ext_name = "fsync@openssh.com", .ext_version = "1",
	  .fn = process_fsync },
	{ .name = "limits", .ext_name = "limits@openssh.com", .ext_version = "1",
	  .fn = process_limits },
	{ .name = "expand-path", .ext_name = "expand-path@openssh.com", .ext_version = "1",
	  .fn = process_expand_path },
	{ .name = "home-directory", .ext_name = "home-directory", .ext_version = "1",
	  .fn = process_home_directory },
	{ .name = "users-groups-by-id", .ext_name = "users-groups-by-id@openssh.com",
	  .ext_version = "1", .fn = process_users_groups_by_id },
	{ 0 },
};
