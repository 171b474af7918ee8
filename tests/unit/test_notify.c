/* SPDX-License-Identifier: MIT */
/*
 * notify.h: the test plays systemd. It binds its own AF_UNIX datagram
 * socket, points NOTIFY_SOCKET at it and reads what each wrapper sent.
 * sd_notify() has sent its datagram when it returns, so every read is
 * non-blocking: no waiting, no timing.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

struct fx {
	char	dir[64];
	char	path[96];
	int	fd;
};

static int
setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/notify.sock", fx->dir);
	fx->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fx->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx->path);
	assert_int_equal(bind(fx->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", fx->path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(fx->fd);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* The next datagram, NUL-terminated, or NULL when none is queued. */
static const char *
next_message(const struct fx *fx)
{
	static char buf[4096];
	ssize_t n = recv(fx->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void
expect_message(const struct fx *fx, const char *want)
{
	const char *got = next_message(fx);

	assert_non_null(got);
	assert_string_equal(got, want);
}

static void
test_ready(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(notify_ready(NULL), 0);
	expect_message(fx, "READY=1");
	assert_int_equal(notify_ready("watching 3 tenants"), 0);
	expect_message(fx, "READY=1\nSTATUS=watching 3 tenants");
	assert_null(next_message(fx));
}

static void
test_status(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(notify_status("sealed %u, refused %u", 12u, 3u), 0);
	expect_message(fx, "STATUS=sealed 12, refused 3");
	/* A newline would start a second assignment (here a forged READY=1). */
	assert_int_equal(notify_status("path %s", "a\nREADY=1"), 0);
	expect_message(fx, "STATUS=path a READY=1");
	assert_null(next_message(fx));
}

static void
test_long_status_truncated(void **state)
{
	struct fx *fx = *state;
	char big[2000];
	const char *got;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(notify_status("%s", big), 0);
	got = next_message(fx);
	assert_non_null(got);
	assert_memory_equal(got, "STATUS=xxx", 10);
	assert_true(strlen(got) < sizeof(big));
	assert_null(strchr(got, '\n'));
}

static void
test_stopping_and_watchdog(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(notify_watchdog(), 0);
	expect_message(fx, "WATCHDOG=1");
	assert_int_equal(notify_stopping(), 0);
	expect_message(fx, "STOPPING=1");
	assert_null(next_message(fx));
}

static void
test_watchdog_interval(void **state)
{
	char pid[32];

	(void)state;
	assert_int_equal(notify_watchdog_interval_usec(), 0);	/* no WATCHDOG_USEC */

	assert_int_equal(setenv("WATCHDOG_USEC", "2000000", 1), 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(notify_watchdog_interval_usec(), 1000000);

	/* Without WATCHDOG_PID the watchdog is ours too. */
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_interval_usec(), 1000000);

	/* Meant for another process (our parent): not ours to feed. */
	snprintf(pid, sizeof(pid), "%d", (int)getppid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(notify_watchdog_interval_usec(), 0);

	assert_int_equal(setenv("WATCHDOG_USEC", "garbage", 1), 0);
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_interval_usec(), 0);
}

static void
test_without_systemd(void **state)
{
	struct fx *fx = *state;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_ready("x"), 0);
	assert_int_equal(notify_status("%d", 1), 0);
	assert_int_equal(notify_watchdog(), 0);
	assert_int_equal(notify_stopping(), 0);
	assert_int_equal(notify_watchdog_interval_usec(), 0);
	assert_null(next_message(fx));
}

/* A socket that is gone: an error to log, not a crash. */
static void
test_socket_gone(void **state)
{
	struct fx *fx = *state;
	char gone[192];

	snprintf(gone, sizeof(gone), "%s/none.sock", fx->dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", gone, 1), 0);
	assert_true(notify_ready(NULL) < 0);
	assert_true(notify_watchdog() < 0);
	assert_null(next_message(fx));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_status_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_and_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_systemd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_gone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
