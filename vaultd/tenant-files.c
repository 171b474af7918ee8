/* SPDX-License-Identifier: MIT */
/*
 * The small root-owned files vaultctl tenant writes (the key file, the
 * tenant's conf.d file, the sshd drop-in), and the path checks it needs.
 * Writes are atomic: sshd and vault-sftp read these files at any moment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-io.h"
#include "path.h"
#include "vaultctl-tenant.h"

int
file_read(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = fd_read_all(fd, max, ret, ret_len);
	close(fd);
	return r;
}

int
file_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, dfd, r = 0;

	if (slash == NULL || (size_t)snprintf(tmp, sizeof(tmp), "%s.vaultctl-XXXXXX", path) >= sizeof(tmp))
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0)
		r = fd_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* The rename itself must survive a crash too. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

int
dir_is_empty(const char *path)
{
	struct dirent *e;
	DIR *d;
	int r = 1;

	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "lost+found") != 0) {
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

bool
path_is_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool
host_path_is_clean(const char *path)
{
	/* Room left for the names vaultctl builds below it. */
	return path_is_clean(path) && strlen(path) < PATH_MAX - 64;
}

bool
path_is_plain(const char *path)
{
	for (const char *c = path; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("/._+-", *c) != NULL))
			return false;
	return true;
}
