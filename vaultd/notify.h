/* SPDX-License-Identifier: MIT */
/*
 * systemd readiness, status and watchdog for vaultd (Type=notify), thin
 * wrappers over libsystemd's sd_notify(). Without systemd (NOTIFY_SOCKET
 * unset) every call is a no-op that returns 0, so vaultd calls them
 * unconditionally. Each returns 0 or -errno (a send that failed); vaultd
 * logs a failure and carries on.
 */
#ifndef SEALVAULT_NOTIFY_H
#define SEALVAULT_NOTIFY_H

#include <stdint.h>

/* READY=1, with STATUS=status when status is not NULL. */
int notify_ready(const char *status);

/* STATUS=...; a newline in the text becomes a blank (it would start another assignment). */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* STOPPING=1, on the way out. */
int notify_stopping(void);

/*
 * How often to call notify_watchdog(), in microseconds: half of
 * WATCHDOG_USEC when systemd's watchdog is on for this process
 * (sd_watchdog_enabled(): WATCHDOG_PID, if set, must be ours), else 0.
 */
uint64_t notify_watchdog_interval_usec(void);

/* WATCHDOG=1. */
int notify_watchdog(void);

#endif
