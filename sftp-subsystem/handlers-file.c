/* SPDX-License-Identifier: MIT */
/* OPEN, CLOSE, READ, WRITE, FSTAT, FSETSTAT: uploads and reads of files. */
#include <errno.h>
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

static int
reply_no_handles(struct sftp_session *s, uint32_t id)
{
	log_line(&s->log, LOG_NOTICE, "open handle limit (%u) reached", s->handles.max);
	return reply_status(s, id, SSH_FX_FAILURE, "too many open handles");
}

/* An existing file, for reading. Only regular files: opening a FIFO would hang the session. */
static int
open_for_reading(struct sftp_session *s, uint32_t id, const char *vpath)
{
	struct handle *h;
	struct stat st;
	int fd;

	fd = path_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ENXIO)	/* a socket, reached through a symlink */
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
	if (fd < 0)
		return reply_errno(s, id, fd, vpath);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
	}
	h = handle_new(&s->handles, HANDLE_FILE);
	if (h == NULL) {
		close(fd);
		return reply_no_handles(s, id);
	}
	h->fd = fd;
	h->path = strdup(vpath);
	if (h->path == NULL) {
		handle_free(&s->handles, h);
		return reply_errno(s, id, ENOMEM, NULL);
	}
	return reply_handle(s, id, h);
}

/* A new upload into a partial file; parent_fd is handed over. */
static int
open_upload(struct sftp_session *s, uint32_t id, const char *vpath, int parent_fd,
	    const char *name, uint32_t pflags, const struct sftp_attrs *a, bool existed)
{
	mode_t mode = a->flags & SSH_FILEXFER_ATTR_PERMISSIONS ? a->perm & 0777 : 0666;
	struct handle *h;
	int fd;

	h = handle_new(&s->handles, HANDLE_UPLOAD);
	if (h == NULL) {
		close(parent_fd);
		return reply_no_handles(s, id);
	}
	h->parent_fd = parent_fd;
	h->path = strdup(vpath);
	if (h->path == NULL) {
		handle_free(&s->handles, h);
		return reply_errno(s, id, ENOMEM, NULL);
	}
	h->target_name = h->path + (name - vpath);
	h->mode = mode & VAULT_MODE_MASK;
	h->readable = pflags & SSH_FXF_READ;
	h->existed = existed;
	fd = upload_begin(parent_fd, name, pflags & SSH_FXF_APPEND, h->part_name);
	if (fd < 0) {
		h->part_name[0] = '\0';
		handle_free(&s->handles, h);
		return reply_errno(s, id, fd, vpath);
	}
	h->fd = fd;
	return reply_handle(s, id, h);
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
	bool exists;
	int err, parent;

	if ((err = read_path(r, vpath, sizeof(vpath))) != 0 ||
	    (err = reader_u32(r, &pflags)) != 0 ||
	    (err = attrs_decode(r, &a)) != 0)
		return err;
	describe_pflags(pflags, flags, sizeof(flags));
	log_line(&s->log, LOG_INFO, "open \"%s\" flags %s", vpath, flags);

	if ((v = gate_path(s, GATE_READ, vpath, NULL, NULL)).status != SSH_FX_OK)
		return gate_refuse(s, id, "open", vpath, v);
	if (strcmp(vpath, "/") == 0)
		return reply_errno(s, id, EISDIR, vpath);
	parent = path_open_parent(s->root_fd, vpath, &name);
	if (parent < 0)
		return reply_errno(s, id, parent, vpath);
	exists = fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT) {
		err = -errno;
		close(parent);
		return reply_errno(s, id, err, vpath);
	}

	if (!exists) {
		if (!(pflags & SSH_FXF_CREAT)) {
			close(parent);
			return reply_errno(s, id, ENOENT, vpath);
		}
		if ((v = gate_path(s, GATE_CREATE, vpath, NULL, NULL)).status != SSH_FX_OK) {
			close(parent);
			return gate_refuse(s, id, "create", vpath, v);
		}
		return open_upload(s, id, vpath, parent, name, pflags, &a, false);
	}

	/* The name exists: it is never opened for writing, whatever the flags. */
	if ((pflags & (SSH_FXF_CREAT | SSH_FXF_EXCL)) == (SSH_FXF_CREAT | SSH_FXF_EXCL)) {
		close(parent);
		return reply_errno(s, id, EEXIST, vpath);
	}
	if (pflags & SSH_FXF_APPEND) {
		close(parent);
		return gate_refuse(s, id, "append", vpath, gate_path(s, GATE_APPEND, vpath, &st, NULL));
	}
	if (pflags & SSH_FXF_WRITE) {
		if (S_ISDIR(st.st_mode)) {
			close(parent);
			return reply_errno(s, id, EISDIR, vpath);
		}
		if ((v = gate_path(s, GATE_REUPLOAD, vpath, &st, NULL)).status != SSH_FX_OK) {
			close(parent);
			return gate_refuse(s, id, "overwrite", vpath, v);
		}
		return open_upload(s, id, vpath, parent, name, pflags, &a, true);
	}
	close(parent);
	if (pflags & SSH_FXF_TRUNC)
		return gate_refuse(s, id, "truncate", vpath, gate_path(s, GATE_TRUNCATE, vpath, &st, NULL));
	/* Never open a FIFO, socket or device: it could block or do anything. */
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return reply_status(s, id, SSH_FX_FAILURE, "not a regular file");
	return open_for_reading(s, id, vpath);
}

/* Ends an upload whose partial file was published or discarded: nothing left to abandon. */
static void
upload_done(struct sftp_session *s, struct handle *h)
{
	close(h->fd);
	h->fd = -1;
	handle_free(&s->handles, h);
}

/* Hands ro_fd (or its error) to the seal hook and closes it. 0 without a hook. */
static int
seal_fd(struct sftp_session *s, const char *vpath, int ro_fd)
{
	int err;

	if (s->hooks.seal == NULL)
		return 0;
	if (ro_fd < 0)
		return ro_fd;
	err = s->hooks.seal(s->hooks.ctx, ro_fd, vpath);
	close(ro_fd);
	return err;
}

static int
reply_not_sealed(struct sftp_session *s, uint32_t id, const char *vpath, int err)
{
	char msg[VAULT_PATH_MAX + 128];

	log_line(&s->log, LOG_ERR, "close \"%s\": stored but not sealed: %s", vpath, status_errno_text(err));
	snprintf(msg, sizeof(msg), "%s: stored, but the vault could not seal it: %s", vpath,
		 status_errno_text(err));
	return reply_status(s, id, SSH_FX_FAILURE, msg);
}

/* The name exists (it did at OPEN, or appeared since): identical content is a harmless retry. */
static int
close_reupload(struct sftp_session *s, uint32_t id, struct handle *h)
{
	int same = upload_same_as_existing(h->fd, h->parent_fd, h->target_name);
	int err;

	if (same < 0) {
		log_line(&s->log, LOG_ERR, "close \"%s\": comparing with the stored file failed: %s",
			 h->path, status_errno_text(same));
		err = reply_errno(s, id, same, h->path);
		handle_free(&s->handles, h);
		return err;
	}
	(void)upload_discard(h->parent_fd, h->part_name);
	if (same == 1) {
		/* The retry succeeds only once the stored file is sealed, as the first upload would. */
		int ro_fd = openat(h->parent_fd, h->target_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		log_line(&s->log, LOG_INFO, "close \"%s\": identical re-upload, nothing changed", h->path);
		err = seal_fd(s, h->path, ro_fd < 0 ? -errno : ro_fd);
		if (err < 0)
			err = reply_not_sealed(s, id, h->path, err);
		else
			err = reply_status(s, id, SSH_FX_OK, NULL);
	} else {
		err = gate_refuse(s, id, "overwrite", h->path,
				  gate_path(s, GATE_OVERWRITE, h->path, NULL, NULL));
	}
	upload_done(s, h);
	return err;
}

static int
close_upload(struct sftp_session *s, uint32_t id, struct handle *h)
{
	char msg[VAULT_PATH_MAX + 128];
	int err, ro_fd = -1;

	if (h->failed) {
		log_line(&s->log, LOG_NOTICE, "close \"%s\": a write failed, upload left unpublished", h->path);
		snprintf(msg, sizeof(msg), "%s: a write failed, upload not stored; send it again", h->path);
		handle_free(&s->handles, h);
		return reply_status(s, id, SSH_FX_FAILURE, msg);
	}
	if (s->hooks.seal != NULL) {
		/*
		 * The broker gets a read-only descriptor of exactly the inode we
		 * publish. The partial is 0600 until now, so this cannot fail on
		 * permissions; if it fails anyway, nothing is published unsealed.
		 */
		ro_fd = openat(h->parent_fd, h->part_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (ro_fd < 0) {
			err = -errno;
			handle_free(&s->handles, h);
			return reply_errno(s, id, err, NULL);
		}
	}
	if (fchmod(h->fd, h->mode) < 0) {
		err = -errno;
		if (ro_fd >= 0)
			close(ro_fd);
		handle_free(&s->handles, h);
		return reply_errno(s, id, err, NULL);
	}
	err = upload_publish(h->parent_fd, h->part_name, h->target_name);
	if (err == -EEXIST) {
		if (ro_fd >= 0)
			close(ro_fd);
		return close_reupload(s, id, h);
	}
	if (err < 0) {
		if (ro_fd >= 0)
			close(ro_fd);
		log_line(&s->log, LOG_ERR, "close \"%s\": publishing failed: %s", h->path,
			 status_errno_text(err));
		handle_free(&s->handles, h);
		return reply_errno(s, id, err, h->path);
	}
	log_line(&s->log, LOG_INFO, "close \"%s\": stored, %llu bytes written", h->path,
		 (unsigned long long)h->bytes_written);
	err = seal_fd(s, h->path, ro_fd);
	if (err < 0) {
		err = reply_not_sealed(s, id, h->path, err);
		upload_done(s, h);
		return err;
	}
	upload_done(s, h);
	return reply_status(s, id, SSH_FX_OK, NULL);
}

static int
process_close(struct sftp_session *s, uint32_t id, struct reader *r)
{
	struct handle *h;
	int err;

	h = read_handle(s, r, &err);
	if (err != 0)
		return err;
	if (h == NULL)
		return reply_bad_handle(s, id);
	if (h->kind == HANDLE_UPLOAD)
		return close_upload(s, id, h);
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
	reply_abort(s, &rp);
	s->fatal = err;
	return err;
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
	uint64_t offset;
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
				   (struct gate_verdict){ SSH_FX_PERMISSION_DENIED,
							  "opened for reading, write-once vault refuses writes" });
	if (offset > INT64_MAX - len) {
		h->failed = true;
		return reply_errno(s, id, EFBIG, h->path);
	}
	err = write_all(h->fd, data, len, offset);
	if (err < 0) {
		/* Whatever failed, the file is no longer what the client sent: never publish it. */
		h->failed = true;
		log_line(&s->log, LOG_NOTICE, "write \"%s\" at %llu failed: %s", h->path,
			 (unsigned long long)offset, status_errno_text(err));
		return reply_errno(s, id, err, h->path);
	}
	h->bytes_written += len;
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

	h = read_handle(s, r, &err);
	if (err != 0)
		return err;
	if (h == NULL)
		return reply_bad_handle(s, id);
	if (fstat(handle_fd(h), &st) < 0)
		return reply_errno(s, id, errno, h->path);
	return reply_attrs(s, id, &st);
}

int
setstat_finished(struct sftp_session *s, uint32_t id, const char *op, int fd,
		 const char *vpath, const struct sftp_attrs *a)
{
	struct gate_verdict v;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return reply_errno(s, id, errno, vpath);
	v = gate_path(s, GATE_SETSTAT, vpath, &st, a);
	if (v.status != SSH_FX_OK)
		return gate_refuse(s, id, op, vpath, v);
	/* The gate let through at most a permission change; apply only that. */
	if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS && (a->perm & 07777) != (st.st_mode & 07777) &&
	    fchmod(fd, a->perm & 07777) < 0)
		return reply_errno(s, id, errno, vpath);
	log_line(&s->log, LOG_INFO, "%s \"%s\": permitted (changes no content)", op, vpath);
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
		return setstat_finished(s, id, "fsetstat", handle_fd(h), h->path, &a);
	/* The file is still being written: its attributes are the client's to set, except owners. */
	if (a.flags & SSH_FILEXFER_ATTR_UIDGID)
		return gate_refuse(s, id, "fsetstat", h->path,
				   (struct gate_verdict){ SSH_FX_PERMISSION_DENIED,
							  "the vault sets file ownership" });
	/* Permissions wait for CLOSE: the partial must stay readable for the seal broker. */
	if (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS) {
		h->mode = a.perm & VAULT_MODE_MASK;
		a.flags &= ~SSH_FILEXFER_ATTR_PERMISSIONS;
	}
	if ((err = attrs_apply(h->fd, &a)) != 0)
		return reply_errno(s, id, err, h->path);
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
