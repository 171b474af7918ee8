/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "upload.h"

#define COMPARE_CHUNK	(64 * 1024)

static int
random_part_name(char out[UPLOAD_PART_NAME_SIZE])
{
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	snprintf(out, UPLOAD_PART_NAME_SIZE, UPLOAD_PART_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	return 0;
}

int
upload_begin(int parent_fd, const char *target_name, bool append,
	     char part_name[UPLOAD_PART_NAME_SIZE])
{
	int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : 0);
	int fd = -1, err;

	/* 64 random bits: a collision is astronomically unlikely, but O_EXCL still settles it. */
	for (int tries = 0; tries < 4 && fd < 0; tries++) {
		if ((err = random_part_name(part_name)) != 0)
			return err;
		fd = openat(parent_fd, part_name, flags, 0600);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	(void)fsetxattr(fd, UPLOAD_TARGET_XATTR, target_name, strlen(target_name), 0);
	return fd;
}

int
upload_publish(int parent_fd, const char *part_name, const char *target_name)
{
	if (renameat2(parent_fd, part_name, parent_fd, target_name, RENAME_NOREPLACE) < 0)
		return -errno;
	return 0;
}

static ssize_t
read_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int
upload_same_as_existing(int fd, int parent_fd, const char *target_name)
{
	_Static_assert(COMPARE_CHUNK <= 1024 * 1024, "compare buffers live on the stack");
	char a[COMPARE_CHUNK], b[COMPARE_CHUNK];
	struct stat sa, sb;
	int old, ret = 0;
	off_t off = 0;

	/* O_NOFOLLOW: a symlink at the name is never "the same" as an upload. */
	old = openat(parent_fd, target_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (old < 0)
		return errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &sa) < 0 || fstat(old, &sb) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sa.st_size != sb.st_size)
		goto out;
	while (off < sa.st_size) {
		ssize_t na = read_full(fd, a, sizeof(a), off);
		ssize_t nb = read_full(old, b, sizeof(b), off);

		if (na < 0 || nb < 0) {
			ret = (int)(na < 0 ? na : nb);
			goto out;
		}
		if (na != nb || memcmp(a, b, (size_t)na) != 0)
			goto out;
		if (na == 0)
			break;
		off += na;
	}
	ret = 1;
out:
	close(old);
	return ret;
}

int64_t
upload_copy_existing(int fd, int parent_fd, const char *target_name)
{
	char buf[COMPARE_CHUNK];
	int64_t total = 0;
	struct stat st;
	ssize_t n;
	int old, err = 0;

	old = openat(parent_fd, target_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (old < 0)
		return -errno;
	if (fstat(old, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(old);
		return -EINVAL;
	}
	while ((n = read_full(old, buf, sizeof(buf), (off_t)total)) > 0) {
		ssize_t w = pwrite(fd, buf, (size_t)n, (off_t)total);

		if (w != n) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		total += n;
	}
	if (n < 0)
		err = (int)n;
	close(old);
	return err < 0 ? err : total;
}

int
upload_discard(int parent_fd, const char *part_name)
{
	if (unlinkat(parent_fd, part_name, 0) < 0)
		return -errno;
	return 0;
}

void
upload_abandon(int fd)
{
	(void)fchmod(fd, 0400);
}
