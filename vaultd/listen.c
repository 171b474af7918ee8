/* SPDX-License-Identifier: MIT */
/*
 * vault-listen: the vault in one command, without sshd. It binds the
 * configured addresses, loads (or makes) its Ed25519 host key and every
 * tenant's keys, drops to the three capabilities it still needs, and for
 * each connection forks a process that speaks SSH as an unprivileged user
 * (listen-conn.c). Once that process shows a key the client proved it
 * holds, the listener checks it itself and starts vault-sftp as the
 * tenant's user for each channel (listen-worker.c). The listener enforces
 * the connection limits and the login grace time by itself: a connection
 * process that hangs is killed, whatever state libssh is in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <linux/close_range.h>

#include <libssh/server.h>

#include "listen-proto.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "privileges.h"

#ifndef SEALVAULT_VERSION
#define SEALVAULT_VERSION "unknown"
#endif
#ifndef SEALVAULT_VAULT_SFTP_PATH
#define SEALVAULT_VAULT_SFTP_PATH "/usr/libexec/sealvault/vault-sftp"
#endif

#define LISTEN_SOCKETS_MAX	8
/* After the grace time the connection process ends itself; this much later it is killed. */
#define GRACE_KILL_MARGIN_MS	2000
#define STOP_WAIT_MS		5000

/* CAP_SETUID/SETGID: run sessions as tenant users; CAP_KILL: stop processes of other uids. */
static const cap_value_t listener_caps[] = { CAP_SETUID, CAP_SETGID, CAP_KILL };

static int log_level = LOG_NOTICE;

void
listen_set_log_level(int priority)
{
	log_level = priority;
}

void
listen_log(int priority, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (priority > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vault-listen[%d]: %s\n", (int)getpid(), line);
}

/*
 * The tenant a login name means: the one whose user or name it is, or
 * (*ret_maintenance) the one whose maintenance-user it is. NULL: none.
 */
static const struct policy_tenant *
listen_find_tenant(const struct policy *p, const char *login, bool *ret_maintenance)
{
	*ret_maintenance = false;
	for (size_t i = 0; i < p->n_tenants; i++)
		if (strcmp(p->tenants[i].user, login) == 0)
			return &p->tenants[i];
	for (size_t i = 0; i < p->n_tenants; i++)
		if (strcmp(p->tenants[i].name, login) == 0)
			return &p->tenants[i];
	for (size_t i = 0; i < p->n_tenants; i++)
		if (p->tenants[i].maint_user != NULL && strcmp(p->tenants[i].maint_user, login) == 0) {
			*ret_maintenance = true;
			return &p->tenants[i];
		}
	return NULL;
}

/* The keys that may log in as (t, maintenance). */
static const struct listen_keyring *
listen_ring(const struct listen_ctx *ctx, const struct policy_tenant *t, bool maintenance)
{
	size_t i = (size_t)(t - ctx->policy->tenants);

	return maintenance ? &ctx->keys[i].maint_keys : &ctx->keys[i].keys;
}

/* ---- one record per connection process */

struct conn_rec {
	pid_t pid;		/* 0: free */
	int ctl;
	struct listen_peer peer;
	int64_t accepted_ms;
	bool authenticated, maintenance;
	char tenant[LISTEN_NAME_MAX];
	char fingerprint[64];
	unsigned auth_requests, auth_failures;
	pid_t workers[LISTEN_SLOTS];
};

struct listener {
	struct listen_ctx ctx;
	ssh_bind bind;
	int lfd[LISTEN_SOCKETS_MAX];
	size_t n_lfd;
	int sigfd;
	struct conn_rec *conns;
	size_t max_conns;
};

static void
rec_label(const struct conn_rec *c, char *out, size_t n)
{
	if (c->authenticated)
		snprintf(out, n, "%s%s key %s from %s", c->tenant, c->maintenance ? " (maintenance)" : "",
			 c->fingerprint, c->peer.addr);
	else
		snprintf(out, n, "%s port %u", c->peer.addr, c->peer.port);
}

/* ---- keys */

static void
warn_key(void *ctx, unsigned line, const char *msg)
{
	listen_log(LOG_WARNING, "%s:%u: %s", (const char *)ctx, line, msg);
}

static void
keys_free(struct listen_tenant_keys *keys, size_t n)
{
	for (size_t i = 0; keys != NULL && i < n; i++) {
		listen_keys_free(&keys[i].keys);
		listen_keys_free(&keys[i].maint_keys);
	}
	free(keys);
}

static int
load_ring(const char *path, struct listen_keyring *ring, const char *tenant)
{
	char err[256];
	int r;

	if (path == NULL)
		return 0;
	r = listen_keys_load(path, ring, warn_key, (void *)path, err, sizeof(err));
	if (r < 0)
		listen_log(LOG_WARNING, "tenant %s: %s: %s; nobody logs in with these keys", tenant, path, err);
	return 0;
}

/* Every tenant's keys, read once: the connection processes cannot read files. */
static int
keys_load(const struct policy *p, struct listen_tenant_keys **ret)
{
	struct listen_tenant_keys *keys = calloc(p->n_tenants ? p->n_tenants : 1, sizeof(*keys));
	size_t usable = 0;

	if (keys == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];

		if (t->authorized_keys == NULL)
			listen_log(LOG_WARNING, "tenant %s has no authorized-keys: nobody can log in", t->name);
		load_ring(t->authorized_keys, &keys[i].keys, t->name);
		if (t->maint_user != NULL) {
			if (t->maint_keys == NULL)
				listen_log(LOG_NOTICE, "tenant %s: no maintenance-keys; maintenance logins are "
					   "refused here", t->name);
			load_ring(t->maint_keys, &keys[i].maint_keys, t->name);
		}
		usable += keys[i].keys.n + keys[i].maint_keys.n;
	}
	if (usable == 0)
		listen_log(LOG_WARNING, "WARNING: no tenant has a usable key: every login will fail");
	*ret = keys;
	return 0;
}

/* ---- the listener's answers */

/* AUTH: the key must be the tenant's and allowed from the address we accepted. */
static int
check_auth(struct listener *l, struct conn_rec *c, const struct listen_msg *m, struct listen_msg *reply)
{
	const struct policy_tenant *t;
	const struct listen_key *k;
	char q[LISTEN_NAME_MAX * 2];
	bool maint;

	if (c->authenticated) {
		snprintf(reply->reason, sizeof(reply->reason), "already authenticated");
		return -EALREADY;
	}
	t = listen_find_tenant(l->ctx.policy, m->login, &maint);
	if (t == NULL) {
		log_quote(q, sizeof(q), m->login);
		snprintf(reply->reason, sizeof(reply->reason), "no tenant %s", q);
		return -ENOENT;
	}
	k = listen_keys_match_text(listen_ring(&l->ctx, t, maint), m->key, c->peer.addr);
	if (k == NULL) {
		snprintf(reply->reason, sizeof(reply->reason), "key not authorized for %s", t->name);
		return -EPERM;
	}
	if (maint && !policy_maint_from_allows(t, c->peer.addr)) {
		snprintf(reply->reason, sizeof(reply->reason),
			 "maintenance login from %s refused: not in maintenance-from", c->peer.addr);
		return -EPERM;
	}
	if (listen_check_user(&l->ctx, maint ? t->maint_user : t->user, reply->reason,
			      sizeof(reply->reason)) == NULL)
		return -EPERM;
	if (m->probe)
		return 0;
	c->authenticated = true;
	c->maintenance = maint;
	snprintf(c->tenant, sizeof(c->tenant), "%s", t->name);
	snprintf(c->fingerprint, sizeof(c->fingerprint), "%s", k->fingerprint);
	snprintf(reply->tenant, sizeof(reply->tenant), "%s", t->name);
	snprintf(reply->fingerprint, sizeof(reply->fingerprint), "%s", k->fingerprint);
	reply->maintenance = maint;
	return 0;
}

/* ret_fds: vault-sftp's stdin/stdout socket and, for a command, its stderr (else -1). */
static int
start_worker(struct listener *l, struct conn_rec *c, const struct listen_msg *m, struct listen_msg *reply,
	     int ret_fds[LISTEN_MSG_FDS])
{
	const struct policy_tenant *t;
	size_t slot;
	pid_t pid;
	int r;

	if (!c->authenticated) {
		snprintf(reply->reason, sizeof(reply->reason), "not authenticated");
		return -EACCES;
	}
	/* The connection process allows LISTEN_CHANNELS_MAX; the rest covers workers not yet reaped. */
	for (slot = 0; slot < LISTEN_SLOTS && c->workers[slot] != 0; slot++)
		;
	if (slot == LISTEN_SLOTS) {
		snprintf(reply->reason, sizeof(reply->reason), "%d sessions at once already", LISTEN_CHANNELS_MAX);
		return -EMFILE;
	}
	t = policy_tenant(l->ctx.policy, c->tenant);
	if (t == NULL) {
		snprintf(reply->reason, sizeof(reply->reason), "tenant %s is no longer configured", c->tenant);
		return -ENOENT;
	}
	r = listen_worker_spawn(&l->ctx, t, c->maintenance, c->fingerprint, m->command[0] ? m->command : NULL,
				&c->peer, &pid, ret_fds, reply->reason, sizeof(reply->reason));
	if (r < 0)
		return r;
	c->workers[slot] = pid;
	reply->worker = pid;
	return 0;
}

static void
kill_conn(struct conn_rec *c, const char *why)
{
	char label[256];

	rec_label(c, label, sizeof(label));
	listen_log(LOG_NOTICE, "%s: %s", label, why);
	(void)kill(c->pid, SIGKILL);
}

static void
handle_ctl(struct listener *l, struct conn_rec *c)
{
	struct listen_msg m, reply = { .type = LISTEN_MSG_REPLY };
	char label[256];
	int fds[LISTEN_MSG_FDS], r;

	r = listen_msg_recv(c->ctl, &m, fds, MSG_DONTWAIT);
	for (size_t i = 0; i < LISTEN_MSG_FDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);	/* nothing the connection process sends carries one */
	fds[0] = fds[1] = -1;
	if (r == -EAGAIN || r == -EINTR)
		return;
	if (r == -EPROTO) {
		kill_conn(c, "protocol violation by the connection process: killed");
		return;
	}
	if (r < 0) {
		close(c->ctl);	/* the process is ending; SIGCHLD frees the record */
		c->ctl = -1;
		return;
	}
	switch (m.type) {
	case LISTEN_MSG_AUTH:
		r = check_auth(l, c, &m, &reply);
		rec_label(c, label, sizeof(label));
		if (r == 0 && !m.probe)
			listen_log(LOG_NOTICE, "%s: authenticated as %s", label, m.login);
		else if (r < 0)
			listen_log(LOG_NOTICE, "%s: authentication refused: %s", label, reply.reason);
		/*
		 * Counted here too: the connection process counts and cuts off,
		 * but one taken over by a libssh bug would not.
		 */
		c->auth_failures += r < 0;
		if (c->auth_failures > l->ctx.policy->listen_max_auth_tries ||
		    ++c->auth_requests > 4 * l->ctx.policy->listen_max_auth_tries + 4) {
			kill_conn(c, "too many authentication requests: connection process killed");
			return;
		}
		break;
	case LISTEN_MSG_START:
		r = start_worker(l, c, &m, &reply, fds);
		rec_label(c, label, sizeof(label));
		if (r == 0)
			listen_log(LOG_INFO, "%s: session %s started (pid %d)", label,
				   m.command[0] ? "command" : "sftp", (int)reply.worker);
		else
			listen_log(LOG_ERR, "%s: session refused: %s", label, reply.reason);
		break;
	default:
		kill_conn(c, "protocol violation by the connection process: killed");
		return;
	}
	reply.status = r;
	if (listen_msg_send(c->ctl, &reply, fds, fds[0] < 0 ? 0 : fds[1] < 0 ? 1 : 2) < 0)
		kill_conn(c, "cannot answer the connection process: killed");
	for (size_t i = 0; i < LISTEN_MSG_FDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- accepting */

static void
peer_name(const struct sockaddr_storage *ss, char *addr, size_t n, unsigned *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)n);
		*port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		/* An IPv4 client of a dual-stack socket is shown, and matched, as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, (socklen_t)n);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)n);
		*port = ntohs(s6->sin6_port);
	}
}

static size_t
count_conns(const struct listener *l, const char *addr)
{
	size_t n = 0;

	for (size_t i = 0; i < l->max_conns; i++)
		if (l->conns[i].pid != 0 && (addr == NULL || strcmp(l->conns[i].peer.addr, addr) == 0))
			n++;
	return n;
}

static noreturn void
run_child(struct listener *l, ssh_session session, int ctl, const struct listen_peer *peer)
{
	sigset_t none;

	for (size_t i = 0; i < l->n_lfd; i++)
		close(l->lfd[i]);
	close(l->sigfd);
	for (size_t i = 0; i < l->max_conns; i++)
		if (l->conns[i].pid != 0 && l->conns[i].ctl >= 0)
			close(l->conns[i].ctl);
	ssh_bind_free(l->bind);
	/* The listener alone compares keys: a connection process has none to list. */
	keys_free(l->ctx.keys, l->ctx.policy->n_tenants);
	l->ctx.keys = NULL;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	listen_conn_run(&l->ctx, session, ctl, peer);
}

static void
accept_one(struct listener *l, int lfd)
{
	struct sockaddr_storage ss, local;
	socklen_t len = sizeof(ss), llen = sizeof(local);
	struct conn_rec *c = NULL;
	struct listen_peer peer = { 0 };
	ssh_session session;
	int fd, sv[2];
	pid_t pid;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			listen_log(LOG_ERR, "accept: %s", strerror(errno));
		return;
	}
	peer_name(&ss, peer.addr, sizeof(peer.addr), &peer.port);
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
		peer_name(&local, peer.local_addr, sizeof(peer.local_addr), &peer.local_port);
	if (count_conns(l, NULL) >= l->max_conns) {
		listen_log(LOG_WARNING, "%s port %u: too many connections (%zu at once, listen-max-connections)",
			   peer.addr, peer.port, l->max_conns);
		close(fd);
		return;
	}
	if (count_conns(l, peer.addr) >= l->ctx.policy->listen_max_per_address) {
		listen_log(LOG_WARNING, "%s port %u: too many connections from this address (%llu at once, "
			   "listen-max-per-address)", peer.addr, peer.port,
			   (unsigned long long)l->ctx.policy->listen_max_per_address);
		close(fd);
		return;
	}
	for (size_t i = 0; i < l->max_conns && c == NULL; i++)
		if (l->conns[i].pid == 0)
			c = &l->conns[i];
	session = ssh_new();
	if (session == NULL || ssh_bind_accept_fd(l->bind, session, fd) != SSH_OK) {
		listen_log(LOG_ERR, "%s: cannot set up the SSH session: %s", peer.addr,
			   session ? ssh_get_error(l->bind) : "out of memory");
		if (session != NULL)
			ssh_free(session);
		close(fd);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		listen_log(LOG_ERR, "socketpair: %s", strerror(errno));
		ssh_free(session);
		return;
	}
	pid = fork();
	if (pid < 0) {
		listen_log(LOG_ERR, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		ssh_free(session);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		run_child(l, session, sv[1], &peer);
	}
	close(sv[1]);
	ssh_free(session);	/* closes the parent's copy of the socket */
	*c = (struct conn_rec){ .pid = pid, .ctl = sv[0], .peer = peer, .accepted_ms = listen_now_ms() };
	listen_log(LOG_INFO, "%s port %u: connection (pid %d)", peer.addr, peer.port, (int)pid);
}

/* ---- children */

static void
reap(struct listener *l)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < l->max_conns; i++) {
			struct conn_rec *c = &l->conns[i];
			char label[256];

			if (c->pid == pid) {
				rec_label(c, label, sizeof(label));
				if (WIFSIGNALED(status))
					listen_log(LOG_NOTICE, "%s: connection process killed by signal %d", label,
						   WTERMSIG(status));
				if (c->ctl >= 0)
					close(c->ctl);
				c->pid = 0;
				c->ctl = -1;
				continue;
			}
			for (size_t w = 0; c->pid != 0 && w < LISTEN_SLOTS; w++)
				if (c->workers[w] == pid) {
					struct listen_msg m = { .type = LISTEN_MSG_EXIT, .worker = pid, .status = status };

					c->workers[w] = 0;
					if (c->ctl >= 0)
						(void)listen_msg_send(c->ctl, &m, NULL, 0);
				}
		}
	}
}

/* Login grace: a connection process that did not authenticate in time is killed. */
static int
enforce_grace(struct listener *l)
{
	int64_t grace = (int64_t)l->ctx.policy->listen_login_grace_s * 1000 + GRACE_KILL_MARGIN_MS;
	int64_t now = listen_now_ms(), next = INT64_MAX;

	for (size_t i = 0; i < l->max_conns; i++) {
		struct conn_rec *c = &l->conns[i];

		if (c->pid == 0 || c->authenticated || grace <= GRACE_KILL_MARGIN_MS)
			continue;
		if (now >= c->accepted_ms + grace) {
			kill_conn(c, "login grace time exceeded: connection process killed");
			c->accepted_ms = INT64_MAX / 2;	/* once */
		} else if (c->accepted_ms + grace < next) {
			next = c->accepted_ms + grace;
		}
	}
	if (next == INT64_MAX)
		return -1;
	return (int)(next - now);
}

static void
stop_all(struct listener *l)
{
	int64_t until = listen_now_ms() + STOP_WAIT_MS;

	for (size_t i = 0; i < l->max_conns; i++) {
		if (l->conns[i].pid == 0)
			continue;
		(void)kill(l->conns[i].pid, SIGTERM);
		for (size_t w = 0; w < LISTEN_SLOTS; w++)
			if (l->conns[i].workers[w] != 0)
				(void)kill(l->conns[i].workers[w], SIGTERM);
	}
	while (count_conns(l, NULL) > 0 && listen_now_ms() < until) {
		struct pollfd p = { l->sigfd, POLLIN, 0 };
		struct signalfd_siginfo si;

		if (poll(&p, 1, 100) > 0 && read(l->sigfd, &si, sizeof(si)) < 0)
			continue;	/* nothing to read after all: wait again */
		reap(l);
	}
	for (size_t i = 0; i < l->max_conns; i++)
		if (l->conns[i].pid != 0)
			(void)kill(l->conns[i].pid, SIGKILL);
	reap(l);
}

/* Whether an authenticated connection's key still lets it in, as the configuration now says. */
static bool
still_authorized(const struct listener *l, const struct conn_rec *c)
{
	const struct policy_tenant *t = policy_tenant(l->ctx.policy, c->tenant);
	const struct listen_keyring *ring;

	if (t == NULL || (c->maintenance && (t->maint_user == NULL ||
					     !policy_maint_from_allows(t, c->peer.addr))))
		return false;
	ring = listen_ring(&l->ctx, t, c->maintenance);
	for (size_t i = 0; i < ring->n; i++)
		if (strcmp(ring->v[i].fingerprint, c->fingerprint) == 0 &&
		    (ring->v[i].n_from == 0 ||
		     policy_addr_list_allows(ring->v[i].from, ring->v[i].n_from, c->peer.addr)))
			return true;
	return false;
}

/* A key removed from a tenant (a stolen one, say) ends the sessions it opened. */
static void
drop_revoked(struct listener *l)
{
	for (size_t i = 0; i < l->max_conns; i++) {
		struct conn_rec *c = &l->conns[i];

		if (c->pid == 0 || !c->authenticated || still_authorized(l, c))
			continue;
		kill_conn(c, "key no longer authorized after the reload: connection killed");
		for (size_t w = 0; w < LISTEN_SLOTS; w++)
			if (c->workers[w] != 0)
				(void)kill(c->workers[w], SIGTERM);
	}
}

static void
reload(struct listener *l)
{
	struct policy_error perr = { 0 };
	struct listen_tenant_keys *keys = NULL;
	struct policy *p = NULL;

	if (policy_load(l->ctx.config_path, &p, &perr) < 0) {
		listen_log(LOG_ERR, "reload: %s:%u: %s; keeping the running configuration", perr.file, perr.line,
			   perr.message);
		return;
	}
	if (keys_load(p, &keys) < 0) {
		listen_log(LOG_ERR, "reload: out of memory; keeping the running configuration");
		policy_free(p);
		return;
	}
	/* Limits and keys apply to new connections; addresses and the host key need a restart. */
	p->listen_max_connections = l->ctx.policy->listen_max_connections;
	keys_free(l->ctx.keys, l->ctx.policy->n_tenants);
	policy_free(l->ctx.policy);
	l->ctx.policy = p;
	l->ctx.keys = keys;
	listen_log(LOG_NOTICE, "reloaded %s: %zu tenant%s", l->ctx.config_path, p->n_tenants,
		   p->n_tenants == 1 ? "" : "s");
	drop_revoked(l);
}

static int
handle_signals(struct listener *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(l);
			break;
		case SIGHUP:
			reload(l);
			break;
		default:
			listen_log(LOG_NOTICE, "signal %u: stopping", si.ssi_signo);
			return 1;
		}
	}
	return 0;
}

static int
serve(struct listener *l)
{
	struct pollfd *pfd = calloc(1 + LISTEN_SOCKETS_MAX + l->max_conns, sizeof(*pfd));
	struct conn_rec **owner = calloc(1 + LISTEN_SOCKETS_MAX + l->max_conns, sizeof(*owner));

	if (pfd == NULL || owner == NULL) {
		free(pfd);
		free(owner);
		return -ENOMEM;
	}
	for (;;) {
		nfds_t n = 0;
		int timeout = enforce_grace(l);

		pfd[n++] = (struct pollfd){ l->sigfd, POLLIN, 0 };
		for (size_t i = 0; i < l->n_lfd; i++)
			pfd[n++] = (struct pollfd){ l->lfd[i], POLLIN, 0 };
		for (size_t i = 0; i < l->max_conns; i++)
			if (l->conns[i].pid != 0 && l->conns[i].ctl >= 0) {
				owner[n] = &l->conns[i];
				pfd[n++] = (struct pollfd){ l->conns[i].ctl, POLLIN, 0 };
			}
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			listen_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents && handle_signals(l) != 0)
			break;
		for (nfds_t i = 1 + l->n_lfd; i < n; i++)
			if (pfd[i].revents && owner[i]->pid != 0 && owner[i]->ctl == pfd[i].fd)
				handle_ctl(l, owner[i]);
		for (size_t i = 0; i < l->n_lfd; i++)
			if (pfd[1 + i].revents & POLLIN)
				accept_one(l, l->lfd[i]);
	}
	free(pfd);
	free(owner);
	stop_all(l);
	return 0;
}

/* ---- start-up */

static int
bind_one(const struct policy_endpoint *e)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	char text[80];
	int fd, one = 1;

	if (e->family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(e->port);
		memcpy(&s4->sin_addr, e->addr, 4);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(e->port);
		memcpy(&s6->sin6_addr, e->addr, 16);
		len = sizeof(*s6);
	}
	inet_ntop(e->family, e->addr, text, sizeof(text));
	fd = socket(e->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (e->family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		int e2 = errno;

		listen_log(LOG_ERR, "cannot listen on %s%s%s:%u: %s", e->family == AF_INET6 ? "[" : "", text,
			   e->family == AF_INET6 ? "]" : "", e->port, strerror(e2));
		close(fd);
		return -e2;
	}
	return fd;
}

/* Says loudly when finished uploads will not be sealed. */
static void
check_broker(const struct policy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), r = -1;

	if (fd >= 0 && strlen(p->broker_socket) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, p->broker_socket, strlen(p->broker_socket));
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (r < 0)
		listen_log(LOG_WARNING, "WARNING: kernel sealing is OFF: vaultd's seal broker %s is unreachable "
			   "(%s). vault-sftp still refuses every overwrite, append, truncate, rename and "
			   "remove, but finished files are not made immutable; run vaultd as root for that.",
			   p->broker_socket, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int
setup(struct listener *l, const char *override_listen)
{
	struct policy *p = l->ctx.policy;
	struct policy_endpoint one;
	const struct policy_endpoint *eps = p->listen;
	size_t n_eps = p->n_listen;
	char err[256];
	ssh_key host = NULL;
	bool generated = false;
	sigset_t mask;

	if (override_listen != NULL) {
		if (policy_parse_endpoint(override_listen, &one) < 0) {
			listen_log(LOG_ERR, "--listen %s: want ADDR:PORT or [ADDR6]:PORT", override_listen);
			return -EINVAL;
		}
		eps = &one;
		n_eps = 1;
	}
	if (n_eps == 0 || n_eps > LISTEN_SOCKETS_MAX) {
		listen_log(LOG_ERR, "%s: set listen (1 to %d addresses) or pass --listen", l->ctx.config_path,
			   LISTEN_SOCKETS_MAX);
		return -EINVAL;
	}
	if (listen_host_key(p->host_key, &host, &generated, err, sizeof(err)) < 0) {
		listen_log(LOG_ERR, "host key %s: %s", p->host_key, err);
		return -EIO;
	}
	if (generated)
		listen_log(LOG_NOTICE, "made a new Ed25519 host key %s", p->host_key);
	l->bind = ssh_bind_new();
	if (l->bind == NULL)
		return -ENOMEM;
	{
		bool no = false;

		/* Our configuration is vault.conf; a libssh server config file must not widen it. */
		(void)ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	}
	if (ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_IMPORT_KEY, host) != SSH_OK) {
		listen_log(LOG_ERR, "host key: %s", ssh_get_error(l->bind));
		ssh_key_free(host);
		return -EIO;
	}
	for (size_t i = 0; i < n_eps; i++) {
		int fd = bind_one(&eps[i]);

		if (fd < 0)
			return fd;
		l->lfd[l->n_lfd++] = fd;
	}
	if (keys_load(p, &l->ctx.keys) < 0)
		return -ENOMEM;
	l->max_conns = p->listen_max_connections ? (size_t)p->listen_max_connections : 1;
	l->conns = calloc(l->max_conns, sizeof(*l->conns));
	if (l->conns == NULL)
		return -ENOMEM;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	l->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sigfd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int
drop_to_listener(struct listener *l)
{
	const struct passwd *pw;
	char err[256];

	l->ctx.self_uid = getuid();
	l->ctx.privileged = geteuid() == 0;
	if (!l->ctx.privileged) {
		listen_log(LOG_WARNING, "WARNING: not started as root: every session runs as this user (uid %u), "
			   "only its own tenants can log in", (unsigned)getuid());
		return 0;
	}
	pw = getpwnam(l->ctx.policy->listen_user);
	if (pw == NULL || pw->pw_uid == 0) {
		listen_log(LOG_ERR, "listen-user %s: %s", l->ctx.policy->listen_user,
			   pw == NULL ? "no such user" : "must not be root");
		return -EINVAL;
	}
	l->ctx.listen_uid = pw->pw_uid;
	l->ctx.listen_gid = pw->pw_gid;
	if (privileges_drop(listener_caps, sizeof(listener_caps) / sizeof(listener_caps[0]), err,
			    sizeof(err)) < 0) {
		listen_log(LOG_ERR, "cannot drop privileges: %s", err);
		return -EPERM;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vault-listen --config FILE [--listen ADDR:PORT] [--vault-sftp PATH]\n"
		"                    [--log-level LEVEL] [--check]\n"
		"       vault-listen --help | --version\n"
		"\n"
		"A standalone SSH server that offers only the vault: each tenant of FILE\n"
		"logs in with a key of its authorized-keys (or, as its maintenance-user,\n"
		"of its maintenance-keys) and gets vault-sftp, as under sshd. Shells,\n"
		"commands other than md5sum/sha1sum, ptys and forwarding are refused.\n"
		"\n"
		"  --listen ADDR:PORT  listen here instead of the config's listen setting\n"
		"  --vault-sftp PATH   the vault-sftp to run (default %s)\n"
		"  --log-level LEVEL   error, notice (default), info or debug; passed on to vault-sftp\n"
		"  --check             load the configuration, host key and keys, then exit\n"
		"\n"
		"Runs in the foreground and logs to stderr. Started as root, it keeps only\n"
		"CAP_SETUID, CAP_SETGID and CAP_KILL, speaks SSH as the listen-user and runs\n"
		"each session as the tenant's user; started as a normal user, it serves the\n"
		"tenants of that user only. SIGHUP re-reads the configuration and keys.\n",
		SEALVAULT_VAULT_SFTP_PATH);
}

static int
parse_level(const char *s)
{
	if (strcmp(s, "error") == 0)
		return LOG_ERR;
	if (strcmp(s, "notice") == 0)
		return LOG_NOTICE;
	if (strcmp(s, "info") == 0)
		return LOG_INFO;
	if (strcmp(s, "debug") == 0)
		return LOG_DEBUG;
	return -1;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "vault-sftp", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct listener l = { .sigfd = -1 };
	struct policy_error perr = { 0 };
	const char *listen_addr = NULL;
	bool check = false;
	int c, r, level;

	/* Descriptors the launcher left open reach no connection process and no session. */
	(void)close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	l.ctx.vault_sftp = SEALVAULT_VAULT_SFTP_PATH;
	l.ctx.log_level = "notice";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': l.ctx.config_path = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 's': l.ctx.vault_sftp = optarg; break;
		case 'k': check = true; break;
		case 'L':
			level = parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "vault-listen: unknown log level '%s'\n", optarg);
				return 2;
			}
			listen_set_log_level(level);
			l.ctx.log_level = optarg;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vault-listen %s\n", SEALVAULT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || l.ctx.config_path == NULL) {
		fprintf(stderr, optind != argc ? "vault-listen: unexpected argument '%s'\n" :
			"vault-listen: --config is missing%s\n", optind != argc ? argv[optind] : "");
		return 2;
	}
	if (l.ctx.vault_sftp[0] != '/' || access(l.ctx.vault_sftp, X_OK) < 0) {
		listen_log(LOG_ERR, "vault-sftp %s: %s", l.ctx.vault_sftp,
			   l.ctx.vault_sftp[0] != '/' ? "not an absolute path" : strerror(errno));
		return 1;
	}
	ssh_init();
	if (policy_load(l.ctx.config_path, &l.ctx.policy, &perr) < 0) {
		listen_log(LOG_ERR, "%s:%u: %s", perr.file, perr.line, perr.message);
		return 1;
	}
	r = setup(&l, listen_addr);
	if (r == 0 && !check)
		r = drop_to_listener(&l);
	if (r < 0)
		return 1;
	if (check) {
		printf("vault-listen: configuration, host key and keys are usable\n");
		return 0;
	}
	check_broker(l.ctx.policy);
	for (size_t i = 0; i < (listen_addr ? 1 : l.ctx.policy->n_listen); i++) {
		const struct policy_endpoint *e = listen_addr ? NULL : &l.ctx.policy->listen[i];

		if (listen_addr != NULL)
			listen_log(LOG_NOTICE, "listening on %s", listen_addr);
		else {
			char text[64];

			inet_ntop(e->family, e->addr, text, sizeof(text));
			listen_log(LOG_NOTICE, "listening on %s%s%s:%u", e->family == AF_INET6 ? "[" : "", text,
				   e->family == AF_INET6 ? "]" : "", e->port);
		}
	}
	/* Type=notify: ready once every address accepts. */
	(void)notify_ready("accepting connections");
	r = serve(&l);
	(void)notify_stopping();
	keys_free(l.ctx.keys, l.ctx.policy->n_tenants);
	policy_free(l.ctx.policy);
	ssh_bind_free(l.bind);
	free(l.conns);
	ssh_finalize();
	return r < 0 ? 1 : 0;
}
