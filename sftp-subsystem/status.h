/* SPDX-License-Identifier: MIT */
/* The one errno-to-status map, and the default text of each status. */
#ifndef SEALVAULT_STATUS_H
#define SEALVAULT_STATUS_H

#include <stdint.h>

/* errno (positive or negative) to SSH_FX_*. */
uint32_t status_from_errno(int err);
/* A short English text for errno, as the client sees it ("no space left on device"). */
const char *status_errno_text(int err);
const char *status_text(uint32_t status);

#endif
