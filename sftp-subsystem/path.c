/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"

int
path_normalize(const char *in, char *out, size_t outsize)
{
	size_t o = 0;
	const char *p = in;

	if (outsize < 2)
		return -ENAMETOOLONG;
	out[o++] = '/';
	while (*p != '\0') {
		const char *start;
		size_t n;

		while (*p == '/')
			p++;
		start = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			/* Drop the last component; ".." at "/" stays at "/". */
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			continue;
		}
		if (o > 1)
			out[o++] = '/';
		if (o + n >= outsize)
			return -ENAMETOOLONG;
		memcpy(out + o, start, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

unsigned
path_depth(const char *vpath)
{
	unsigned n = 0;

	for (const char *p = vpath; *p != '\0'; p++)
		if (*p == '/' && p[1] != '\0')
			n++;
	return n;
}

bool
name_is_reserved(const char *name)
{
	return strncmp(name, VAULT_RESERVED_PREFIX, sizeof(VAULT_RESERVED_PREFIX) - 1) == 0;
}

bool
path_is_clean(const char *vpath)
{
	const char *p = vpath + 1;

	if (vpath[0] != '/')
		return false;
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (*end == '\0')
			return true;
		p = end + 1;
	}
}

bool
path_is_reserved(const char *vpath)
{
	for (const char *p = vpath; p != NULL; p = strchr(p, '/')) {
		p++;
		if (name_is_reserved(p))
			return true;
	}
	return false;
}

int
path_open(int root_fd, const char *vpath, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		/*
		 * No symlink is followed, anywhere in the path: the policy
		 * classifies the path the client names, so that path must be the
		 * one touched. (Clients cannot make links; local writers can.)
		 */
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	/* The vault path is absolute; RESOLVE_IN_ROOT reads it relative to root_fd. */
	const char *rel = vpath[1] == '\0' ? "." : vpath + 1;
	long fd;

	/* openat2 asks for a retry when a concurrent rename could have raced "..". */
	for (int tries = 0; tries < 8; tries++) {
		fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return -errno;
}

int
path_open_parent(int root_fd, const char *vpath, const char **ret_name)
{
	char dir[VAULT_PATH_MAX];
	const char *slash = strrchr(vpath, '/');
	size_t n;

	*ret_name = NULL;
	if (vpath[0] != '/' || vpath[1] == '\0' || slash == NULL)
		return -EINVAL;
	n = (size_t)(slash - vpath);
	if (n == 0)
		n = 1;		/* parent is "/" */
	memcpy(dir, vpath, n);
	dir[n] = '\0';
	*ret_name = slash + 1;
	return path_open(root_fd, dir, O_PATH | O_DIRECTORY, 0);
}
