/* SPDX-License-Identifier: MIT */
/* OPENDIR, READDIR, MKDIR, RMDIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

/* Entries per READDIR reply, as OpenSSH; each is well under 1 KiB, so a batch always fits. */
#define READDIR_BATCH 100

static int
process_opendir(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct gate_verdict v;
	struct handle *h;
	DIR *dir;
	int err, fd;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, "opendir", vpath, v);
	fd = path_open(s->root_fd, vpath, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	dir = fdopendir(fd);
	if (dir == NULL) {
		err = errno;
		close(fd);
		return reply_errno(s, id, err, vpath);
	}
	h = new_path_handle(s, HANDLE_DIR, vpath, &err);
	if (h == NULL) {
		closedir(dir);
		return reply_handle_error(s, id, err);
	}
	h->dir = dir;
	return reply_handle(s, id, h);
}

static int
put_entry(struct sftp_session *s, DIR *dir, const char *name)
{
	char longname[512];
	struct sftp_attrs a;
	struct stat st;
	int err;

	if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;	/* gone since readdir: skip it */
	attrs_from_stat(&st, &a);
	attrs_longname(longname, sizeof(longname), name, &st, names_user(&s->names, st.st_uid),
		       names_group(&s->names, st.st_gid));
	if ((err = buf_put_cstring(&s->out, name)) != 0 ||
	    (err = buf_put_cstring(&s->out, longname)) != 0 ||
	    (err = attrs_encode(&s->out, &a)) != 0)
		return err;
	return 0;
}

static bool
entry_denied(const struct sftp_session *s, const char *dir, const char *name)
{
	char vpath[VAULT_PATH_MAX];

	if (s->profile == NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	if ((size_t)snprintf(vpath, sizeof(vpath), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name) >=
	    sizeof(vpath))
		return false;
	return policy_classify(s->profile, vpath) == POLICY_DENY;
}

static int
process_readdir(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	struct reply rp;
	size_t count_at;
	uint32_t count = 0;
	int err;

	if ((h = request_handle(s, id, r, &err)) == NULL)
		return err;
	if (h->kind != HANDLE_DIR)
		return reply_bad_handle(s, id);
	if ((err = reply_begin(s, &rp, SSH_FXP_NAME, id)) != 0)
		goto fatal;
	count_at = buf_len(&s->out) - rp.start;
	if ((err = buf_put_u32(&s->out, 0)) != 0)
		goto fatal;
	while (count < READDIR_BATCH) {
		struct dirent *de;

		errno = 0;
		de = readdir(h->dir);
		if (de == NULL) {
			if (errno != 0 && count == 0) {
				err = errno;
				reply_abort(s, &rp);
				return reply_errno(s, id, err, h->path);
			}
			break;
		}
		/* Partial uploads, the vault's own names and denied paths are not the client's. */
		if (name_is_reserved(de->d_name) || entry_denied(s, h->path, de->d_name))
			continue;
		err = put_entry(s, h->dir, de->d_name);
		if (err < 0)
			goto fatal;
		if (err == 0)
			count++;
	}
	if (count == 0) {
		reply_abort(s, &rp);
		return reply_status(s, id, SSH_FX_EOF, NULL);
	}
	buf_poke_u32(&s->out, rp.start + count_at, count);
	return reply_end(s, &rp);
fatal:
	return reply_fatal(s, &rp, err);
}

static int
process_mkdir(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct sftp_attrs a;
	struct gate_verdict v;
	const char *name;
	mode_t mode;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0 || (err = attrs_decode(r, &a)) != 0)
		return err;
	if ((v = gate_path(s, POLICY_OP_MKDIR, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, "mkdir", vpath, v);
	if (strcmp(vpath, "/") == 0)
		return reply_errno(s, id, EEXIST, vpath);
	if (path_depth(vpath) > VAULT_MAX_DEPTH)
		return gate_refuse(s, id, "mkdir", vpath, gate_deny("directories nest too deep"));
	parent = path_open_parent(s->root_fd, vpath, &name);
	if (parent < 0)
		return reply_errno(s, id, parent, vpath);
	mode = (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS ? a.perm : 0777) & VAULT_MODE_MASK;
	if (!quota_take_file(&s->quota)) {
		close(parent);
		return reply_quota(s, id, vpath, "files");
	}
	err = mkdirat(parent, name, mode) < 0 ? errno : 0;
	close(parent);
	if (err != 0) {
		quota_release(&s->quota, 0, 1);
		return reply_errno(s, id, err, vpath);
	}
	log_line(&s->log, LOG_INFO, "mkdir \"%s\" mode 0%o", vpath, (unsigned)mode);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_rmdir(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX];
	struct gate_verdict v;
	const char *name;
	struct stat st;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0)
		return err;
	if ((parent = open_entry(s, id, "rmdir", POLICY_OP_RMDIR, vpath, &v, &name, &st)) < 0)
		return 0;
	err = unlinkat(parent, name, AT_REMOVEDIR) < 0 ? errno : 0;
	close(parent);
	if (err != 0)
		return reply_errno(s, id, err, vpath);
	quota_release(&s->quota, 0, 1);
	log_line(&s->log, LOG_INFO, "rmdir \"%s\"", vpath);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

const struct sftp_request_type handlers_dir[] = {
	{ .name = "opendir", .type = SSH_FXP_OPENDIR, .fn = process_opendir },
	{ .name = "readdir", .type = SSH_FXP_READDIR, .fn = process_readdir },
	{ .name = "mkdir", .type = SSH_FXP_MKDIR, .fn = process_mkdir },
	{ .name = "rmdir", .type = SSH_FXP_RMDIR, .fn = process_rmdir },
	{ 0 },
};
