/* SPDX-License-Identifier: MIT */
/* systemd notification (notify.h): sd_notify() returns 0 without NOTIFY_SOCKET. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

#define STATUS_MAX	512

static int
send_state(const char *state)
{
	int r = sd_notify(0, state);

	return r < 0 ? r : 0;
}

/* Appends "STATUS=" + text, newlines blanked, to buf (holding len bytes). */
static void
append_status(char *buf, size_t len, const char *text)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "STATUS=%s", text);
	for (char *p = buf + used; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
}

int
notify_ready(const char *status)
{
	char buf[STATUS_MAX + 32] = "READY=1";

	if (status == NULL)
		return send_state(buf);
	strcat(buf, "\n");
	append_status(buf, sizeof(buf), status);
	return send_state(buf);
}

int
notify_status(const char *fmt, ...)
{
	char text[STATUS_MAX], buf[STATUS_MAX + 16] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	append_status(buf, sizeof(buf), text);
	return send_state(buf);
}

int
notify_stopping(void)
{
	return send_state("STOPPING=1");
}

uint64_t
notify_watchdog_interval_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 2;
}

int
notify_watchdog(void)
{
	return send_state("WATCHDOG=1");
}
