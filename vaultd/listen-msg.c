/* SPDX-License-Identifier: MIT */
/* One listen_msg over the SOCK_SEQPACKET pair, with at most LISTEN_MSG_FDS descriptors (listen-proto.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen-proto.h"

int
listen_msg_send(int sock, const struct listen_msg *m, const int *fds, size_t n_fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(LISTEN_MSG_FDS * sizeof(int))];
	} cbuf;
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n_fds > LISTEN_MSG_FDS)
		return -E2BIG;
	if (n_fds > 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n_fds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*m) ? 0 : -errno;
}

static void
close_fds(int *fds)
{
	for (size_t i = 0; i < LISTEN_MSG_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int
listen_msg_recv(int sock, struct listen_msg *m, int ret_fds[LISTEN_MSG_FDS], int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(LISTEN_MSG_FDS * sizeof(int))];
	} cbuf;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	for (size_t i = 0; i < LISTEN_MSG_FDS; i++)
		ret_fds[i] = -1;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len > CMSG_LEN(0) && cm->cmsg_len <= CMSG_LEN(LISTEN_MSG_FDS * sizeof(int)))
		memcpy(ret_fds, CMSG_DATA(cm), cm->cmsg_len - CMSG_LEN(0));
	if (n == 0) {
		close_fds(ret_fds);
		return -ECONNRESET;	/* the other end is gone */
	}
	if ((size_t)n != sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		close_fds(ret_fds);
		return -EPROTO;
	}
	/* Every string ends inside its field, whatever the sender wrote. */
	m->login[sizeof(m->login) - 1] = '\0';
	m->tenant[sizeof(m->tenant) - 1] = '\0';
	m->fingerprint[sizeof(m->fingerprint) - 1] = '\0';
	m->key[sizeof(m->key) - 1] = '\0';
	m->command[sizeof(m->command) - 1] = '\0';
	m->reason[sizeof(m->reason) - 1] = '\0';
	return 0;
}
