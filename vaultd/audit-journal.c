/* SPDX-License-Identifier: MIT */
/*
 * journald's native protocol (systemd docs/JOURNAL_NATIVE_PROTOCOL.md): one
 * entry per datagram on an AF_UNIX SOCK_DGRAM socket, KEY=value\n per field,
 * or KEY\n + le64 length + bytes + \n for values that are not plain printable
 * ASCII (the protocol demands it for a newline; we also use it for control
 * bytes and non-ASCII, so the raw bytes arrive unchanged and a datagram dump
 * stays readable). Too big for a datagram: the same bytes in a sealed memfd,
 * passed alone with SCM_RIGHTS on an empty datagram.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit-internal.h"

/* Up to 4 iovecs per field. */
#define MAX_FIELDS	32

int
audit_journal_connect(struct audit_journal *j)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, sndbuf = AUDIT_JOURNAL_SNDBUF;

	audit_journal_close(j);
	if (j->path == NULL)
		return -ENOENT;
	if (strlen(j->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, j->path, strlen(j->path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Room for a burst while journald is busy; capped by net.core.wmem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	j->fd = fd;
	return 0;
}

void
audit_journal_close(struct audit_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -EBADF;
}

static bool
plain_value(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* The iovecs of one entry; lens[] holds the le64 lengths they point into. */
static size_t
build_iov(const struct audit_field *f, size_t n, struct iovec *iov, uint64_t *lens)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *key = f[i].key;

		iov[k++] = (struct iovec){ (void *)key, strlen(key) };
		if (plain_value(f[i].value, f[i].len)) {
			iov[k++] = (struct iovec){ "=", 1 };
		} else {
			lens[i] = htole64((uint64_t)f[i].len);
			iov[k++] = (struct iovec){ "\n", 1 };
			iov[k++] = (struct iovec){ &lens[i], sizeof(lens[i]) };
		}
		iov[k++] = (struct iovec){ (void *)f[i].value, f[i].len };
		iov[k++] = (struct iovec){ "\n", 1 };
	}
	return k;
}

static int
classify(int err)
{
	switch (err) {
	case EAGAIN:
	case ENOBUFS:
		return -EAGAIN;
	case ECONNREFUSED:
	case ECONNRESET:
	case ENOTCONN:
	case EPIPE:
	case ENOENT:
	case EDESTADDRREQ:
		return -ENOTCONN;
	default:
		return -err;
	}
}

static int
write_all(int fd, struct iovec *iov, size_t n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, (int)n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* journald only maps a memfd that can no longer change under it. */
static int
send_memfd(struct audit_journal *j, struct iovec *iov, size_t n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct msghdr mh = { .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fd, err = 0;

	fd = memfd_create("vaultd-audit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	err = write_all(fd, iov, n);
	if (err == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		err = -errno;
	if (err == 0) {
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			err = classify(errno);
	}
	close(fd);
	return err;
}

int
audit_journal_send(struct audit_journal *j, const struct audit_field *f, size_t n)
{
	struct iovec iov[MAX_FIELDS * 4];
	uint64_t lens[MAX_FIELDS];
	struct msghdr mh = { .msg_iov = iov };
	int err;

	if (j->fd < 0)
		return -ENOTCONN;
	if (n > MAX_FIELDS)
		return -E2BIG;
	mh.msg_iovlen = build_iov(f, n, iov, lens);
	if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 0;
	err = errno == EMSGSIZE ? send_memfd(j, iov, mh.msg_iovlen) : classify(errno);
	if (err == -ENOTCONN)
		audit_journal_close(j);
	return err;
}
