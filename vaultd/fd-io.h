/* SPDX-License-Identifier: MIT */
/* Whole reads and writes of a descriptor, across short counts and EINTR. */
#ifndef SEALVAULT_FD_IO_H
#define SEALVAULT_FD_IO_H

#include <stddef.h>

/*
 * All of fd into a malloc'd, NUL-terminated buffer (*ret, *ret_len);
 * -EFBIG past max bytes. A buffer given up on error is zeroed first:
 * callers read private keys with it. 0 or -errno.
 */
int fd_read_all(int fd, size_t max, char **ret, size_t *ret_len);

/* Writes all len bytes of p. 0 or -errno. */
int fd_write_all(int fd, const void *p, size_t len);

#endif
