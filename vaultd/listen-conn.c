/* SPDX-License-Identifier: MIT */
/*
 * One SSH connection of vault-listen, in its own process: it drops to the
 * listen-user, gives up every file, runs the key exchange and public-key
 * authentication through libssh, and relays each channel's bytes to the
 * vault-sftp the listener starts for it. Everything but SFTP (and md5sum /
 * sha1sum, which vault-sftp answers) is refused here.
 *
 * libssh 0.10 traps this file works around (../shared/libssh-notes.md):
 * the pubkey callback is also called for probes; writes never block inside
 * callbacks (non-blocking session, output queued and flushed from the
 * loop); a client that ignores the window is only logged by libssh, so the
 * data callback cuts it off; the receive window is grown by asking
 * ssh_channel_read_timeout() for as much as the queue has room for.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/server.h>

#include "confine.h"
#include "hash-command.h"
#include "listen-proto.h"
#include "listen.h"
#include "log.h"

/* Client → vault-sftp queue per channel; the receive window follows its room. */
#define QUEUE_SIZE	(4u << 20)
/* An honest client never has more than the window buffered (libssh's own window is smaller). */
#define INPUT_MAX	(QUEUE_SIZE + (1u << 20))
/* vault-sftp → client, per read. */
#define OUT_CHUNK	(256u << 10)
/* Grow the window again after this much data, not for every packet. */
#define TOPUP_EVERY	(QUEUE_SIZE / 8)
#define CTL_TIMEOUT_MS	15000

static const char refusal_text[] =
	"vault-listen: this vault offers only SFTP (and md5sum/sha1sum of stored files)\r\n";

struct conn;

struct relay {
	struct conn *conn;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	int fd;			/* the socket to vault-sftp; -1 before the start and once it is gone */
	int err_fd;		/* a command's stderr, for the client's; -1: none or at its end */
	char err[4096];		/* from err_fd, [0, err_len) not yet sent */
	size_t err_len;
	pid_t worker;
	uint8_t *in;		/* client → vault-sftp: [in_off, in_len) pending */
	size_t in_off, in_len;
	uint8_t *out;		/* vault-sftp → client: [out_off, out_len) pending */
	size_t out_off, out_len;
	size_t since_topup;
	bool held;		/* libssh keeps channel data the data callback did not take */
	bool requested;		/* a subsystem, exec or shell request was answered */
	bool refuse;		/* say refusal_text, exit 1 */
	bool client_eof, client_closed, worker_eof, exited, shut_wr;
	int status;		/* the worker's wait status, once exited */
};

struct conn {
	const struct listen_ctx *ctx;
	const struct listen_peer *peer;
	ssh_session session;
	ssh_event event;
	struct ssh_server_callbacks_struct scb;
	int ctl;
	bool authenticated, maintenance;
	bool reading;		/* inside our own channel read: the data callback leaves data to it */
	char tenant[LISTEN_NAME_MAX], fingerprint[64];
	char label[256];	/* who, for log lines */
	unsigned failures, nones;
	struct relay *relays[LISTEN_SLOTS];
	char fatal[256];	/* set: disconnect with this reason */
};

static void __attribute__((format(printf, 3, 4)))
conn_log(const struct conn *c, int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	listen_log(priority, "%s: %s", c->label, line);
}

static void __attribute__((format(printf, 2, 3)))
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->fatal[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->fatal, sizeof(c->fatal), fmt, ap);
	va_end(ap);
}

/* ---- talking to the listener */

static void
apply_exit(struct conn *c, const struct listen_msg *m)
{
	for (size_t i = 0; i < LISTEN_SLOTS; i++) {
		struct relay *r = c->relays[i];

		if (r != NULL && r->worker == m->worker && !r->exited) {
			r->exited = true;
			r->status = m->status;
		}
	}
}

static void
close_fds(int fds[LISTEN_MSG_FDS])
{
	for (size_t i = 0; i < LISTEN_MSG_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* The EXIT messages that came in meanwhile. Returns -errno when the listener is gone. */
static int
ctl_drain(struct conn *c)
{
	struct listen_msg m;
	int fds[LISTEN_MSG_FDS], r;

	while ((r = listen_msg_recv(c->ctl, &m, fds, MSG_DONTWAIT)) == 0) {
		close_fds(fds);
		if (m.type == LISTEN_MSG_EXIT)
			apply_exit(c, &m);
	}
	return r == -EAGAIN ? 0 : r;
}

/* Sends req and waits for the REPLY (EXITs meanwhile are applied). 0 or -errno. */
static int
ctl_request(struct conn *c, const struct listen_msg *req, struct listen_msg *reply, int ret_fds[LISTEN_MSG_FDS])
{
	int r;

	r = listen_msg_send(c->ctl, req, NULL, 0);
	if (r < 0)
		return r;
	for (;;) {
		struct pollfd p = { c->ctl, POLLIN, 0 };

		r = poll(&p, 1, CTL_TIMEOUT_MS);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r < 0)
			continue;
		r = listen_msg_recv(c->ctl, reply, ret_fds, 0);
		if (r < 0)
			return r;
		if (reply->type == LISTEN_MSG_REPLY)
			return 0;
		close_fds(ret_fds);
		if (reply->type == LISTEN_MSG_EXIT)
			apply_exit(c, reply);
	}
}

/* ---- authentication */

static void
auth_failed(struct conn *c, const char *login, const char *why)
{
	char q[LISTEN_NAME_MAX * 4 + 3];

	c->failures++;
	log_quote(q, sizeof(q), login);
	conn_log(c, LOG_NOTICE, "failed authentication for %s: %s (%u of %llu)", q, why, c->failures,
		 (unsigned long long)c->ctx->policy->listen_max_auth_tries);
	if (c->failures >= c->ctx->policy->listen_max_auth_tries)
		conn_fail(c, "too many authentication failures");
}

/*
 * The listener decides, for a probe (the client asks whether a key would
 * do) and for a signed request alike: the key must be the tenant's, from
 * this address. This process holds no authorized key to compare with.
 */
static int
ask_listener(struct conn *c, const char *login, ssh_key pubkey, bool probe)
{
	struct listen_msg req = { .type = LISTEN_MSG_AUTH, .probe = probe }, reply;
	char *b64 = NULL;
	const char *type = ssh_key_type_to_char(ssh_key_type(pubkey));
	int fds[LISTEN_MSG_FDS], r;

	if (type == NULL || ssh_pki_export_pubkey_base64(pubkey, &b64) != SSH_OK)
		return -EINVAL;
	snprintf(req.login, sizeof(req.login), "%s", login);
	r = snprintf(req.key, sizeof(req.key), "%s %s", type, b64);
	ssh_string_free_char(b64);
	if (r < 0 || (size_t)r >= sizeof(req.key))
		return -E2BIG;
	r = ctl_request(c, &req, &reply, fds);
	close_fds(fds);
	if (r < 0) {
		conn_fail(c, "the listener did not answer: %s", strerror(-r));
		return r;
	}
	if (reply.status < 0) {
		auth_failed(c, login, reply.reason);
		return reply.status;
	}
	if (probe)
		return 0;
	c->authenticated = true;
	c->maintenance = reply.maintenance != 0;
	snprintf(c->tenant, sizeof(c->tenant), "%s", reply.tenant);
	snprintf(c->fingerprint, sizeof(c->fingerprint), "%s", reply.fingerprint);
	snprintf(c->label, sizeof(c->label), "%s%s key %s from %s", c->tenant,
		 c->maintenance ? " (maintenance)" : "", c->fingerprint, c->peer->addr);
	conn_log(c, LOG_NOTICE, "authenticated (port %u)", c->peer->port);
	return 0;
}

static int
on_auth_pubkey(ssh_session session, const char *login, struct ssh_key_struct *pubkey, char state, void *ud)
{
	struct conn *c = ud;

	(void)session;
	if (c->authenticated || c->fatal[0] != '\0')
		return SSH_AUTH_DENIED;
	if (strlen(login) >= LISTEN_NAME_MAX) {
		auth_failed(c, login, "user name too long");
		return SSH_AUTH_DENIED;
	}
	/* A probe may get "this key would do"; only a verified signature (VALID) authenticates. */
	if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
		auth_failed(c, login, "bad signature");
		return SSH_AUTH_DENIED;
	}
	if (ask_listener(c, login, pubkey, state == SSH_PUBLICKEY_STATE_NONE) < 0)
		return SSH_AUTH_DENIED;
	return SSH_AUTH_SUCCESS;
}

static int
on_auth_password(ssh_session session, const char *login, const char *password, void *ud)
{
	(void)session;
	(void)password;
	auth_failed(ud, login, "passwords are not accepted");
	return SSH_AUTH_DENIED;
}

static int
on_auth_none(ssh_session session, const char *login, void *ud)
{
	struct conn *c = ud;

	(void)session;
	/* Every client asks once first (sshd does not count that); more is a flood. */
	if (c->nones++ > 0)
		auth_failed(c, login, "method none");
	return SSH_AUTH_DENIED;
}

/* ---- channels */

static int
on_data(ssh_session session, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
	struct relay *r = ud;
	size_t room, n;

	(void)session;
	(void)ch;
	if (len > INPUT_MAX) {
		conn_fail(r->conn, "client ignores the SSH window (%u bytes buffered)", len);
		return 0;
	}
	if (is_stderr)
		return (int)len;	/* a client's stderr means nothing to a vault */
	if (r->worker > 0 && r->fd < 0)
		return (int)len;	/* vault-sftp is gone: nobody to give it to */
	if (r->in == NULL || r->conn->reading) {
		r->held = true;		/* not started yet, or our own read takes it */
		return 0;
	}
	room = QUEUE_SIZE - r->in_len;
	n = len < room ? len : room;
	memcpy(r->in + r->in_len, data, n);
	r->in_len += n;
	r->since_topup += n;
	r->held |= n < len;
	return (int)n;
}

static void
on_eof(ssh_session session, ssh_channel ch, void *ud)
{
	(void)session;
	(void)ch;
	((struct relay *)ud)->client_eof = true;
}

static void
on_close(ssh_session session, ssh_channel ch, void *ud)
{
	(void)session;
	(void)ch;
	((struct relay *)ud)->client_closed = true;
}

/* Asks the listener for vault-sftp; command NULL: the sftp subsystem. 0 or -1 (request refused). */
static int
start_worker(struct relay *r, const char *command)
{
	struct conn *c = r->conn;
	struct listen_msg req = { .type = LISTEN_MSG_START }, reply;
	int fds[LISTEN_MSG_FDS], e;

	r->requested = true;
	r->in = malloc(QUEUE_SIZE);
	r->out = malloc(OUT_CHUNK);
	if (r->in == NULL || r->out == NULL) {
		conn_log(c, LOG_ERR, "out of memory for a channel");
		return -1;
	}
	if (command != NULL)
		snprintf(req.command, sizeof(req.command), "%s", command);
	e = ctl_request(c, &req, &reply, fds);
	if (e < 0) {
		conn_fail(c, "the listener did not answer: %s", strerror(-e));
		return -1;
	}
	if (reply.status < 0 || fds[0] < 0) {
		close_fds(fds);
		conn_log(c, LOG_ERR, "cannot start the session: %s", reply.reason);
		return -1;
	}
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	r->fd = fds[0];
	if (fds[1] >= 0) {
		(void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
		r->err_fd = fds[1];
	}
	r->worker = reply.worker;
	r->since_topup = TOPUP_EVERY;	/* grow the window at once */
	return 0;
}

static int
on_subsystem(ssh_session session, ssh_channel ch, const char *name, void *ud)
{
	struct relay *r = ud;
	char q[256];

	(void)session;
	(void)ch;
	if (r->requested)
		return -1;
	if (strcmp(name, "sftp") != 0) {
		log_quote(q, sizeof(q), name);
		conn_log(r->conn, LOG_NOTICE, "refused subsystem %s: only sftp", q);
		return -1;
	}
	return start_worker(r, NULL);
}

static int
refuse_session(struct relay *r, const char *what, const char *command)
{
	char q[512];

	r->requested = true;
	r->refuse = true;
	if (command != NULL) {
		log_quote(q, sizeof(q), command);
		conn_log(r->conn, LOG_NOTICE, "refused %s %s: only SFTP, md5sum and sha1sum are offered", what, q);
	} else {
		conn_log(r->conn, LOG_NOTICE, "refused %s: only SFTP is offered", what);
	}
	return 0;	/* the channel opens, says why, and exits 1 */
}

static int
on_exec(ssh_session session, ssh_channel ch, const char *command, void *ud)
{
	struct relay *r = ud;
	struct hash_request hash;

	(void)session;
	(void)ch;
	if (r->requested)
		return -1;
	switch (command_classify(command, &hash)) {
	case COMMAND_SFTP:
		return start_worker(r, NULL);
	case COMMAND_HASH:
		return start_worker(r, command);
	case COMMAND_REFUSED:
		break;
	}
	return refuse_session(r, "exec", command);
}

static int
on_shell(ssh_session session, ssh_channel ch, void *ud)
{
	struct relay *r = ud;

	(void)session;
	(void)ch;
	if (r->requested)
		return -1;
	return refuse_session(r, "shell", NULL);
}

static int
on_pty(ssh_session session, ssh_channel ch, const char *term, int w, int h, int pw, int ph, void *ud)
{
	(void)session;
	(void)ch;
	(void)term;
	(void)w;
	(void)h;
	(void)pw;
	(void)ph;
	conn_log(((struct relay *)ud)->conn, LOG_NOTICE, "refused a pty: only SFTP is offered");
	return -1;
}

/*
 * Agent forwarding is refused by never opening an agent channel. libssh
 * answers a want-reply request with success once this callback exists;
 * OpenSSH asks for none, and the log is the only place a refusal shows.
 */
static void
on_agent(ssh_session session, ssh_channel ch, void *ud)
{
	(void)session;
	(void)ch;
	conn_log(((struct relay *)ud)->conn, LOG_NOTICE, "refused agent forwarding: only SFTP is offered");
}

static int
on_env(ssh_session session, ssh_channel ch, const char *name, const char *value, void *ud)
{
	(void)session;
	(void)ch;
	(void)name;
	(void)value;
	(void)ud;
	return -1;	/* vault-sftp's environment is the listener's to set */
}

static ssh_channel
on_channel_open(ssh_session session, void *ud)
{
	struct conn *c = ud;
	struct relay *r;
	size_t slot, open = 0;

	if (!c->authenticated)
		return NULL;
	/* Channels the client closed still hold a slot until the loop frees them: they do not count. */
	for (size_t i = 0; i < LISTEN_SLOTS; i++)
		open += c->relays[i] != NULL && !c->relays[i]->client_closed;
	for (slot = 0; slot < LISTEN_SLOTS && c->relays[slot] != NULL; slot++)
		;
	if (open >= LISTEN_CHANNELS_MAX || slot == LISTEN_SLOTS) {
		conn_log(c, LOG_NOTICE, "refused a channel: %d open already", LISTEN_CHANNELS_MAX);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->ch = ssh_channel_new(session);
	if (r->ch == NULL) {
		free(r);
		return NULL;
	}
	r->conn = c;
	r->fd = -1;
	r->err_fd = -1;
	r->cb = (struct ssh_channel_callbacks_struct){
		.userdata = r,
		.channel_data_function = on_data,
		.channel_eof_function = on_eof,
		.channel_close_function = on_close,
		.channel_subsystem_request_function = on_subsystem,
		.channel_exec_request_function = on_exec,
		.channel_shell_request_function = on_shell,
		.channel_pty_request_function = on_pty,
		.channel_env_request_function = on_env,
		.channel_auth_agent_req_function = on_agent,
		/* x11-req stays NULL: libssh refuses it. */
	};
	ssh_callbacks_init(&r->cb);
	if (ssh_set_channel_callbacks(r->ch, &r->cb) != SSH_OK) {
		ssh_channel_free(r->ch);
		free(r);
		return NULL;
	}
	c->relays[slot] = r;
	return r->ch;
}

/* Ends a channel: from the main loop only, never inside a callback. */
static void
relay_free(struct conn *c, size_t slot)
{
	struct relay *r = c->relays[slot];

	ssh_remove_channel_callbacks(r->ch, &r->cb);
	ssh_channel_free(r->ch);
	if (r->fd >= 0)
		close(r->fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	free(r->in);
	free(r->out);
	free(r);
	c->relays[slot] = NULL;
}

/* libssh's output buffer holds data not yet handed to the kernel. */
static bool
output_queued(const struct conn *c)
{
	return (ssh_get_status(c->session) & SSH_WRITE_PENDING) != 0;
}

/* Client → vault-sftp: write the queue, then take more from libssh (growing the window). */
static void
relay_input(struct conn *c, struct relay *r)
{
	size_t room;
	int n;

	if (r->fd >= 0 && r->in_off < r->in_len) {
		ssize_t w = send(r->fd, r->in + r->in_off, r->in_len - r->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0)
			r->in_off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			close(r->fd);	/* vault-sftp is gone; its exit ends the channel */
			r->fd = -1;
			r->worker_eof = true;
		}
	}
	if (r->fd < 0) {
		r->in_off = r->in_len = 0;
		return;
	}
	if (r->in_off == r->in_len) {
		r->in_off = r->in_len = 0;
	} else if (r->in_off > QUEUE_SIZE / 2) {
		memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
		r->in_len -= r->in_off;
		r->in_off = 0;
	}
	room = QUEUE_SIZE - r->in_len;
	if (room == 0)
		return;
	/*
	 * Nothing to grow and nothing libssh holds back: no call at all (each
	 * would poll the socket once more on every turn of the loop).
	 */
	if (!(r->since_topup >= TOPUP_EVERY && room >= QUEUE_SIZE / 2) && !r->held)
		return;
	/* libssh may handle packets from here on: the data callback leaves their data to this read. */
	c->reading = true;
	r->held = false;
	if (r->since_topup >= TOPUP_EVERY && room >= QUEUE_SIZE / 2) {
		/* Asking for room bytes grows the window to room (libssh 0.10 keeps ~1.25 MB). */
		r->since_topup = 0;
	} else {
		n = ssh_channel_poll(r->ch, 0);
		if (n < (int)room)
			room = n > 0 ? (size_t)n : 0;
	}
	n = room > 0 ? ssh_channel_read_timeout(r->ch, r->in + r->in_len, (uint32_t)room, 0, 0) : 0;
	c->reading = false;
	if (n > 0) {
		r->in_len += (size_t)n;
		r->since_topup += (size_t)n;
		r->held |= (size_t)n == room;	/* there may be more */
	}
}

/* The client's EOF reaches vault-sftp once everything before it did. */
static void
relay_eof(struct relay *r)
{
	if ((r->client_eof || r->client_closed) && !r->shut_wr && r->fd >= 0 && r->in_off == r->in_len &&
	    ssh_channel_poll(r->ch, 0) <= 0) {
		(void)shutdown(r->fd, SHUT_WR);
		r->shut_wr = true;
	}
}

/* vault-sftp → client, only while libssh has nothing queued: its buffer never grows past a chunk. */
static void
relay_output(struct conn *c, struct relay *r, short revents)
{
	if (r->out_off == r->out_len && r->fd >= 0 && !r->worker_eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(r->fd, r->out, OUT_CHUNK);

		if (n > 0) {
			r->out_off = 0;
			r->out_len = (size_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->worker_eof = true;
		}
	}
	if (r->client_closed)
		r->out_off = r->out_len;	/* the client is gone: vault-sftp's answers go nowhere */
	while (r->out_off < r->out_len && !output_queued(c)) {
		uint32_t win = ssh_channel_window_size(r->ch);
		size_t n = r->out_len - r->out_off;
		int w;

		if (win == 0)
			break;
		if (n > win)
			n = win;
		w = ssh_channel_write(r->ch, r->out + r->out_off, (uint32_t)n);
		if (w < 0) {
			r->client_closed = true;
			return;
		}
		if (w == 0)
			break;
		r->out_off += (size_t)w;
	}
}

/* A command's stderr → the client's stderr, a small buffer at a time. */
static void
relay_stderr(struct conn *c, struct relay *r, short revents)
{
	if (r->err_fd >= 0 && r->err_len == 0 && (revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(r->err_fd, r->err, sizeof(r->err));

		if (n > 0) {
			r->err_len = (size_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(r->err_fd);
			r->err_fd = -1;
		}
	}
	if (r->err_len > 0 && !output_queued(c) &&
	    ssh_channel_window_size(r->ch) >= r->err_len) {
		if (ssh_channel_write_stderr(r->ch, r->err, (uint32_t)r->err_len) < 0)
			r->client_closed = true;
		r->err_len = 0;
	}
}

/* Ends the channel once vault-sftp's output is out and its exit status is known. 1: freed. */
static int
relay_finish(struct conn *c, size_t slot)
{
	struct relay *r = c->relays[slot];
	int status;

	if (r->client_closed) {
		/*
		 * What the client sent before it closed still goes to vault-sftp,
		 * as sshd drains it: the socket stays open (its answers read and
		 * dropped) until vault-sftp has read everything, seen EOF and ended.
		 */
		if (r->fd >= 0 && !r->worker_eof)
			return 0;
		relay_free(c, slot);
		return 1;
	}
	if (r->refuse) {
		if (output_queued(c))
			return 0;
		(void)ssh_channel_write_stderr(r->ch, refusal_text, sizeof(refusal_text) - 1);
		status = 1;
	} else if (r->worker > 0 && r->worker_eof && r->exited && r->out_off == r->out_len && r->err_fd < 0 &&
		   r->err_len == 0) {
		status = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 255;
	} else {
		return 0;
	}
	(void)ssh_channel_request_send_exit_status(r->ch, status);
	(void)ssh_channel_send_eof(r->ch);
	(void)ssh_channel_close(r->ch);
	relay_free(c, slot);
	return 1;
}

/* ---- the process */

static noreturn void
conn_exit(struct conn *c, int status)
{
	for (size_t i = 0; i < LISTEN_SLOTS; i++)
		if (c->relays[i] != NULL)
			relay_free(c, i);
	if (c->event != NULL)
		ssh_event_free(c->event);
	ssh_disconnect(c->session);
	ssh_free(c->session);
	_exit(status);
}

/* Root: become the listen-user, with no capability left. Then no files, no forks. */
static int
drop_privileges(const struct listen_ctx *ctx, const char **what)
{
	/* Data: 10 channels of 4 MiB queues and libssh's buffers fit many times over. */
	struct rlimit none = { 0, 0 }, fds = { 64, 64 }, data = { 512u << 20, 512u << 20 };
	cap_t caps;
	int abi, r;

	if (ctx->privileged) {
		if (setgroups(0, NULL) < 0 || setresgid(ctx->listen_gid, ctx->listen_gid, ctx->listen_gid) < 0 ||
		    setresuid(ctx->listen_uid, ctx->listen_uid, ctx->listen_uid) < 0) {
			*what = "switching to the listen-user";
			return -errno;
		}
	}
	/* The listener's securebits keep capabilities across the uid change: clear them here. */
	caps = cap_init();
	r = caps != NULL && cap_set_proc(caps) == 0 ? 0 : -errno;
	cap_free(caps);
	if (r < 0) {
		*what = "dropping capabilities";
		return r;
	}
	/* No RLIMIT_FSIZE: stderr, the log, may be a file. */
	if (setrlimit(RLIMIT_NPROC, &none) < 0 || setrlimit(RLIMIT_CORE, &none) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &fds) < 0 || setrlimit(RLIMIT_DATA, &data) < 0) {
		*what = "resource limits";
		return -errno;
	}
	return confine_no_files(NULL, &abi, what);
}

static int
handshake(struct conn *c)
{
	long timeout = (long)c->ctx->policy->listen_login_grace_s;
	int64_t start = listen_now_ms();

	/*
	 * libssh sends its whole output queue with one send(): on a blocking
	 * socket a client that stops reading would hold this process in it.
	 */
	if (fcntl(ssh_get_fd(c->session), F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	{
		int one = 1;

		(void)setsockopt(ssh_get_fd(c->session), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	/* Bounds every wait of the key exchange; the listener kills us at the grace time anyway. */
	if (timeout > 0)
		(void)ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
	(void)ssh_options_set(c->session, SSH_OPTIONS_COMPRESSION_C_S, "none");
	(void)ssh_options_set(c->session, SSH_OPTIONS_COMPRESSION_S_C, "none");
	/*
	 * Callbacks before the key exchange: the client's service request can
	 * come in the same read as its NEWKEYS, and without server callbacks
	 * libssh queues it unanswered.
	 */
	ssh_set_auth_methods(c->session, SSH_AUTH_METHOD_PUBLICKEY);
	c->scb = (struct ssh_server_callbacks_struct){
		.userdata = c,
		.auth_pubkey_function = on_auth_pubkey,
		.auth_password_function = on_auth_password,
		.auth_none_function = on_auth_none,
		.channel_open_request_session_function = on_channel_open,
	};
	ssh_callbacks_init(&c->scb);
	if (ssh_set_server_callbacks(c->session, &c->scb) != SSH_OK)
		return -ENOMEM;
	if (ssh_handle_key_exchange(c->session) != SSH_OK) {
		if (listen_now_ms() - start >= (int64_t)timeout * 1000)
			conn_log(c, LOG_NOTICE, "disconnected: login grace time exceeded (%ld s) in the key exchange",
				 timeout);
		else
			conn_log(c, LOG_INFO, "key exchange failed: %s", ssh_get_error(c->session));
		return -EPROTO;
	}
	c->event = ssh_event_new();
	if (c->event == NULL || ssh_event_add_session(c->event, c->session) != SSH_OK)
		return -ENOMEM;
	ssh_set_blocking(c->session, 0);
	return 0;
}

static bool
session_gone(ssh_session s)
{
	return (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 || !ssh_is_connected(s);
}

static void
serve(struct conn *c)
{
	const struct policy *p = c->ctx->policy;
	int64_t start = listen_now_ms(), last = start;

	for (;;) {
		/* The session, the listener, and per channel vault-sftp's socket and a command's stderr. */
		struct pollfd pfd[2 + 2 * LISTEN_SLOTS];
		size_t slot_of[2 + 2 * LISTEN_SLOTS];
		int64_t deadline, now;
		nfds_t n = 2;
		int r;

		for (size_t i = 0; i < LISTEN_SLOTS; i++) {
			struct relay *rl = c->relays[i];
			short ev = 0;

			if (rl == NULL || relay_finish(c, i) != 0)
				continue;
			if (rl->fd >= 0) {
				if (rl->in_off < rl->in_len)
					ev |= POLLOUT;
				if (rl->out_off == rl->out_len && !rl->worker_eof)
					ev |= POLLIN;
			}
			/* Nothing asked: not polled (a hung-up socket would wake us at once, forever). */
			if (ev != 0) {
				pfd[n] = (struct pollfd){ rl->fd, ev, 0 };
				slot_of[n++] = i;
			}
			if (rl->err_fd >= 0 && rl->err_len == 0) {
				pfd[n] = (struct pollfd){ rl->err_fd, POLLIN, 0 };
				slot_of[n++] = i;
			}
		}
		if (c->fatal[0] != '\0') {
			conn_log(c, LOG_NOTICE, "disconnected: %s", c->fatal);
			conn_exit(c, 1);
		}
		if (session_gone(c->session)) {
			if (ssh_get_status(c->session) & SSH_CLOSED_ERROR)
				conn_log(c, LOG_INFO, "connection lost: %s", ssh_get_error(c->session));
			else
				conn_log(c, LOG_INFO, "connection closed");
			conn_exit(c, 0);
		}
		/*
		 * While libssh has output queued, read nothing more from the
		 * client: a client that sends requests but never reads the
		 * answers (keepalives, auth "none") would grow that queue.
		 */
		pfd[0] = (struct pollfd){ ssh_get_fd(c->session), POLLIN, 0 };
		if (output_queued(c))
			pfd[0].events = POLLOUT;
		else if (ssh_get_poll_flags(c->session) & SSH_WRITE_PENDING)
			pfd[0].events |= POLLOUT;	/* libssh waits to hear the socket is writable */
		pfd[1] = (struct pollfd){ c->ctl, POLLIN, 0 };

		now = listen_now_ms();
		if (!c->authenticated)
			deadline = start + (int64_t)p->listen_login_grace_s * 1000;
		else if (p->listen_idle_s > 0)
			deadline = last + (int64_t)p->listen_idle_s * 1000;
		else
			deadline = now + 3600 * 1000;
		if (now >= deadline) {
			conn_fail(c, c->authenticated ? "idle for %llu s" : "login grace time exceeded (%llu s)",
				  (unsigned long long)(c->authenticated ? p->listen_idle_s : p->listen_login_grace_s));
			continue;
		}
		r = poll(pfd, n, (int)(deadline - now < 60000 ? deadline - now : 60000));
		if (r < 0 && errno != EINTR) {
			conn_fail(c, "poll: %s", strerror(errno));
			continue;
		}
		if (r <= 0)
			continue;
		/* Idle means no traffic with the client, whatever vault-sftp does. */
		if (pfd[0].revents)
			last = listen_now_ms();
		if (pfd[1].revents) {
			r = ctl_drain(c);
			if (r < 0) {
				conn_fail(c, "the listener is gone");
				continue;
			}
		}
		if (pfd[0].revents && ssh_event_dopoll(c->event, 0) == SSH_ERROR && session_gone(c->session))
			continue;
		for (nfds_t i = 2; i < n; i++) {
			struct relay *rl = c->relays[slot_of[i]];

			if (rl != NULL && pfd[i].fd == rl->fd)
				relay_output(c, rl, pfd[i].revents);
			else if (rl != NULL && pfd[i].fd == rl->err_fd)
				relay_stderr(c, rl, pfd[i].revents);
		}
		for (size_t i = 0; i < LISTEN_SLOTS; i++)
			if (c->relays[i] != NULL) {
				relay_input(c, c->relays[i]);
				relay_eof(c->relays[i]);
				relay_output(c, c->relays[i], 0);
				relay_stderr(c, c->relays[i], 0);
			}
		/* Send what the relays queued now, not after another round of poll. */
		if (output_queued(c))
			(void)ssh_event_dopoll(c->event, 0);
	}
}

noreturn void
listen_conn_run(const struct listen_ctx *ctx, ssh_session session, int ctl, const struct listen_peer *peer)
{
	struct conn c = { .ctx = ctx, .peer = peer, .session = session, .ctl = ctl };
	const char *what = NULL;
	int r;

	snprintf(c.label, sizeof(c.label), "%s port %u", peer->addr, peer->port);
	signal(SIGPIPE, SIG_IGN);
	r = drop_privileges(ctx, &what);
	if (r < 0) {
		conn_log(&c, LOG_ERR, "cannot confine the connection (%s): %s", what, strerror(-r));
		conn_exit(&c, 1);
	}
	if (handshake(&c) < 0)
		conn_exit(&c, 1);
	serve(&c);
	conn_exit(&c, 0);
}
