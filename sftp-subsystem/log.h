/* SPDX-License-Identifier: MIT */
/*
 * Session log lines. The engine formats, the front end's hook writes (syslog,
 * stderr, later vaultd's audit). Client-controlled text (paths) is always
 * quoted and escaped so a file name cannot forge a log line.
 */
#ifndef SEALVAULT_LOG_H
#define SEALVAULT_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

struct sftp_hooks;

struct sftp_log {
	const struct sftp_hooks *hooks;
	const char *label;
	/* Lines at NOTICE and above: a token bucket so a client cannot flood the log. */
	uint64_t window_start_ms;
	unsigned in_window;
	unsigned suppressed;
};

#define LOG_LINES_PER_SECOND	50

/*
 * Writes s as a double-quoted string into dst: printable ASCII as is, '"' and
 * '\\' escaped, everything else as \n, \t or \xNN. Always NUL-terminates;
 * truncates with "..." when dst is short.
 */
void log_quote(char *dst, size_t size, const char *s);

/*
 * A path for a person who may paste it back into a command: as it is when
 * plain printable ASCII, else quoted as log_quote() does. Returns dst.
 */
const char *log_shown(char *dst, size_t size, const char *path);

/*
 * One log line, prefixed with the session's label. Control characters are
 * escaped, and lines at LOG_NOTICE or above are rate-limited per session
 * (how many were dropped is logged when the next second starts).
 */
void log_line(struct sftp_log *l, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "refused OP "PATH": REASON", the path quoted and escaped. */
void log_refusal(struct sftp_log *l, const char *op, const char *path, const char *reason);

#endif
