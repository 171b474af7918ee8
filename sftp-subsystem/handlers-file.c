/* SPDX-License-Identifier: MIT */
/* OPEN, CLOSE, READ, WRITE, FSTAT, FSETSTAT: uploads and reads of files. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"
#include "status.h"
#include "upload.h"

static void
describe_pflags(uint32_t pflags, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s%s%s%s",
		 pflags & SSH_FXF_READ ? "READ," : "", pflags & SSH_FXF_WRITE ? "WRITE," : "",
		 pflags & SSH_FXF_APPEND ? "APPEND," : "", pflags & SSH_FXF_CREAT ? "CREAT," : "",
		 pflags & SSH_FXF_TRUNC ? "TRUNC," : "", pflags & SSH_FXF_EXCL ? "EXCL," : "");
	if (out[0] != '\0')
		out[strlen(out) - 1] = '\0';
}

struct handle *
new_path_handle(struct sftp_session *s, enum handle_kind kind, const char *vpath, int *ret_err)
{
	struct handle *h = handle_new(&s->handles, kind);

	*ret_err = 0;
	if (h == NULL) {
		*ret_err = s->handles.in_use >= s->handles.max ? -EMFILE : -ENOMEM;
		return NULL;
	}
	h->path = strdup(vpath);
	if (h->path == NULL) {
		handle_free(&s->handles, h);
		*ret_err = -ENOMEM;
		return NULL;
	}
	return h;
}

int
reply_handle_error(struct sftp_session *s, uint32_t id, int err)
{
	if (err != -EMFILE)
		return reply_errno(s, id, err, NULL);
	log_line(&s->log, LOG_NOTICE, "open handle limit (%u) reached", s->handles.max);
	return reply_status(s, id, SSH_FX_FAILURE, "too many open handles");
}

/* An existing file, for reading. Only regular files: opening a FIFO would hang the session. */
static int
open_for_reading(struct sftp_session *s, uint32_t id, const char *vpath)
{
	struct handle *h;
	struct stat st;
	int fd, err;

	fd = path_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ENXIO)	/* a socket, reached through a symlink */
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
	}
	h = new_path_handle(s, HANDLE_FILE, vpath, &err);
	if (h == NULL) {
		close(fd);
		return reply_handle_error(s, id, err);
	}
	h->fd = fd;
	return reply_handle(s, id, h);
}

/* A new upload into a partial file; parent_fd is handed over. */
static int
open_upload(struct sftp_session *s, uint32_t id, const char *vpath, int parent_fd,
	    const char *name, uint32_t pflags, const struct sftp_attrs *a, const struct stat *existing,
	    struct gate_verdict v)
{
	mode_t mode = a->flags & SSH_FILEXFER_ATTR_PERMISSIONS ? a->perm & 0777 : 0666;
	struct handle *h;
	int fd;

	h = new_path_handle(s, HANDLE_UPLOAD, vpath, &fd);
	if (h == NULL) {
		close(parent_fd);
		return reply_handle_error(s, id, fd);
	}
	h->parent_fd = parent_fd;
	h->target_name = h->path + (name - vpath);
	/* The partial file is a new inode whatever becomes of it. */
	if (!quota_take_file(&s->quota)) {
		handle_free(&s->handles, h);
		return reply_quota(s, id, vpath, "files");
	}
	h->mode = mode & VAULT_MODE_MASK;
	h->cls = v.cls;
	h->rule = v.rule;
	h->readable = pflags & SSH_FXF_READ;
	h->existed = existing != NULL;
	h->append = pflags & SSH_FXF_APPEND;
	fd = upload_begin(parent_fd, name, h->append, h->part_name);
	if (fd < 0) {
		quota_release(&s->quota, 0, 1);
		h->part_name[0] = '\0';
		handle_free(&s->handles, h);
		return reply_errno(s, id, fd, vpath);
	}
	h->fd = fd;
	/*
	 * A temp or mutable file rewritten without TRUNC keeps what is not
	 * overwritten: the partial starts as a copy. Never an fd on the named
	 * file itself, so nothing written later can reach a file that a
	 * rename has meanwhile published as sealed.
	 */
	if (existing != NULL && v.action == POLICY_ALLOW && !(pflags & SSH_FXF_TRUNC)) {
		int64_t n;

		if (!quota_take_bytes(&s->quota, (uint64_t)existing->st_size)) {
			handle_free(&s->handles, h);
			return reply_quota(s, id, vpath, "bytes");
		}
		n = upload_copy_existing(fd, parent_fd, name);
		if (n < 0) {
			quota_release(&s->quota, (uint64_t)existing->st_size, 0);
			handle_free(&s->handles, h);
			return reply_errno(s, id, (int)n, vpath);
		}
		quota_release(&s->quota, (uint64_t)existing->st_size - (uint64_t)n, 0);
		h->size = (uint64_t)n;
	}
	return reply_handle(s, id, h);
}

static int
open_new(struct sftp_session *s, uint32_t id, const char *vpath, int parent_fd, const char *name,
	 uint32_t pflags, const struct sftp_attrs *a)
{
	struct gate_verdict v;

	if (!(pflags & SSH_FXF_CREAT)) {
		close(parent_fd);
		return reply_errno(s, id, ENOENT, vpath);
	}
	v = gate_path(s, POLICY_OP_CREATE, vpath);
	if (v.status != SSH_FX_OK) {
		close(parent_fd);
		return gate_refuse(s, id, "create", vpath, v);
	}
	if (!mutable_has_room(s, parent_fd, vpath, v)) {
		close(parent_fd);
		return gate_refuse(s, id, "create", vpath, gate_deny("too many files of this kind"));
	}
	return open_upload(s, id, vpath, parent_fd, name, pflags, a, NULL, v);
}

/* The name exists: a sealed file is never opened for writing, whatever the flags. */
static int
open_existing(struct sftp_session *s, uint32_t id, const char *vpath, int parent_fd, const char *name,
	      uint32_t pflags, const struct sftp_attrs *a, const struct stat *st)
{
	struct gate_verdict v;
	const char *op;

	if ((pflags & (SSH_FXF_CREAT | SSH_FXF_EXCL)) == (SSH_FXF_CREAT | SSH_FXF_EXCL)) {
		close(parent_fd);
		return reply_errno(s, id, EEXIST, vpath);
	}
	if (!(pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND | SSH_FXF_TRUNC))) {
		close(parent_fd);
		v = gate_path(s, POLICY_OP_READ, vpath);
		if (v.status != SSH_FX_OK)
			return gate_refuse(s, id, "read", vpath, v);
		/* Never open a FIFO, socket or device: it could block or do anything. */
		if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
			return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
		return open_for_reading(s, id, vpath);
	}
	if (S_ISDIR(st->st_mode)) {
		close(parent_fd);
		return reply_errno(s, id, EISDIR, vpath);
	}
	if (pflags & SSH_FXF_APPEND) {
		op = "append";
		v = gate_path(s, POLICY_OP_APPEND, vpath);
	} else if (pflags & SSH_FXF_WRITE) {
		op = "overwrite";
		v = gate_path(s, POLICY_OP_REPLACE, vpath);
	} else {
		op = "truncate";
		v = gate_path(s, POLICY_OP_TRUNCATE, vpath);
	}
	if (v.status != SSH_FX_OK) {
		close(parent_fd);
		return gate_refuse(s, id, op, vpath, v);
	}
	/*
	 * Sealed: compared at CLOSE. Versioned: the old one goes to the attic
	 * at CLOSE. Temp and mutable: replaced at CLOSE.
	 */
	if (v.action == POLICY_ALLOW && (!S_ISREG(st->st_mode) || st->st_nlink != 1)) {
		close(parent_fd);
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file with a single name");
	}
	return open_upload(s, id, vpath, parent_fd, name, pflags, a, st, v);
}

static int
process_open(struct sftp_session *s, uint32_t id, struct reader *r)
{
	char vpath[VAULT_PATH_MAX], flags[64];
	struct sftp_attrs a;
	struct gate_verdict v;
	const char *name;
	uint32_t pflags;
	struct stat st;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0 ||
	    (err = reader_u32(r, &pflags)) != 0 ||
	    (err = attrs_decode(r, &a)) != 0)
		return err;
	describe_pflags(pflags, flags, sizeof(flags));
	log_line(&s->log, LOG_INFO, "open \"%s\" flags %s", vpath, flags);

	if ((v = gate_path(s, POLICY_OP_LIST, vpath)).status != SSH_FX_OK)
		return gate_refuse(s, id, "open", vpath, v);
	if (strcmp(vpath, "/") == 0)
		return reply_errno(s, id, EISDIR, vpath);
	parent = path_open_parent(s->root_fd, vpath, &name);
	if (parent < 0)
		return reply_errno(s, id, parent, vpath);
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return open_existing(s, id, vpath, parent, name, pflags, &a, &st);
	err = errno;
	if (err != ENOENT) {
		close(parent);
		return reply_errno(s, id, err, vpath);
	}
	return open_new(s, id, vpath, parent, name, pflags, &a);
}

static int
process_close(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	int err;

	if ((h = request_handle(s, id, r, &err)) == NULL)
		return err;
	if (h->kind == HANDLE_UPLOAD)
		return upload_close(s, id, h);
	log_line(&s->log, LOG_INFO, "close \"%s\": %llu bytes read", h->path,
		 (unsigned long long)h->bytes_read);
	handle_free(&s->handles, h);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_read(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	struct reply rp;
	uint64_t offset;
	uint32_t len;
	uint8_t *p;
	ssize_t n;
	int err;

	h = read_handle(s, r, &err);
	if (err != 0 || (err = reader_u64(r, &offset)) != 0 || (err = reader_u32(r, &len)) != 0)
		return err;
	if (h == NULL || h->kind == HANDLE_DIR)
		return reply_bad_handle(s, id);
	if (h->kind == HANDLE_UPLOAD && !h->readable)
		return reply_status(s, id, SSH_FX_PERMISSION_DENIED, "handle not opened for reading");
	if (offset > INT64_MAX)
		return reply_status(s, id, SSH_FX_EOF, NULL);
	if (len > SFTP_MAX_RW_LENGTH)
		len = SFTP_MAX_RW_LENGTH;

	if ((err = reply_begin(s, &rp, SSH_FXP_DATA, id)) != 0)
		goto fatal;
	p = buf_reserve(&s->out, 4 + (size_t)len, &err);
	if (p == NULL)
		goto fatal;
	do {
		n = pread(h->fd, p + 4, len, (off_t)offset);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		err = n < 0 ? -errno : 0;
		reply_abort(s, &rp);
		if (n == 0)
			return reply_status(s, id, SSH_FX_EOF, NULL);
		return reply_errno(s, id, err, h->path);
	}
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	buf_commit(&s->out, 4 + (size_t)n);
	h->bytes_read += (uint64_t)n;
	return reply_end(s, &rp);
fatal:
	return reply_fatal(s, &rp, err);
}

static bool
mutable_too_large(const struct handle *h, uint64_t size)
{
	return h->cls == POLICY_MUTABLE && h->rule != NULL && h->rule->max_size > 0 &&
	       size > h->rule->max_size;
}

static int
write_all(int fd, const uint8_t *p, size_t n, uint64_t offset)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)offset);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		offset += (uint64_t)w;
	}
	return 0;
}

static int
process_write(struct sftp_session *s, uint32_t id, struct reader *r)
{
	const uint8_t *data;
	struct handle *h;
	uint64_t offset, end, growth;
	size_t len;
	int err;

	h = read_handle(s, r, &err);
	if (err != 0 || (err = reader_u64(r, &offset)) != 0 ||
	    (err = reader_string(r, &data, &len)) != 0)
		return err;
	if (h == NULL || h->kind == HANDLE_DIR)
		return reply_bad_handle(s, id);
	if (h->kind != HANDLE_UPLOAD)
		return gate_refuse(s, id, "write", h->path,
				   gate_deny("opened for reading, write-once vault refuses writes"));
	if (offset > INT64_MAX - len) {
		h->failed = true;
		return reply_errno(s, id, EFBIG, h->path);
	}
	end = h->append ? h->size + len : offset + len;
	if (mutable_too_large(h, end)) {
		h->failed = true;
		return gate_refuse(s, id, "write", h->path, gate_deny("file too large for its kind"));
	}
	growth = end > h->size ? end - h->size : 0;
	if (!quota_take_bytes(&s->quota, growth)) {
		h->failed = true;
		return reply_quota(s, id, h->path, "bytes");
	}
	err = write_all(h->fd, data, len, offset);
	if (err < 0) {
		quota_release(&s->quota, growth, 0);
		/* Whatever failed, the file is no longer what the client sent: never publish it. */
		h->failed = true;
		log_line(&s->log, LOG_NOTICE, "write \"%s\" at %llu failed: %s", h->path,
			 (unsigned long long)offset, status_errno_text(err));
		return reply_errno(s, id, err, h->path);
	}
	h->bytes_written += len;
	if (end > h->size)
		h->size = end;
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
handle_fd(const struct handle *h)
{
	return h->kind == HANDLE_DIR ? dirfd(h->dir) : h->fd;
}

static int
process_fstat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	struct stat st;
	int err;

	if ((h = request_handle(s, id, r, &err)) == NULL)
		return err;
	if (fstat(handle_fd(h), &st) < 0)
		return reply_errno(s, id, errno, h->path);
	return reply_attrs(s, id, &st);
}

int
setstat_apply(struct sftp_session *s, uint32_t id, const char *op, int fd,
	      const char *vpath, const struct sftp_attrs *a)
{
	struct sftp_attrs apply;
	struct gate_verdict v;
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return reply_errno(s, id, errno, vpath);
	v = gate_setstat(s, vpath, &st, a, &apply);
	if (v.status != SSH_FX_OK)
		return gate_refuse(s, id, op, vpath, v);
	if ((err = attrs_apply(fd, &apply)) != 0)
		return reply_errno(s, id, err, vpath);
	if (v.action == POLICY_IGNORE)
		log_line(&s->log, LOG_INFO, "%s \"%s\": %s", op, vpath, v.reason);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_fsetstat(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct sftp_attrs a;
	struct handle *h;
	int err;

	h = read_handle(s, r, &err);
	if (err != 0 || (err = attrs_decode(r, &a)) != 0)
		return err;
	if (h == NULL)
		return reply_bad_handle(s, id);
	if (h->kind != HANDLE_UPLOAD)
		return setstat_apply(s, id, "fsetstat", handle_fd(h), h->path, &a);
	/* The file is still being written: its attributes are the client's to set, except owners. */
	if (a.flags & SSH_FILEXFER_ATTR_UIDGID)
		return gate_refuse(s, id, "fsetstat", h->path, gate_deny("the vault sets file ownership"));
	/* Permissions wait for CLOSE: the partial must stay readable for the seal broker. */
	if (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS) {
		h->mode = a.perm & VAULT_MODE_MASK;
		a.flags &= ~SSH_FILEXFER_ATTR_PERMISSIONS;
	}
	if (a.flags & SSH_FILEXFER_ATTR_SIZE && mutable_too_large(h, a.size))
		return gate_refuse(s, id, "fsetstat", h->path, gate_deny("file too large for its kind"));
	if (a.flags & SSH_FILEXFER_ATTR_SIZE && a.size > h->size &&
	    !quota_take_bytes(&s->quota, a.size - h->size))
		return reply_quota(s, id, h->path, "bytes");
	if ((err = attrs_apply(h->fd, &a)) != 0) {
		if (a.flags & SSH_FILEXFER_ATTR_SIZE && a.size > h->size)
			quota_release(&s->quota, a.size - h->size, 0);
		return reply_errno(s, id, err, h->path);
	}
	if (a.flags & SSH_FILEXFER_ATTR_SIZE) {
		if (a.size < h->size)
			quota_release(&s->quota, h->size - a.size, 0);
		h->size = a.size;
	}
	return reply_status(s, id, SSH_FX_OK, NULL);
}

const struct sftp_request_type handlers_file[] = {
	{ .name = "open", .type = SSH_FXP_OPEN, .fn = process_open },
	{ .name = "close", .type = SSH_FXP_CLOSE, .fn = process_close },
	{ .name = "read", .type = SSH_FXP_READ, .fn = process_read },
	{ .name = "write", .type = SSH_FXP_WRITE, .fn = process_write },
	{ .name = "fstat", .type = SSH_FXP_FSTAT, .fn = process_fstat },
	{ .name = "fsetstat", .type = SSH_FXP_FSETSTAT, .fn = process_fsetstat },
	{ 0 },
};
