/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attic.h"
#include "path.h"

int
attic_open_dir(int root_fd, const char *vpath, int (*claim)(int dirfd))
{
	char dirs[VAULT_PATH_MAX + sizeof(ATTIC_DIR) + 2];
	const char *slash = strrchr(vpath, '/');
	int fd, next, err;
	char *p, *save = NULL;

	if (slash == NULL || (size_t)snprintf(dirs, sizeof(dirs), "%s%.*s", ATTIC_DIR,
					      (int)(slash - vpath), vpath) >= sizeof(dirs))
		return -ENAMETOOLONG;
	fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* One component at a time, never following a link: the attic is the vault's own. */
	for (p = strtok_r(dirs, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
		if (mkdirat(fd, p, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			close(fd);
			return err;
		}
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return -errno;
		fd = next;
		if (claim != NULL && (err = claim(fd)) < 0) {
			close(fd);
			return err;
		}
	}
	return fd;
}

int
attic_entry_name(const char *name, char *out, size_t size)
{
	char when[32];
	unsigned char r[4];
	struct tm tm;
	time_t now = time(NULL);
	const char *shown = name;
	size_t keep = strlen(name);

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	/* "~<time>-<hex>" takes 26 bytes: keep the end of a long name, where versions differ. */
	if (keep > NAME_MAX - 26)
		shown += keep - (NAME_MAX - 26);
	if ((size_t)snprintf(out, size, "%s~%s-%02x%02x%02x%02x", shown, when, r[0], r[1], r[2], r[3]) >=
	    size)
		return -ENAMETOOLONG;
	return 0;
}

int
attic_move(int root_fd, int parent_fd, const char *name, const char *vpath)
{
	char target[NAME_MAX + 1];
	int dfd, err = 0;

	if ((err = attic_entry_name(name, target, sizeof(target))) < 0)
		return err;
	dfd = attic_open_dir(root_fd, vpath, NULL);
	if (dfd < 0)
		return dfd;
	if (renameat2(parent_fd, name, dfd, target, RENAME_NOREPLACE) < 0)
		err = -errno;
	close(dfd);
	return err;
}
