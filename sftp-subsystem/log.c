/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
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

void
log_line(struct sftp_log *l, int priority, const char *fmt, ...)
{
	char line[2048];
	int n = 0;
	va_list ap;

	if (l->hooks == NULL || l->hooks->log == NULL)
		return;
	if (l->label != NULL && l->label[0] != '\0')
		n = snprintf(line, sizeof(line), "%s: ", l->label);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	l->hooks->log(l->hooks->ctx, priority, line);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
log_refusal(struct sftp_log *l, const char *op, const char *path, const char *reason)
{
	char quoted[1200];
	uint64_t t = now_ms();

	if (t - l->window_start_ms >= 1000) {
		if (l->suppressed > 0)
			log_line(l, LOG_NOTICE, "%u further refusals not logged (rate limit)",
				 l->suppressed);
		l->window_start_ms = t;
		l->in_window = 0;
		l->suppressed = 0;
	}
	if (l->in_window >= LOG_REFUSALS_PER_SECOND) {
		l->suppressed++;
		return;
	}
	l->in_window++;
	log_quote(quoted, sizeof(quoted), path);
	log_line(l, LOG_NOTICE, "refused %s %s: %s", op, quoted, reason);
}
