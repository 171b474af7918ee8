/* SPDX-License-Identifier: MIT */
/* The seal broker's server side: see broker.h. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "path.h"

/* More fds than the one allowed, so that extra ones are received and closed, not leaked. */
#define MAX_RX_FDS	16

static int
refuse(struct broker_outcome *out, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
refuse(struct broker_outcome *out, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	out->status = err;
	return err;
}

/* Lexically clean: absolute, no empty, "." or ".." components, no trailing '/'. */
static bool
vpath_is_clean(const char *vpath)
{
	char norm[VAULT_PATH_MAX];

	if (vpath[0] != '/' || vpath[1] == '\0')
		return false;
	if (path_normalize(vpath, norm, sizeof(norm)) < 0)
		return false;
	return strcmp(norm, vpath) == 0;
}

/* Checks that fd is the file at tenant->root + vpath. Returns 0 or -errno with a reason. */
static int
check_identity(const struct policy_tenant *t, int fd, const struct stat *st, const char *vpath,
	       struct broker_outcome *out)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct stat rst, pst;
	int rootfd, pfd, err = 0;

	rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return refuse(out, -EIO, "cannot open the tenant root: %s", strerror(errno));
	if (fstat(rootfd, &rst) < 0) {
		err = refuse(out, -EIO, "cannot stat the tenant root: %s", strerror(errno));
		goto done;
	}
	if (st->st_dev != rst.st_dev) {
		err = refuse(out, -EXDEV, "the file is not on the tenant's filesystem");
		goto done;
	}
	pfd = (int)syscall(SYS_openat2, rootfd, vpath + 1, &how, sizeof(how));
	if (pfd < 0) {
		err = refuse(out, -EPERM, "the path does not resolve inside the tenant root: %s",
			     strerror(errno));
		goto done;
	}
	if (fstat(pfd, &pst) < 0)
		err = refuse(out, -EIO, "cannot stat the path: %s", strerror(errno));
	else if (pst.st_dev != st->st_dev || pst.st_ino != st->st_ino)
		err = refuse(out, -EPERM, "the fd is not the file at that path");
	close(pfd);
done:
	close(rootfd);
	return err;
}

int
broker_seal_fd(const struct policy *p, uid_t uid, int fd, const char *vpath,
	       struct broker_outcome *out)
{
	const struct policy_tenant *cand = NULL;
	struct stat st;
	unsigned flags = 0;
	int err = 0, first_err = 0, fl;
	bool any = false;

	out->status = 0;
	out->reason[0] = '\0';
	out->already = 0;
	out->tenant[0] = '\0';
	/* Who asks: for the log, before any check can refuse. */
	for (size_t i = 0; i < p->n_tenants && out->tenant[0] == '\0'; i++) {
		struct passwd *pw = getpwnam(p->tenants[i].user);

		if (pw != NULL && pw->pw_uid == uid)
			snprintf(out->tenant, sizeof(out->tenant), "%s", p->tenants[i].name);
	}
	if (out->tenant[0] == '\0')
		return refuse(out, -EPERM, "uid %u is the user of no tenant", (unsigned)uid);
	/* The path alone first: nothing it says depends on the fd. */
	if (!vpath_is_clean(vpath))
		return refuse(out, -EINVAL, "not a clean absolute vault path");
	if (path_is_reserved(vpath))
		return refuse(out, -EPERM, "a reserved (.sealvault) path is never sealed on request");

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return refuse(out, -EBADF, "not an open file descriptor");
	if ((fl & O_PATH) == O_PATH)
		return refuse(out, -EBADF, "an O_PATH descriptor cannot be sealed");
	if (fstat(fd, &st) < 0)
		return refuse(out, -EBADF, "cannot stat the descriptor: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse(out, -EINVAL, "not a regular file");
	if (st.st_nlink != 1)
		return refuse(out, -EMLINK, "the file has %lu links, not one",
			      (unsigned long)st.st_nlink);

	/*
	 * The tenant: one whose user is the peer's uid and whose root holds
	 * this very file. A refusal reports the first such tenant's reason.
	 */
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];
		struct broker_outcome tmp = { 0 };
		struct passwd *pw = getpwnam(t->user);

		if (pw == NULL || pw->pw_uid != uid)
			continue;
		if (!any)
			snprintf(out->tenant, sizeof(out->tenant), "%s", t->name);
		err = check_identity(t, fd, &st, vpath, any ? &tmp : out);
		if (!any)
			first_err = err;
		any = true;
		if (err == 0) {
			cand = t;
			snprintf(out->tenant, sizeof(out->tenant), "%s", t->name);
			break;
		}
	}
	if (!any)
		return refuse(out, -EPERM, "uid %u is the user of no tenant", (unsigned)uid);
	if (cand == NULL) {
		out->status = first_err;
		return first_err;
	}
	out->status = 0;
	out->reason[0] = '\0';

	{
		enum policy_class c = policy_classify(cand->profile, vpath);

		if (!policy_class_immutable(c))
			return refuse(out, -EPERM, "the path is in the %s class, which is not sealed",
				      policy_class_name(c));
	}

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return refuse(out, -errno, "cannot read the file's flags: %s", strerror(errno));
	if (flags & FS_IMMUTABLE_FL) {
		out->already = 1;
		return 0;
	}
	{
		char when[32];
		int n = snprintf(when, sizeof(when), "%lld", (long long)time(NULL));

		if (fsetxattr(fd, SEAL_XATTR_SEALED, when, (size_t)n, 0) < 0)
			return refuse(out, -errno, "cannot record the seal time: %s", strerror(errno));
	}
	flags |= FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
		return refuse(out, -errno, "cannot set the immutable flag: %s", strerror(errno));
	return 0;
}

static int
send_reply(int conn, int status, const char *reason)
{
	unsigned char buf[SEAL_PROTO_REPLY_MAX];
	int32_t s = status;
	size_t len = strnlen(reason, SEAL_PROTO_REASON_MAX - 1);
	ssize_t r;

	memcpy(buf, &s, sizeof(s));
	memcpy(buf + sizeof(s), reason, len);
	buf[sizeof(s) + len] = '\0';
	do
		r = send(conn, buf, sizeof(s) + len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int
broker_serve_one(const struct policy *p, int conn, struct broker_outcome *out)
{
	unsigned char buf[SEAL_PROTO_REQUEST_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_RX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	int fds[MAX_RX_FDS], nfds = 0, err = 0, bad_cmsg = 0;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uint32_t magic;
	ssize_t r;

	memset(out, 0, sizeof(*out));
	do
		r = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		snprintf(out->reason, sizeof(out->reason), "recvmsg: %s", strerror(errno));
		return -errno;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n && nfds < MAX_RX_FDS; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		} else {
			bad_cmsg = 1;
		}
	}
	if (r == 0 && nfds == 0)
		return -ECONNRESET;

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		err = refuse(out, -EPERM, "cannot identify the peer: %s", strerror(errno));
		goto reply_close;
	}
	out->pid = cred.pid;
	out->uid = cred.uid;

	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		err = refuse(out, -EPROTO, "request too long or too many fds");
		goto reply_close;
	}
	if (bad_cmsg) {
		err = refuse(out, -EPROTO, "unexpected control message");
		goto reply_close;
	}
	if ((size_t)r < sizeof(magic) + 2 || buf[r - 1] != '\0') {
		err = refuse(out, -EPROTO, "malformed request");
		goto reply_close;
	}
	memcpy(&magic, buf, sizeof(magic));
	if (magic != SEAL_PROTO_MAGIC) {
		err = refuse(out, -EPROTO, "wrong protocol magic or version");
		goto reply_close;
	}
	if (strlen((char *)buf + sizeof(magic)) != (size_t)r - sizeof(magic) - 1) {
		err = refuse(out, -EPROTO, "NUL inside the path");
		goto reply_close;
	}
	snprintf(out->path, sizeof(out->path), "%s", (char *)buf + sizeof(magic));
	if (nfds != 1) {
		/* A well-formed request with the wrong fd count: refuse it, keep the connection. */
		refuse(out, -EINVAL, "expected exactly one fd, got %d", nfds);
		goto reply;
	}
	broker_seal_fd(p, cred.uid, fds[0], out->path, out);
reply:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	err = send_reply(conn, out->status, out->reason);
	if (err < 0)
		snprintf(out->reason, sizeof(out->reason), "cannot send the reply: %s", strerror(-err));
	return err;

reply_close:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	(void)send_reply(conn, out->status, out->reason);
	return err;
}
