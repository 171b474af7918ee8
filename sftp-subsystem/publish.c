/* SPDX-License-Identifier: MIT */
/*
 * Publication: the moment a file gets its final name. An upload's CLOSE and
 * the rename of a temp file both end here, so that sealing (the seal hook,
 * vaultd's broker), the identical-retry rule and the attic for versioned
 * files work the same way for both.
 */
#include <dirent.h>
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
#include "status.h"
#include "upload.h"

int
seal_fd(struct sftp_session *s, const char *vpath, int ro_fd)
{
	int err;

	if (s->hooks.seal == NULL) {
		if (ro_fd >= 0)
			close(ro_fd);
		return 0;
	}
	if (ro_fd < 0)
		return ro_fd;
	err = s->hooks.seal(s->hooks.ctx, ro_fd, vpath);
	close(ro_fd);
	return err;
}

int
engine_attic_move(struct sftp_session *s, int parent_fd, const char *name, const char *vpath)
{
	int fd, err;

	if (s->hooks.attic == NULL)
		return attic_move(s->root_fd, parent_fd, name, vpath);
	fd = openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = s->hooks.attic(s->hooks.ctx, fd, vpath);
	close(fd);
	return err;
}

int
reply_not_sealed(struct sftp_session *s, uint32_t id, const char *vpath, int err)
{
	char msg[VAULT_PATH_MAX + 128];

	log_line(&s->log, LOG_ERR, "\"%s\": stored but not sealed: %s", vpath, status_errno_text(err));
	snprintf(msg, sizeof(msg), "%s: stored, but the vault could not seal it: %s", vpath,
		 status_errno_text(err));
	return reply_status(s, id, SSH_FX_FAILURE, msg);
}

/* Counts the files beside vpath that the same rule decides (mutable max-files). */
static uint64_t
count_rule_files(const struct policy_profile *prof, int parent_fd, const char *vpath,
		 const struct policy_rule *rule)
{
	char path[VAULT_PATH_MAX];
	const char *slash = strrchr(vpath, '/');
	size_t dirlen = (size_t)(slash - vpath);
	uint64_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return UINT64_MAX;	/* cannot tell: the limit holds */
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_REG || name_is_reserved(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%.*s/%s", (int)dirlen, vpath, de->d_name);
		if (policy_match(prof, path) == rule)
			n++;
	}
	closedir(d);
	return n;
}

bool
mutable_has_room(const struct sftp_session *s, int parent_fd, const char *vpath, struct gate_verdict v)
{
	if (v.cls != POLICY_MUTABLE || v.rule == NULL || v.rule->max_files == 0)
		return true;
	return count_rule_files(s->profile, parent_fd, vpath, v.rule) < v.rule->max_files;
}

/* Ends an upload whose partial file was published or discarded: nothing left to abandon. */
static void
upload_done(struct sftp_session *s, struct handle *h)
{
	close(h->fd);
	h->fd = -1;
	handle_free(&s->handles, h);
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
	if (upload_discard(h->parent_fd, h->part_name) == 0)
		quota_release(&s->quota, h->size, 1);
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
				  gate_deny("sealed, write-once vault refuses overwrite (content differs)"));
	}
	upload_done(s, h);
	return err;
}

/*
 * Where the name is taken: a sealed file is compared, a versioned one goes
 * to the attic (then the publication is tried once more), a temp or
 * mutable one is simply replaced.
 */
static int
publish_over_existing(struct sftp_session *s, struct handle *h)
{
	struct gate_verdict v = gate_path(s, POLICY_OP_REPLACE, h->path);
	int err;

	switch (v.action) {
	case POLICY_ATTIC:
		err = engine_attic_move(s, h->parent_fd, h->target_name, h->path);
		if (err < 0)
			return err;
		log_line(&s->log, LOG_NOTICE, "\"%s\": previous version moved to the attic", h->path);
		return upload_publish(h->parent_fd, h->part_name, h->target_name);
	case POLICY_ALLOW: {
		struct stat old;
		bool had = fstatat(h->parent_fd, h->target_name, &old, AT_SYMLINK_NOFOLLOW) == 0;

		if (renameat(h->parent_fd, h->part_name, h->parent_fd, h->target_name) < 0)
			return -errno;
		if (had)
			quota_release(&s->quota, S_ISREG(old.st_mode) ? (uint64_t)old.st_size : 0, 1);
		return 0;
	}
	default:
		return -EEXIST;		/* compare, or refuse: close_reupload() decides */
	}
}

int
upload_close(struct sftp_session *s, uint32_t id, struct handle *h)
{
	char msg[VAULT_PATH_MAX + 128];
	bool seals = policy_class_seals(h->cls);
	int err, ro_fd = -1;

	if (h->failed) {
		log_line(&s->log, LOG_NOTICE, "close \"%s\": a write failed, upload left unpublished", h->path);
		snprintf(msg, sizeof(msg), "%s: a write failed, upload not stored; send it again", h->path);
		handle_free(&s->handles, h);
		return reply_status(s, id, SSH_FX_FAILURE, msg);
	}
	if (seals && s->hooks.seal != NULL) {
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
	if (!h->existed && !mutable_has_room(s, h->parent_fd, h->path,
					      (struct gate_verdict){ .cls = h->cls, .rule = h->rule })) {
		if (ro_fd >= 0)
			close(ro_fd);
		if (upload_discard(h->parent_fd, h->part_name) == 0)
			quota_release(&s->quota, h->size, 1);
		err = gate_refuse(s, id, "create", h->path, gate_deny("too many files of this kind"));
		upload_done(s, h);
		return err;
	}
	err = upload_publish(h->parent_fd, h->part_name, h->target_name);
	if (err == -EEXIST)
		err = publish_over_existing(s, h);
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
	log_line(&s->log, LOG_INFO, "close \"%s\": stored as %s, %llu bytes written", h->path,
		 policy_class_name(h->cls), (unsigned long long)h->bytes_written);
	err = seals ? seal_fd(s, h->path, ro_fd) : 0;
	if (err < 0)
		err = reply_not_sealed(s, id, h->path, err);
	else
		err = reply_status(s, id, SSH_FX_OK, NULL);
	upload_done(s, h);
	return err;
}
