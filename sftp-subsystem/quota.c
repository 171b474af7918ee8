/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota.h"

/* Deeper trees are refused rather than followed: each level holds a descriptor. */
#define SCAN_MAX_DEPTH	256

static int
scan_dir(int dir_fd, unsigned depth, uint64_t *bytes, uint64_t *files)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	/*
	 * Deeper than any client can make it (MKDIR stops at VAULT_MAX_DEPTH):
	 * put there by someone else. Count the directory, not what is below;
	 * failing the scan would lock the tenant out of its own backups.
	 */
	if (depth > SCAN_MAX_DEPTH) {
		close(dir_fd);
		return 0;
	}
	d = fdopendir(dir_fd);
	if (d == NULL) {
		err = -errno;
		close(dir_fd);
		return err;
	}
	while (err == 0 && (de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* gone meanwhile */
		(*files)++;
		if (S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0)
				err = scan_dir(fd, depth + 1, bytes, files);
		}
	}
	closedir(d);
	return err;
}

int
quota_scan(int root_fd, uint64_t *ret_bytes, uint64_t *ret_files)
{
	int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*ret_bytes = *ret_files = 0;
	if (fd < 0)
		return -errno;
	return scan_dir(fd, 0, ret_bytes, ret_files);
}

bool
quota_take_file(struct quota *q)
{
	if (q->max_files != 0 && q->files >= q->max_files)
		return false;
	q->files++;
	return true;
}

bool
quota_take_bytes(struct quota *q, uint64_t n)
{
	if (q->max_bytes != 0 && (n > q->max_bytes || q->bytes > q->max_bytes - n))
		return false;
	q->bytes += n;
	return true;
}

void
quota_release(struct quota *q, uint64_t bytes, uint64_t files)
{
	q->bytes = q->bytes > bytes ? q->bytes - bytes : 0;
	q->files = q->files > files ? q->files - files : 0;
}
