/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "session.h"

void
log_quote(char *dst, size_t size, const char *s)
{
	size_t o = 0;

	if (size < 8) {
		if (size > 0)
			dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];
		size_t n;

		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c >= 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			n = (size_t)snprintf(esc, sizeof(esc), "%c", c);
		/* Keep room for '...', the closing quote and the NUL. */
		if (o + n + 5 > size) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A token bucket per session: a client cannot flood the log with lines it triggers. */
static bool
rate_limited(struct sftp_log *l)
{
	uint64_t t = now_ms();

	if (t - l->window_start_ms >= 1000) {
		unsigned suppressed = l->suppressed;

		l->window_start_ms = t;
		l->in_window = 0;
		l->suppressed = 0;
		if (suppressed > 0)
			log_line(l, LOG_NOTICE, "%u further log lines of this session dropped (rate limit)",
				 suppressed);
	}
	if (l->in_window >= LOG_LINES_PER_SECOND) {
		l->suppressed++;
		return true;
	}
	l->in_window++;
	return false;
}

/* Control characters become \xNN: whatever a client put in a name, one call is one line. */
static void
escape_controls(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 5 < size; src++) {
		unsigned char c = (unsigned char)*src;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

const char *
log_shown(char *dst, size_t size, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
			log_quote(dst, size, path);
			return dst;
		}
	snprintf(dst, size, "%s", path);
	return dst;
}

void
log_line(struct sftp_log *l, int priority, const char *fmt, ...)
{
	char line[2048], clean[2048 * 2];
	int n = 0;
	va_list ap;

	if (l->hooks == NULL || l->hooks->log == NULL)
		return;
	if (priority <= LOG_NOTICE && rate_limited(l))
		return;
	if (l->label != NULL && l->label[0] != '\0')
		n = snprintf(line, sizeof(line), "%s: ", l->label);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	escape_controls(clean, sizeof(clean), line);
	l->hooks->log(l->hooks->ctx, priority, clean);
}

void
log_refusal(struct sftp_log *l, const char *op, const char *path, const char *reason)
{
	char quoted[1200];

	/* Under the limit the log line is about to take its token from. */
	if (l->hooks != NULL && l->hooks->refusal != NULL && l->in_window < LOG_LINES_PER_SECOND)
		l->hooks->refusal(l->hooks->ctx, op, path, reason);
	log_quote(quoted, sizeof(quoted), path);
	log_line(l, LOG_NOTICE, "refused %s %s: %s", op, quoted, reason);
}
