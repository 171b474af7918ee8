/* SPDX-License-Identifier: MIT */
/* SFTP v3 ATTRS: decoding, encoding, and conversion from struct stat. */
#ifndef SEALVAULT_ATTRS_H
#define SEALVAULT_ATTRS_H

#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"

struct sftp_attrs {
	uint32_t flags;		/* SSH_FILEXFER_ATTR_* that are present */
	uint64_t size;
	uint32_t uid, gid;
	uint32_t perm;
	uint32_t atime, mtime;
};

/* Extended attribute pairs are read and ignored; -EBADMSG if the packet is short. */
int attrs_decode(struct reader *r, struct sftp_attrs *ret);
int attrs_encode(struct buf *b, const struct sftp_attrs *a);
void attrs_from_stat(const struct stat *st, struct sftp_attrs *ret);

/*
 * "ls -l" style line for READDIR, as OpenSSH's sftp-server writes it.
 * user/group may be NULL (the numeric id is printed).
 */
void attrs_longname(char *dst, size_t size, const char *name, const struct stat *st,
		    const char *user, const char *group);

/*
 * Applies size, permissions and times of a to an open file (the upload being
 * written, or a permitted chmod). Ownership is never applied. 0 or -errno.
 */
int attrs_apply(int fd, const struct sftp_attrs *a);

#endif

