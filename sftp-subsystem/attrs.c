/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attrs.h"
#include "sftp-proto.h"

int
attrs_decode(struct reader *r, struct sftp_attrs *ret)
{
	struct sftp_attrs a = { 0 };
	int err;

	*ret = a;
	if ((err = reader_u32(r, &a.flags)) != 0)
		return err;
	if (a.flags & SSH_FILEXFER_ATTR_SIZE && (err = reader_u64(r, &a.size)) != 0)
		return err;
	if (a.flags & SSH_FILEXFER_ATTR_UIDGID &&
	    ((err = reader_u32(r, &a.uid)) != 0 || (err = reader_u32(r, &a.gid)) != 0))
		return err;
	if (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS && (err = reader_u32(r, &a.perm)) != 0)
		return err;
	if (a.flags & SSH_FILEXFER_ATTR_ACMODTIME &&
	    ((err = reader_u32(r, &a.atime)) != 0 || (err = reader_u32(r, &a.mtime)) != 0))
		return err;
	if (a.flags & SSH_FILEXFER_ATTR_EXTENDED) {
		uint32_t count;
		const uint8_t *s;
		size_t n;

		if ((err = reader_u32(r, &count)) != 0)
			return err;
		/* Each pair takes at least 8 bytes, so a lying count runs out of packet fast. */
		for (uint32_t i = 0; i < count; i++) {
			if ((err = reader_string(r, &s, &n)) != 0 ||
			    (err = reader_string(r, &s, &n)) != 0)
				return err;
		}
	}
	*ret = a;
	return 0;
}

int
attrs_encode(struct buf *b, const struct sftp_attrs *a)
{
	uint32_t flags = a->flags & ~SSH_FILEXFER_ATTR_EXTENDED;
	int err;

	if ((err = buf_put_u32(b, flags)) != 0)
		return err;
	if (flags & SSH_FILEXFER_ATTR_SIZE && (err = buf_put_u64(b, a->size)) != 0)
		return err;
	if (flags & SSH_FILEXFER_ATTR_UIDGID &&
	    ((err = buf_put_u32(b, a->uid)) != 0 || (err = buf_put_u32(b, a->gid)) != 0))
		return err;
	if (flags & SSH_FILEXFER_ATTR_PERMISSIONS && (err = buf_put_u32(b, a->perm)) != 0)
		return err;
	if (flags & SSH_FILEXFER_ATTR_ACMODTIME &&
	    ((err = buf_put_u32(b, a->atime)) != 0 || (err = buf_put_u32(b, a->mtime)) != 0))
		return err;
	return 0;
}

void
attrs_from_stat(const struct stat *st, struct sftp_attrs *ret)
{
	*ret = (struct sftp_attrs){
		.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID |
			 SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME,
		.size = (uint64_t)st->st_size,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.perm = st->st_mode,
		/* v3 times are 32 bits; clients read them unsigned. */
		.atime = (uint32_t)st->st_atime,
		.mtime = (uint32_t)st->st_mtime,
	};
}

static void
mode_string(mode_t mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char type = '?';

	switch (mode & S_IFMT) {
	case S_IFREG: type = '-'; break;
	case S_IFDIR: type = 'd'; break;
	case S_IFLNK: type = 'l'; break;
	case S_IFCHR: type = 'c'; break;
	case S_IFBLK: type = 'b'; break;
	case S_IFIFO: type = 'p'; break;
	case S_IFSOCK: type = 's'; break;
	}
	out[0] = type;
	for (int i = 0; i < 9; i++)
		out[1 + i] = mode & (0400 >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = mode & S_IXUSR ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = mode & S_IXGRP ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = mode & S_IXOTH ? 't' : 'T';
	out[10] = '\0';
}

void
attrs_longname(char *dst, size_t size, const char *name, const struct stat *st,
	       const char *user, const char *group)
{
	char mode[11], ubuf[16], gbuf[16], when[32] = "";
	struct tm tm;
	time_t now = time(NULL);

	mode_string(st->st_mode, mode);
	if (user == NULL) {
		snprintf(ubuf, sizeof(ubuf), "%u", (unsigned)st->st_uid);
		user = ubuf;
	}
	if (group == NULL) {
		snprintf(gbuf, sizeof(gbuf), "%u", (unsigned)st->st_gid);
		group = gbuf;
	}
	if (localtime_r(&st->st_mtime, &tm) != NULL) {
		/* Like ls: time of day for the last six months, the year otherwise. */
		if (st->st_mtime > now - 182 * 86400 && st->st_mtime <= now)
			strftime(when, sizeof(when), "%b %e %H:%M", &tm);
		else
			strftime(when, sizeof(when), "%b %e  %Y", &tm);
	}
	snprintf(dst, size, "%s %3u %-8.8s %-8.8s %8llu %s %s", mode,
		 (unsigned)st->st_nlink, user, group, (unsigned long long)st->st_size, when, name);
}

int
attrs_apply(int fd, const struct sftp_attrs *a)
{
	if (a->flags & SSH_FILEXFER_ATTR_SIZE) {
		if (a->size > INT64_MAX)
			return -EFBIG;
		if (ftruncate(fd, (off_t)a->size) < 0)
			return -errno;
	}
	if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS && fchmod(fd, a->perm & 07777) < 0)
		return -errno;
	if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) {
		struct timespec ts[2] = {
			{ .tv_sec = a->atime },
			{ .tv_sec = a->mtime },
		};

		if (futimens(fd, ts) < 0)
			return -errno;
	}
	return 0;
}
