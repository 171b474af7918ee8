/* SPDX-License-Identifier: MIT */
/* The seal broker's server side: see broker.h. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attic-ops.h"
#include "path.h"
#include "protect.h"

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

/* Checks that fd is the file at t's root + vpath. Returns 0 or -errno with a reason. */
static int
check_identity(const struct vault_tenant *t, const struct stat *st, const char *vpath,
	       struct broker_outcome *out)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		/* NO_XDEV: a mount inside a root (a bind of other data) is not the tenant's. */
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	struct stat pst;
	int pfd, err = 0;

	if (st->st_dev != t->dev)
		return refuse(out, -EXDEV, "the file is not on the tenant's filesystem");
	pfd = (int)syscall(SYS_openat2, t->root_fd, vpath + 1, &how, sizeof(how));
	if (pfd < 0)
		return refuse(out, -EPERM, "the path does not resolve inside the tenant root: %s",
			      strerror(errno));
	if (fstat(pfd, &pst) < 0)
		err = refuse(out, -EIO, "cannot stat the path: %s", strerror(errno));
	else if (pst.st_dev != st->st_dev || pst.st_ino != st->st_ino)
		err = refuse(out, -EPERM, "the fd is not the file at that path");
	close(pfd);
	return err;
}

/*
 * The checks every fd request passes: the peer is a tenant's user or
 * maintenance user, the path is clean and not reserved, and fd is the
 * regular, singly linked file at that path inside that tenant's root.
 * Returns the tenant (out->maintenance says which of its users asked), or
 * NULL with out->status and out->reason set.
 */
static struct vault_tenant *
check_request(const struct tenant_table *tab, uid_t uid, int fd, const char *vpath,
	      struct stat *st, struct broker_outcome *out)
{
	struct vault_tenant *cand = NULL;
	int err = 0, first_err = 0, fl;
	char first_reason[SEAL_PROTO_REASON_MAX] = "";

	out->status = 0;
	out->reason[0] = '\0';
	out->seal = SEAL_REFUSED;
	out->tenant = NULL;
	/* Who asks: for the log, before any check can refuse. */
	out->tenant = tenants_by_uid(tab, uid);
	out->maintenance = out->tenant != NULL && tenant_is_maint_uid(out->tenant, uid);
	if (out->tenant == NULL) {
		refuse(out, -EPERM, "uid %u is the user of no tenant", (unsigned)uid);
		return NULL;
	}
	/* The path alone first: nothing it says depends on the fd. */
	if (!path_is_clean(vpath)) {
		refuse(out, -EINVAL, "not a clean absolute vault path");
		return NULL;
	}
	if (path_is_reserved(vpath)) {
		refuse(out, -EPERM, "a reserved (.sealvault) path is never touched on request");
		return NULL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		refuse(out, -EBADF, "not an open file descriptor");
		return NULL;
	}
	if ((fl & O_PATH) == O_PATH) {
		refuse(out, -EBADF, "an O_PATH descriptor cannot be sealed");
		return NULL;
	}
	/*
	 * The filesystem before anything else: a file on a FUSE mount the
	 * peer serves could hang a plain fstat() and with it vaultd.
	 * AT_STATX_DONT_SYNC asks no server; only a tenant filesystem goes on.
	 */
	{
		struct statx stx;
		bool ours = false;

		if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) < 0) {
			refuse(out, -EBADF, "cannot stat the descriptor: %s", strerror(errno));
			return NULL;
		}
		for (size_t i = 0; i < tab->n && !ours; i++)
			ours = tenant_serves_uid(&tab->t[i], uid) &&
			       tab->t[i].dev == makedev(stx.stx_dev_major, stx.stx_dev_minor);
		if (!ours) {
			refuse(out, -EXDEV, "the file is not on the tenant's filesystem");
			return NULL;
		}
	}
	if (fstat(fd, st) < 0) {
		refuse(out, -EBADF, "cannot stat the descriptor: %s", strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st->st_mode)) {
		refuse(out, -EINVAL, "not a regular file");
		return NULL;
	}
	if (st->st_nlink != 1) {
		refuse(out, -EMLINK, "the file has %lu links, not one", (unsigned long)st->st_nlink);
		return NULL;
	}
	/*
	 * The tenant: one whose user is the peer's uid and whose root holds
	 * this very file. A refusal reports the first such tenant's reason.
	 */
	for (size_t i = 0; i < tab->n && cand == NULL; i++) {
		struct vault_tenant *t = &tab->t[i];

		if (!tenant_serves_uid(t, uid))
			continue;
		err = check_identity(t, st, vpath, out);
		if (err == 0)
			cand = t;
		else if (first_err == 0) {
			first_err = err;
			snprintf(first_reason, sizeof(first_reason), "%s", out->reason);
		}
	}
	if (cand == NULL) {
		snprintf(out->reason, sizeof(out->reason), "%s", first_reason);
		out->status = first_err;
		return NULL;
	}
	out->tenant = cand;
	out->maintenance = tenant_is_maint_uid(cand, uid);
	out->reason[0] = '\0';
	out->status = 0;
	return cand;
}

int
broker_seal_fd(const struct tenant_table *tab, uid_t uid, int fd, const char *vpath,
	       struct broker_outcome *out)
{
	struct vault_tenant *t;
	struct seal_result res;
	struct stat st;

	out->kind = BROKER_SEAL;
	t = check_request(tab, uid, fd, vpath, &st, out);
	if (t == NULL)
		return out->status;
	out->seal = seal_file(t, fd, &st, vpath, &res);
	out->dirs_protected = res.dirs_protected;
	out->resealed = res.resealed;
	if (out->seal == SEAL_DONE || out->seal == SEAL_ALREADY)
		return 0;
	return refuse(out, res.error ? res.error : -EPERM, "%s", res.reason);
}

int
broker_attic_fd(const struct tenant_table *tab, uid_t uid, int fd, const char *vpath,
		struct broker_outcome *out)
{
	struct policy_decision d;
	struct vault_tenant *t;
	struct stat st;
	int r;

	out->kind = BROKER_ATTIC;
	t = check_request(tab, uid, fd, vpath, &st, out);
	if (t == NULL)
		return out->status;
	/*
	 * Versioned files go to the attic on the tenant's own request; sealed
	 * ones only on its maintenance user's (a tool's prune, from the
	 * addresses vault-sftp checked), which the tenant's uid cannot be.
	 */
	d = policy_decide(t->conf->profile, t->conf->write_only, POLICY_OP_REMOVE, vpath);
	if (d.action != POLICY_ATTIC && !(d.cls == POLICY_SEAL && out->maintenance))
		return refuse(out, -EPERM, "the path is in the %s class, which has no attic%s",
			      policy_class_name(d.cls),
			      d.cls == POLICY_SEAL ? " (only for the tenant's maintenance user)" : "");
	r = attic_ops_move(t, fd, &st, vpath, out->reason, sizeof(out->reason));
	out->status = r;
	return r;
}

int
broker_maint_begin(const struct tenant_table *tab, uid_t uid, struct broker_outcome *out)
{
	struct vault_tenant *t = NULL;
	int r;

	out->kind = BROKER_MAINT;
	out->status = 0;
	out->reason[0] = '\0';
	for (size_t i = 0; i < tab->n && t == NULL; i++)
		if (tenant_is_maint_uid(&tab->t[i], uid))
			t = &tab->t[i];
	out->tenant = t;
	out->maintenance = t != NULL;
	if (t == NULL) {
		out->tenant = tenants_by_uid(tab, uid);
		return refuse(out, -EPERM, "uid %u is the maintenance user of no tenant", (unsigned)uid);
	}
	r = protect_tree(t->root_fd, t->uid, t->maint_uid, &out->dirs_protected);
	if (r < 0)
		return refuse(out, r, "not every directory could be opened to the maintenance user: %s",
			      strerror(-r));
	return 0;
}

/* n NUL-terminated fields, field i shorter than max[i], filling exactly len bytes. */
static bool
split_fields(const unsigned char *p, size_t len, size_t n, const size_t *max, const char **field)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		const unsigned char *nul = off < len ? memchr(p + off, '\0', len - off) : NULL;

		if (nul == NULL || (size_t)(nul - (p + off)) >= max[i])
			return false;
		field[i] = (const char *)p + off;
		off = (size_t)(nul - p) + 1;
	}
	return off == len;
}

/*
 * A report: op, path and reason, each NUL-terminated, nothing after. The
 * tenant is the peer's (by uid), never what the message says. A malformed
 * report is dropped with the connection: there is no reply to send.
 */
static int
parse_report(const struct tenant_table *tab, const unsigned char *p, size_t len,
	     struct broker_outcome *out)
{
	static const size_t max[3] = { SEAL_PROTO_OP_MAX, SEAL_PROTO_PATH_MAX, SEAL_PROTO_REASON_MAX };
	const char *field[3];

	if (!split_fields(p, len, 3, max, field)) {
		snprintf(out->reason, sizeof(out->reason), "malformed report");
		return -EPROTO;
	}
	out->tenant = tenants_by_uid(tab, out->uid);
	out->maintenance = out->tenant != NULL && tenant_is_maint_uid(out->tenant, out->uid);
	if (out->tenant == NULL) {
		snprintf(out->reason, sizeof(out->reason), "report from uid %u, the user of no tenant",
			 (unsigned)out->uid);
		return -EPERM;
	}
	snprintf(out->op, sizeof(out->op), "%s", field[0]);
	snprintf(out->path, sizeof(out->path), "%s", field[1]);
	snprintf(out->reason, sizeof(out->reason), "%s", field[2]);
	return 0;
}

/*
 * A well-formed session message (key, client): stored in sess when it is
 * the connection's first message and both fields are graphic ASCII;
 * otherwise refused, and what was stored stays. out->status is the reply.
 */
static void
serve_session(const struct tenant_table *tab, const char *key_fp, const char *client,
	      struct broker_session *sess, struct broker_outcome *out)
{
	out->tenant = tenants_by_uid(tab, out->uid);
	out->maintenance = out->tenant != NULL && tenant_is_maint_uid(out->tenant, out->uid);
	if (out->tenant == NULL)
		refuse(out, -EPERM, "uid %u is the user of no tenant", (unsigned)out->uid);
	else if (!seal_proto_session_field_ok(key_fp) || !seal_proto_session_field_ok(client))
		refuse(out, -EINVAL, "session key or client address with a byte that is not graphic ASCII: "
		       "ignored");
	else if (sess->messages > 0)
		refuse(out, -EALREADY, "session info comes once, as the first message: ignored "
		       "(this one said key %s client %s)", key_fp[0] ? key_fp : "-", client[0] ? client : "-");
	else {
		snprintf(sess->key_fp, sizeof(sess->key_fp), "%s", key_fp);
		snprintf(sess->client, sizeof(sess->client), "%s", client);
	}
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

static int
serve_message(const struct tenant_table *tab, int conn, struct broker_session *sess,
	      struct broker_outcome *out)
{
	unsigned char buf[SEAL_PROTO_REPORT_MAX + 1];
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
	if (magic == SEAL_PROTO_MAGIC_REPORT && nfds == 0) {
		out->kind = BROKER_REPORT;
		return parse_report(tab, buf + sizeof(magic), (size_t)r - sizeof(magic), out);
	}
	if (magic == SEAL_PROTO_MAGIC_SESSION) {
		static const size_t max[2] = { SEAL_PROTO_KEY_MAX, SEAL_PROTO_CLIENT_MAX };
		const char *field[2];

		out->kind = BROKER_SESSION;
		if (nfds != 0 || !split_fields(buf + sizeof(magic), (size_t)r - sizeof(magic), 2, max, field)) {
			err = refuse(out, -EPROTO, "malformed session message");
			goto reply_close;
		}
		serve_session(tab, field[0], field[1], sess, out);
		goto reply;
	}
	if (magic != SEAL_PROTO_MAGIC && magic != SEAL_PROTO_MAGIC_ATTIC && magic != SEAL_PROTO_MAGIC_MAINT) {
		err = refuse(out, -EPROTO, "wrong protocol magic or version");
		goto reply_close;
	}
	if ((size_t)r > SEAL_PROTO_REQUEST_MAX) {
		err = refuse(out, -EPROTO, "request too long");
		goto reply_close;
	}
	if (strlen((char *)buf + sizeof(magic)) != (size_t)r - sizeof(magic) - 1) {
		err = refuse(out, -EPROTO, "NUL inside the path");
		goto reply_close;
	}
	snprintf(out->path, sizeof(out->path), "%s", (char *)buf + sizeof(magic));
	if (magic == SEAL_PROTO_MAGIC_MAINT) {
		if (nfds != 0 || strcmp(out->path, "/") != 0) {
			err = refuse(out, -EPROTO, "a maintenance request names \"/\" and passes no fd");
			goto reply_close;
		}
		broker_maint_begin(tab, cred.uid, out);
		goto reply;
	}
	if (nfds != 1) {
		/* A well-formed request with the wrong fd count: refuse it, keep the connection. */
		refuse(out, -EINVAL, "expected exactly one fd, got %d", nfds);
		goto reply;
	}
	if (magic == SEAL_PROTO_MAGIC_ATTIC)
		broker_attic_fd(tab, cred.uid, fds[0], out->path, out);
	else
		broker_seal_fd(tab, cred.uid, fds[0], out->path, out);
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

int
broker_serve_one(const struct tenant_table *tab, int conn, struct broker_session *sess,
		 struct broker_outcome *out)
{
	int r = serve_message(tab, conn, sess, out);

	if (r != -EAGAIN && r != -ECONNRESET)
		sess->messages++;
	memcpy(out->key_fp, sess->key_fp, sizeof(out->key_fp));
	memcpy(out->client, sess->client, sizeof(out->client));
	return r;
}
