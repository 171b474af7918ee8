/* SPDX-License-Identifier: MIT */
/* The immutable flag: see iflags.h. */
#include "iflags.h"

#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

bool
iflag_immutable(int fd)
{
	unsigned flags = 0;

	return ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

int
iflag_set_immutable(int fd, bool on)
{
	unsigned flags;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~(unsigned)FS_IMMUTABLE_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -errno : 0;
}
