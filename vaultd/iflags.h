/* SPDX-License-Identifier: MIT */
/* The immutable flag (FS_IMMUTABLE_FL, what chattr +i sets), through an fd. */
#ifndef SEALVAULT_IFLAGS_H
#define SEALVAULT_IFLAGS_H

#include <stdbool.h>

/* True if fd's file carries the flag (false also when the flags cannot be read). */
bool iflag_immutable(int fd);

/* Sets or clears the flag, keeping the file's other flags. 0 or -errno. */
int iflag_set_immutable(int fd, bool on);

#endif
