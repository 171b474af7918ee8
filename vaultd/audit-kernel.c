/* SPDX-License-Identifier: MIT */
/*
 * The kernel audit log: a user message (AUDIT_TRUSTED_APP) over NETLINK_AUDIT, sent with
 * NLM_F_ACK so a refusal (EPERM without CAP_AUDIT_WRITE, ECONNREFUSED outside
 * the initial user namespace) is seen. The kernel handles the message in the
 * sender's context, so the ack is already queued when sendto() returns.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>

#include "audit-internal.h"

_Static_assert(AUDIT_KERNEL_MSG_SIZE >= MNL_ALIGN(MNL_NLMSG_HDRLEN + AUDIT_KERNEL_TEXT_MAX + 1),
	       "room for the header, the longest text and its NUL");
_Static_assert(AUDIT_KERNEL_MSG_SIZE <= 8970, "libaudit's MAX_AUDIT_MESSAGE_LENGTH");

/* Short values (op, tenant, source, key, client) are cut to this before encoding. */
#define SHORT_VALUE_MAX	256

int
audit_kernel_open(struct audit_kernel *k)
{
	struct mnl_socket *nl;
	int err, one = 1;

	audit_kernel_close(k);
	nl = mnl_socket_open2(NETLINK_AUDIT, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (nl == NULL)
		return -errno;
	/* An error ack would echo the whole request otherwise; the header is enough. */
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl);
		return err;
	}
	k->nl = nl;
	k->last = 1;
	return 0;
}

void
audit_kernel_close(struct audit_kernel *k)
{
	if (k->nl != NULL)
		mnl_socket_close(k->nl);
	k->nl = NULL;
}

/* Plain values go in double quotes; the rest in uppercase hex, as auditd expects. */
static bool
needs_hex(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c <= 0x20 || c >= 0x7f)
			return true;
	}
	return false;
}

/* op is written bare (op=seal), like auditd's own records, when it is a plain word. */
static bool
is_word(const char *v, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == ':' || c == '.'))
			return false;
	}
	return true;
}

struct out {
	char *p;
	size_t len, size;
};

/* Appends what fits; the caller has measured, so nothing is cut here in practice. */
static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->size)
		n = o->size - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

struct kv {
	const char *name;
	const char *v;		/* NULL: left out */
	size_t len;
	enum { KV_QUOTED, KV_HEX, KV_BARE } how;
};

static struct kv
kv_make(const char *name, const char *v, size_t cap)
{
	struct kv f = { .name = name, .v = v };

	if (v != NULL) {
		f.len = strnlen(v, cap);
		f.how = needs_hex(v, f.len) ? KV_HEX : KV_QUOTED;
	}
	return f;
}

/* Encoded size of the value when cut to n bytes. */
static size_t
enc_len(const struct kv *f, size_t n)
{
	return f->how == KV_HEX ? 2 * n : f->how == KV_QUOTED ? n + 2 : n;
}

/* The most bytes of f whose encoding fits in room. */
static size_t
fit(const struct kv *f, size_t room)
{
	size_t n = f->how == KV_HEX ? room / 2 : f->how == KV_QUOTED ? (room >= 2 ? room - 2 : 0) : room;

	return n < f->len ? n : f->len;
}

/* " name=value" (no leading space for the first field), value cut to n bytes. */
static void
put_kv(struct out *o, const struct kv *f, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";

	if (f->v == NULL)
		return;
	if (o->len > 0)
		put(o, " ", 1);
	put(o, f->name, strlen(f->name));
	put(o, "=", 1);
	if (f->how == KV_HEX) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)f->v[i];
			char h[2] = { digits[c >> 4], digits[c & 15] };

			put(o, h, 2);
		}
	} else if (f->how == KV_QUOTED) {
		put(o, "\"", 1);
		put(o, f->v, n);
		put(o, "\"", 1);
	} else {
		put(o, f->v, n);
	}
}

static bool
event_failed(const struct audit_record *r)
{
	switch (r->event) {
	case AUDIT_SEAL_REFUSED:
	case AUDIT_SEAL_FAILED:
	case AUDIT_CLIENT_REFUSAL:
		return true;
	default:
		return r->priority <= LOG_ERR;
	}
}

size_t
audit_kernel_format(char *dst, size_t size, const struct audit_record *r)
{
	static const char trunc[] = " trunc=yes";
	struct out o = { dst, 0, size < AUDIT_KERNEL_TEXT_MAX + 1 ? size : AUDIT_KERNEL_TEXT_MAX + 1 };
	struct kv op, tenant, path, reason, source, fp, addr;
	const struct kv *shortf[] = { &op, &tenant, &source, &fp, &addr };
	const char *res = event_failed(r) ? " res=failed" : " res=success";
	char num[64];
	size_t fixed, room, want_p, want_r, give_p, give_r;
	int nn = 0;

	if (size == 0)
		return 0;
	dst[0] = '\0';
	op = kv_make("op", r->op != NULL ? r->op : "unknown", SHORT_VALUE_MAX);
	if (is_word(op.v, op.len))
		op.how = KV_BARE;
	tenant = kv_make("tenant", r->tenant, SHORT_VALUE_MAX);
	source = kv_make("source", r->source, SHORT_VALUE_MAX);
	fp = kv_make("fp", r->key_fp, SHORT_VALUE_MAX);
	/* addr=: the remote address, as auditd's own records name it. */
	addr = kv_make("addr", r->client, SHORT_VALUE_MAX);
	path = kv_make("path", r->path, AUDIT_VALUE_MAX);
	/* A daemon record says everything in its message. */
	reason = kv_make("reason", r->reason != NULL ? r->reason : r->message, AUDIT_VALUE_MAX);
	/* The kernel adds vaultd's own pid= and uid=; these are the peer's. */
	if (r->uid != (uid_t)-1)
		nn += snprintf(num + nn, sizeof(num) - (size_t)nn, " peer_uid=%u", (unsigned)r->uid);
	if (r->pid > 0)
		nn += snprintf(num + nn, sizeof(num) - (size_t)nn, " peer_pid=%d", (int)r->pid);

	/* Everything but the path and reason values always fits: measure it first. */
	fixed = (size_t)nn + strlen(res) + strlen(trunc);
	for (size_t i = 0; i < sizeof(shortf) / sizeof(shortf[0]); i++)
		if (shortf[i]->v != NULL)
			fixed += 2 + strlen(shortf[i]->name) + enc_len(shortf[i], shortf[i]->len);
	fixed += path.v != NULL ? 2 + strlen(path.name) : 0;
	fixed += reason.v != NULL ? 2 + strlen(reason.name) : 0;
	room = o.size - 1 > fixed ? o.size - 1 - fixed : 0;
	want_p = path.v != NULL ? enc_len(&path, path.len) : 0;
	want_r = reason.v != NULL ? enc_len(&reason, reason.len) : 0;
	/* Too long: the reason keeps up to a quarter of the room, the path comes first. */
	give_r = want_r < room / 4 ? want_r : room / 4;
	give_p = want_p < room - give_r ? want_p : room - give_r;
	give_r = want_r < room - give_p ? want_r : room - give_p;
	give_p = fit(&path, give_p);
	give_r = fit(&reason, give_r);

	put_kv(&o, &op, op.len);
	put_kv(&o, &tenant, tenant.len);
	put_kv(&o, &path, give_p);
	put_kv(&o, &reason, give_r);
	put_kv(&o, &source, source.len);
	put_kv(&o, &fp, fp.len);
	put_kv(&o, &addr, addr.len);
	put(&o, num, (size_t)nn);
	if (give_p < path.len || give_r < reason.len)
		put(&o, trunc, strlen(trunc));
	put(&o, res, strlen(res));
	return o.len;
}

/* Reads until the ack for seq; other messages (late replies) are skipped. */
static int
read_ack(struct mnl_socket *nl, uint32_t seq, int timeout_ms, int (*cb)(const struct nlmsghdr *, void *),
	 void *data)
{
	char buf[2 * AUDIT_KERNEL_MSG_SIZE] __attribute__((aligned(4)));
	uint32_t portid = mnl_socket_get_portid(nl);

	for (int round = 0; round < 16; round++) {
		struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (timeout_ms > 0 && poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			/* Acks carry our port id, AUDIT_GET replies 0. */
			if (nlh->nlmsg_seq != seq || (nlh->nlmsg_pid != portid && nlh->nlmsg_pid != 0))
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					return -EPROTO;
				/* 0 is the ack itself; a reply may still follow (AUDIT_GET). */
				if (e->error != 0 || cb == NULL)
					return e->error;
				continue;
			}
			if (cb != NULL && cb(nlh, data) <= 0)
				return 0;
		}
	}
	return -ETIMEDOUT;
}

size_t
audit_kernel_build(void *buf, uint32_t seq, const struct audit_record *r)
{
	struct nlmsghdr *nlh;
	char text[AUDIT_KERNEL_TEXT_MAX + 1];
	size_t len;

	len = audit_kernel_format(text, sizeof(text), r);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = AUDIT_TRUSTED_APP;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	/* With its NUL: the kernel overwrites the last byte with one. (put_extra_header zeroes.) */
	memcpy(mnl_nlmsg_put_extra_header(nlh, len + 1), text, len + 1);
	return nlh->nlmsg_len;
}

int
audit_kernel_send(struct audit_kernel *k, const struct audit_record *r)
{
	char buf[AUDIT_KERNEL_MSG_SIZE] __attribute__((aligned(4)));
	size_t len;

	if (k->nl == NULL)
		return k->last = -ENOTCONN;
	len = audit_kernel_build(buf, ++k->seq, r);
	if (mnl_socket_sendto(k->nl, buf, len) < 0)
		return k->last = -errno;
	/* The ack is queued before sendto() returns; a short poll covers the odd case. */
	return k->last = read_ack(k->nl, k->seq, 100, NULL, NULL);
}

static int
status_cb(const struct nlmsghdr *nlh, void *data)
{
	int *enabled = data;

	if (nlh->nlmsg_type == AUDIT_GET &&
	    mnl_nlmsg_get_payload_len(nlh) >= offsetof(struct audit_status, enabled) + sizeof(__u32)) {
		const struct audit_status *s = mnl_nlmsg_get_payload(nlh);

		*enabled = (int)s->enabled;
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

int
audit_kernel_query_enabled(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(4)));
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int enabled = -1, err;

	nl = mnl_socket_open2(NETLINK_AUDIT, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (nl == NULL)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = AUDIT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	/* The status comes from a kernel thread, after the ack: wait for it, briefly. */
	err = read_ack(nl, 1, 200, status_cb, &enabled);
	if (err == 0 && enabled < 0)
		err = -ETIMEDOUT;
out:
	mnl_socket_close(nl);
	return err < 0 ? err : enabled;
}
