/* SPDX-License-Identifier: MIT */
/* The session: framing, INIT, dispatch through the one handler table, replies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"
#include "status.h"

static const struct sftp_request_type *const handler_tables[] = {
	handlers_file, handlers_dir, handlers_path, handlers_ext,
};

int
sftp_session_new(const struct sftp_session_config *config, const struct sftp_hooks *hooks,
		 struct sftp_session **ret)
{
	struct sftp_session *s;
	struct stat st;
	int err;

	*ret = NULL;
	if (fstat(config->root_fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->root_fd = fcntl(config->root_fd, F_DUPFD_CLOEXEC, 3);
	if (s->root_fd < 0) {
		err = -errno;
		free(s);
		return err;
	}
	buf_init(&s->in, SFTP_IN_LIMIT);
	buf_init(&s->out, SFTP_OUT_LIMIT);
	handles_init(&s->handles, config->max_handles ? config->max_handles : SFTP_DEFAULT_HANDLES);
	if (hooks != NULL)
		s->hooks = *hooks;
	s->label = strdup(config->client_label != NULL ? config->client_label : "");
	if (s->label == NULL || (err = names_copy(&s->names, config)) != 0) {
		sftp_session_free(s);
		return -ENOMEM;
	}
	s->log = (struct sftp_log){ .hooks = &s->hooks, .label = s->label };
	s->profile = config->profile;
	s->write_only = config->write_only;
	s->maintenance = config->maintenance;
	s->quota = (struct quota){ .max_bytes = config->quota_bytes, .max_files = config->quota_files };
	if ((s->quota.max_bytes != 0 || s->quota.max_files != 0) &&
	    (err = quota_scan(s->root_fd, &s->quota.bytes, &s->quota.files)) < 0) {
		/* Without a count the quota cannot hold: no session rather than no limit. */
		sftp_session_free(s);
		return err;
	}
	*ret = s;
	return 0;
}

struct sftp_session *
sftp_session_free(struct sftp_session *s)
{
	if (s == NULL)
		return NULL;
	if (s->handles.in_use > 0)
		log_line(&s->log, LOG_NOTICE, "session ended with %u open handles; unfinished uploads stay unpublished",
			 s->handles.in_use);
	handles_release(&s->handles);
	names_release(&s->names);
	buf_release(&s->in);
	buf_release(&s->out);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->label);
	free(s);
	return NULL;
}

/* ---- replies ---- */

int
reply_begin(struct sftp_session *s, struct reply *rp, uint8_t type, uint32_t id)
{
	int err;

	rp->start = buf_len(&s->out);
	if ((err = buf_put_u32(&s->out, 0)) != 0 ||
	    (err = buf_put_u8(&s->out, type)) != 0 ||
	    (err = buf_put_u32(&s->out, id)) != 0) {
		reply_abort(s, rp);
		return err;
	}
	return 0;
}

int
reply_end(struct sftp_session *s, struct reply *rp)
{
	size_t len = buf_len(&s->out) - rp->start - 4;

	buf_poke_u32(&s->out, rp->start, (uint32_t)len);
	return 0;
}

void
reply_abort(struct sftp_session *s, struct reply *rp)
{
	s->out.tail = s->out.head + rp->start;
}

int
reply_fatal(struct sftp_session *s, struct reply *rp, int err)
{
	reply_abort(s, rp);
	s->fatal = err;
	return err;
}

int
reply_status(struct sftp_session *s, uint32_t id, uint32_t status, const char *msg)
{
	struct reply rp;
	int err;

	if ((err = reply_begin(s, &rp, SSH_FXP_STATUS, id)) != 0)
		return reply_fatal(s, &rp, err);
	if ((err = buf_put_u32(&s->out, status)) != 0 ||
	    (err = buf_put_cstring(&s->out, msg != NULL ? msg : status_text(status))) != 0 ||
	    (err = buf_put_cstring(&s->out, "")) != 0)	/* language tag */
		return reply_fatal(s, &rp, err);
	return reply_end(s, &rp);
}

int
reply_errno(struct sftp_session *s, uint32_t id, int err, const char *path)
{
	char msg[VAULT_PATH_MAX + 128];

	if (path != NULL)
		snprintf(msg, sizeof(msg), "%s: %s", path, status_errno_text(err));
	else
		snprintf(msg, sizeof(msg), "%s", status_errno_text(err));
	return reply_status(s, id, status_from_errno(err), msg);
}

int
reply_quota(struct sftp_session *s, uint32_t id, const char *vpath, const char *what)
{
	char msg[VAULT_PATH_MAX + 160];

	log_line(&s->log, LOG_NOTICE, "quota exceeded (%s) at \"%s\": %llu bytes, %llu files in use",
		 what, vpath, (unsigned long long)s->quota.bytes, (unsigned long long)s->quota.files);
	snprintf(msg, sizeof(msg), "%s: quota exceeded: the vault holds %llu of %llu %s", vpath,
		 (unsigned long long)(what[0] == 'b' ? s->quota.bytes : s->quota.files),
		 (unsigned long long)(what[0] == 'b' ? s->quota.max_bytes : s->quota.max_files), what);
	return reply_status(s, id, SSH_FX_FAILURE, msg);
}

int
reply_handle(struct sftp_session *s, uint32_t id, const struct handle *h)
{
	uint8_t wire[HANDLE_WIRE_SIZE];
	struct reply rp;
	int err;

	handle_to_wire(&s->handles, h, wire);
	if ((err = reply_begin(s, &rp, SSH_FXP_HANDLE, id)) != 0 ||
	    (err = buf_put_string(&s->out, wire, sizeof(wire))) != 0)
		return reply_fatal(s, &rp, err);
	return reply_end(s, &rp);
}

int
reply_attrs(struct sftp_session *s, uint32_t id, const struct stat *st)
{
	struct sftp_attrs a;
	struct reply rp;
	int err;

	attrs_from_stat(st, &a);
	if ((err = reply_begin(s, &rp, SSH_FXP_ATTRS, id)) != 0 ||
	    (err = attrs_encode(&s->out, &a)) != 0)
		return reply_fatal(s, &rp, err);
	return reply_end(s, &rp);
}

int
reply_name(struct sftp_session *s, uint32_t id, const char *name)
{
	struct sftp_attrs none = { 0 };
	struct reply rp;
	int err;

	if ((err = reply_begin(s, &rp, SSH_FXP_NAME, id)) != 0 ||
	    (err = buf_put_u32(&s->out, 1)) != 0 ||
	    (err = buf_put_cstring(&s->out, name)) != 0 ||
	    (err = buf_put_cstring(&s->out, name)) != 0 ||
	    (err = attrs_encode(&s->out, &none)) != 0)
		return reply_fatal(s, &rp, err);
	return reply_end(s, &rp);
}

int
read_path(struct reader *r, char *vpath, size_t size)
{
	char raw[VAULT_PATH_MAX];
	int err;

	if ((err = reader_cstring(r, raw, sizeof(raw))) != 0)
		return err;
	return path_normalize(raw, vpath, size);
}

struct handle *
read_handle(struct sftp_session *s, struct reader *r, int *ret_err)
{
	const uint8_t *p;
	size_t n;

	*ret_err = reader_string(r, &p, &n);
	if (*ret_err != 0)
		return NULL;
	return handle_from_wire(&s->handles, p, n);
}

int
reply_bad_handle(struct sftp_session *s, uint32_t id)
{
	return reply_status(s, id, SSH_FX_FAILURE, "invalid handle");
}

struct handle *
request_handle(struct sftp_session *s, uint32_t id, struct reader *r, int *ret)
{
	struct handle *h = read_handle(s, r, ret);

	if (*ret == 0 && h == NULL)
		*ret = reply_bad_handle(s, id);
	return h;
}

/* ---- INIT ---- */

static int
process_init(struct sftp_session *s, struct reader *r)
{
	struct reply rp;
	uint32_t version;
	int err;

	if (reader_u32(r, &version) != 0) {
		log_line(&s->log, LOG_NOTICE, "malformed INIT dropped");
		return 0;
	}
	if (s->initialized) {
		log_line(&s->log, LOG_NOTICE, "second INIT ignored");
		return 0;
	}
	log_line(&s->log, LOG_INFO, "session opened, client version %u", version);
	/* VERSION has no request id: the version goes where the id would be. */
	if ((err = reply_begin(s, &rp, SSH_FXP_VERSION, SFTP_PROTOCOL_VERSION)) != 0)
		return reply_fatal(s, &rp, err);
	for (size_t i = 0; i < sizeof(handler_tables) / sizeof(handler_tables[0]); i++) {
		for (const struct sftp_request_type *t = handler_tables[i]; t->name != NULL; t++) {
			if (t->ext_name == NULL || !gate_advertise(s, t))
				continue;
			if ((err = buf_put_cstring(&s->out, t->ext_name)) != 0 ||
			    (err = buf_put_cstring(&s->out, t->ext_version)) != 0)
				return reply_fatal(s, &rp, err);
		}
	}
	s->initialized = true;
	return reply_end(s, &rp);
}

/* ---- dispatch ---- */

static const struct sftp_request_type *
find_core(uint8_t type)
{
	for (size_t i = 0; i < sizeof(handler_tables) / sizeof(handler_tables[0]); i++)
		for (const struct sftp_request_type *t = handler_tables[i]; t->name != NULL; t++)
			if (t->ext_name == NULL && t->type == type)
				return t;
	return NULL;
}

static const struct sftp_request_type *
find_extension(const uint8_t *name, size_t n)
{
	for (size_t i = 0; i < sizeof(handler_tables) / sizeof(handler_tables[0]); i++)
		for (const struct sftp_request_type *t = handler_tables[i]; t->name != NULL; t++)
			if (t->ext_name != NULL && strlen(t->ext_name) == n &&
			    memcmp(t->ext_name, name, n) == 0)
				return t;
	return NULL;
}

static void
run_handler(struct sftp_session *s, const struct sftp_request_type *t, uint32_t id, struct reader *r)
{
	struct gate_verdict v = gate_request(s, t);
	int err;

	if (v.status != SSH_FX_OK) {
		gate_refuse(s, id, t->name, "/", v);
		return;
	}
	err = t->fn(s, id, r);
	if (err == 0 || s->fatal != 0)
		return;
	/* The handler could not parse its request and sent nothing. */
	if (err == -ENAMETOOLONG)
		reply_status(s, id, SSH_FX_BAD_MESSAGE, "path too long");
	else
		reply_status(s, id, SSH_FX_BAD_MESSAGE, "malformed request");
	log_line(&s->log, LOG_NOTICE, "malformed %s request (id %u)", t->name, id);
}

static void
dispatch(struct sftp_session *s, const uint8_t *pkt, size_t len)
{
	struct reader r = reader_of(pkt, len);
	const struct sftp_request_type *t;
	uint8_t type;
	uint32_t id;

	(void)reader_u8(&r, &type);	/* len >= 1: checked by the caller */
	if (type == SSH_FXP_INIT) {
		process_init(s, &r);
		return;
	}
	if (reader_u32(&r, &id) != 0) {
		log_line(&s->log, LOG_NOTICE, "request of type %u without an id dropped", type);
		return;
	}
	if (!s->initialized) {
		reply_status(s, id, SSH_FX_FAILURE, "send INIT first");
		log_line(&s->log, LOG_NOTICE, "request of type %u before INIT refused", type);
		return;
	}
	if (type == SSH_FXP_EXTENDED) {
		const uint8_t *name;
		size_t n;

		if (reader_string(&r, &name, &n) != 0) {
			reply_status(s, id, SSH_FX_BAD_MESSAGE, "malformed request");
			return;
		}
		t = find_extension(name, n);
	} else {
		t = find_core(type);
	}
	if (t == NULL) {
		reply_status(s, id, SSH_FX_OP_UNSUPPORTED, "operation not supported");
		log_line(&s->log, LOG_INFO, "unsupported request type %u", type);
		return;
	}
	run_handler(s, t, id, &r);
}

/* An oversized packet: answer it if its id has arrived, then drop its bytes as they come. */
static bool
start_discard(struct sftp_session *s, uint32_t plen)
{
	size_t have = buf_len(&s->in) - 4;
	const uint8_t *p = buf_ptr(&s->in) + 4;

	if (have < 5)
		return false;	/* wait for type and id */
	if (p[0] != SSH_FXP_INIT)
		reply_status(s, peek_u32(p + 1), SSH_FX_FAILURE, "packet too long");
	log_line(&s->log, LOG_NOTICE, "packet of %u bytes (limit %u) discarded", plen, SFTP_MAX_PACKET);
	if (have > plen)
		have = plen;
	buf_consume(&s->in, 4 + have);
	s->discard = plen - have;
	return true;
}

int
sftp_session_process(struct sftp_session *s)
{
	while (s->fatal == 0 && buf_room(&s->out) >= SFTP_MAX_REPLY && buf_len(&s->in) >= 4) {
		uint32_t plen = peek_u32(buf_ptr(&s->in));

		if (plen == 0) {
			log_line(&s->log, LOG_NOTICE, "empty packet dropped");
			buf_consume(&s->in, 4);
			continue;
		}
		if (plen > SFTP_MAX_PACKET) {
			if (!start_discard(s, plen))
				break;
			continue;
		}
		if (buf_len(&s->in) - 4 < plen)
			break;
		dispatch(s, buf_ptr(&s->in) + 4, plen);
		buf_consume(&s->in, 4 + (size_t)plen);
	}
	return s->fatal;
}

size_t
sftp_session_input_room(const struct sftp_session *s)
{
	return buf_room(&s->in);
}

ssize_t
sftp_session_feed(struct sftp_session *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t taken = 0;
	int err;

	if (s->discard > 0) {
		size_t n = len < s->discard ? len : (size_t)s->discard;

		s->discard -= n;
		p += n;
		len -= n;
		taken += n;
	}
	if (len > buf_room(&s->in))
		len = buf_room(&s->in);
	if (len > 0) {
		if ((err = buf_put(&s->in, p, len)) != 0)
			return err;
		taken += len;
	}
	if ((err = sftp_session_process(s)) != 0)
		return err;
	return (ssize_t)taken;
}

const uint8_t *
sftp_session_output(const struct sftp_session *s, size_t *ret_len)
{
	*ret_len = buf_len(&s->out);
	return buf_ptr(&s->out);
}

void
sftp_session_output_done(struct sftp_session *s, size_t n)
{
	buf_consume(&s->out, n);
}
