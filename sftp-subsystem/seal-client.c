/* SPDX-License-Identifier: MIT */
/* The client side of the seal broker: see seal-client.h and vaultd/broker-proto.h. */
#include "seal-client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "broker-proto.h"

static void
set_reason(char *reason, size_t n, const char *text)
{
	if (reason != NULL && n > 0)
		snprintf(reason, n, "%s", text);
}

int
seal_client_connect(const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (socket_path == NULL || socket_path[0] == '\0')
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(s);
		return -e;
	}
	return s;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on sock until deadline. Returns 0, -ETIMEDOUT or a negative errno. */
static int
wait_for(int sock, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = sock, .events = events };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r > 0)
			return 0;	/* readable, writable, or HUP/ERR: the next call says which */
	}
}

/* Sends msg (len bytes) with fd (-1: none), waits for the one reply message; by the wire format. */
static int
exchange(int sock, const unsigned char *msg, size_t len, int fd, int timeout_ms, char *reason, size_t n)
{
	unsigned char rep[SEAL_PROTO_REPLY_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	int64_t deadline = now_ms() + timeout_ms;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int32_t status;
	ssize_t r;
	int err;

	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}

	for (;;) {
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((err = wait_for(sock, POLLOUT, deadline)) < 0)
				goto fail;
			continue;
		}
		err = -errno;
		goto fail;
	}
	if ((size_t)r != len) {
		err = -EPROTO;
		goto fail;
	}

	/* SOCK_SEQPACKET: one read() is one whole reply message. */
	for (;;) {
		if ((err = wait_for(sock, POLLIN, deadline)) < 0)
			goto fail;
		r = read(sock, rep, sizeof(rep) - 1);
		if (r >= 0)
			break;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		err = -errno;
		goto fail;
	}
	if (r == 0) {
		err = -ECONNRESET;
		goto fail;
	}
	if ((size_t)r < sizeof(status)) {
		err = -EPROTO;
		goto fail;
	}
	rep[r] = '\0';
	memcpy(&status, rep, sizeof(status));
	if (status > 0 || status < -4095) {
		err = -EPROTO;
		goto fail;
	}
	set_reason(reason, n, (const char *)rep + sizeof(status));
	return status;

fail:
	if (reason != NULL && n > 0)
		snprintf(reason, n, "seal broker: %s", err == -EPROTO ? "malformed reply" : strerror(-err));
	return err;
}

/* One request with one fd (or none: fd -1, for maintenance), one reply; by magic. */
static int
request(int sock, uint32_t magic, int fd, const char *vpath, int timeout_ms, char *reason, size_t n)
{
	unsigned char req[SEAL_PROTO_REQUEST_MAX];
	size_t plen;

	set_reason(reason, n, "");
	if (sock < 0 || (fd < 0 && magic != SEAL_PROTO_MAGIC_MAINT) || vpath == NULL) {
		set_reason(reason, n, "no connection to the seal broker");
		return sock < 0 ? -ENOTCONN : -EINVAL;
	}
	plen = strlen(vpath);
	if (plen >= SEAL_PROTO_PATH_MAX) {
		set_reason(reason, n, "path too long for the seal broker");
		return -ENAMETOOLONG;
	}
	memcpy(req, &magic, sizeof(magic));
	memcpy(req + sizeof(magic), vpath, plen + 1);
	return exchange(sock, req, sizeof(magic) + plen + 1, fd, timeout_ms, reason, n);
}

int
seal_client_seal(int sock, int fd, const char *vpath, char *reason, size_t n)
{
	return request(sock, SEAL_PROTO_MAGIC, fd, vpath, SEAL_CLIENT_TIMEOUT_MS, reason, n);
}

int
seal_client_attic(int sock, int fd, const char *vpath, char *reason, size_t n)
{
	return request(sock, SEAL_PROTO_MAGIC_ATTIC, fd, vpath, SEAL_CLIENT_TIMEOUT_MS, reason, n);
}

int
seal_client_maintenance(int sock, char *reason, size_t n)
{
	return request(sock, SEAL_PROTO_MAGIC_MAINT, -1, "/", SEAL_CLIENT_MAINT_TIMEOUT_MS, reason, n);
}

int
seal_client_session(int sock, const char *key_fp, const char *client, char *reason, size_t n)
{
	unsigned char msg[SEAL_PROTO_SESSION_MAX];
	uint32_t magic = SEAL_PROTO_MAGIC_SESSION;
	size_t klen = key_fp != NULL ? strlen(key_fp) : 0, clen = client != NULL ? strlen(client) : 0;
	size_t len = sizeof(magic);

	set_reason(reason, n, "");
	if (sock < 0) {
		set_reason(reason, n, "no connection to the seal broker");
		return -ENOTCONN;
	}
	if (klen >= SEAL_PROTO_KEY_MAX || clen >= SEAL_PROTO_CLIENT_MAX ||
	    (klen > 0 && !seal_proto_session_field_ok(key_fp)) ||
	    (clen > 0 && !seal_proto_session_field_ok(client))) {
		set_reason(reason, n, "the key or the client address is too long or not graphic ASCII");
		return -EINVAL;
	}
	memcpy(msg, &magic, sizeof(magic));
	if (klen > 0)
		memcpy(msg + len, key_fp, klen);
	len += klen;
	msg[len++] = '\0';
	if (clen > 0)
		memcpy(msg + len, client, clen);
	len += clen;
	msg[len++] = '\0';
	return exchange(sock, msg, len, -1, SEAL_CLIENT_TIMEOUT_MS, reason, n);
}

/* Copies s (cut to max - 1 bytes) and its NUL to p; returns the bytes written. */
static size_t
put_field(unsigned char *p, const char *s, size_t max)
{
	size_t len = strnlen(s, max - 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return len + 1;
}

int
seal_client_report(int sock, const char *op, const char *vpath, const char *reason)
{
	unsigned char msg[SEAL_PROTO_REPORT_MAX];
	uint32_t magic = SEAL_PROTO_MAGIC_REPORT;
	size_t len = sizeof(magic);
	ssize_t r;

	if (sock < 0)
		return -ENOTCONN;
	memcpy(msg, &magic, sizeof(magic));
	len += put_field(msg + len, op, SEAL_PROTO_OP_MAX);
	len += put_field(msg + len, vpath, SEAL_PROTO_PATH_MAX);
	len += put_field(msg + len, reason, SEAL_PROTO_REASON_MAX);
	do
		r = send(sock, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}
