/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-io.h"

static int
give_up(char *buf, size_t len, int r)
{
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

int
fd_read_all(int fd, size_t max, char **ret, size_t *ret_len)
{
	char *buf = malloc(max + 2);
	size_t len = 0;

	if (buf == NULL)
		return -ENOMEM;
	/* One byte more than max tells a file that is too large. */
	while (len <= max) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return give_up(buf, len, -errno);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return give_up(buf, len, -EFBIG);
	buf[len] = '\0';
	*ret = buf;
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
}

int
fd_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}
