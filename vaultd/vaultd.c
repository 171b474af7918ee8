/* SPDX-License-Identifier: MIT */
/*
 * vaultd: the sealvault daemon (vaultd/README.md). Start-up in the order
 * the README gives, then one poll loop over signals, the seal broker, the
 * control socket and the watcher, with the catch-up scan done in slices
 * between events so that a seal request never waits behind a walk.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "control.h"
#include "daemon.h"
#include "ledger.h"
#include "notify.h"
#include "policy.h"
#include "privileges.h"
#include "scan.h"
#include "watcher.h"

#define MAX_BROKER_CONNS	1024
#define MAX_CONTROL_CONNS	16
#define MAX_CONNS_PER_UID	64	/* one tenant's sessions cannot crowd out the others */
#define BUDGET			4096	/* events or scan entries per loop turn */

struct options {
	const char *config, *broker_socket, *control_socket;
	int watcher;		/* -1: the config's */
	bool scan;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vaultd --config FILE [--socket PATH] [--control PATH]\n"
		"              [--watcher auto|fanotify|inotify|off] [--no-scan] [--foreground]\n"
		"\n"
		"Seals every finished file of every tenant with the kernel's immutable flag:\n"
		"the seal broker for vault-sftp, a watcher for everything else, a catch-up\n"
		"scan at start. Stays in the foreground; SIGHUP reloads the config.\n"
		"See vaultd(8).\n");
}

/* Before the audit trail exists: configuration and start-up errors. */
static void
early_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
early_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vaultd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
parse_options(int argc, char *argv[], struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'C' },
		{ "watcher", required_argument, NULL, 'w' },
		{ "no-scan", no_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	static const char *const modes[] = { "auto", "fanotify", "inotify", "off" };
	int c;

	*o = (struct options){ .watcher = -1, .scan = true };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->broker_socket = optarg; break;
		case 'C': o->control_socket = optarg; break;
		case 'w':
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, modes[i]) == 0)
					o->watcher = i;
			if (o->watcher < 0) {
				early_error("--watcher takes auto, fanotify, inotify or off, not \"%s\"", optarg);
				return 2;
			}
			break;
		case 'n': o->scan = false; break;
		case 'f': break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("vaultd %s\n", SEALVAULT_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o->config == NULL) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* A listening SOCK_SEQPACKET socket at path with mode; a stale socket is replaced, nothing else. */
static int
listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int s;

	if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		early_error("bad socket path: %s", path ? path : "(none)");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* /run/sealvault without systemd's RuntimeDirectory=: make it (one level, 0755). */
	{
		char dir[sizeof(sa.sun_path)];
		char *slash;

		memcpy(dir, path, strlen(path) + 1);
		slash = strrchr(dir, '/');
		if (slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				early_error("cannot create %s: %s", dir, strerror(errno));
				return -1;
			}
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			early_error("%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		early_error("socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0777 & ~mode);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		early_error("bind %s: %s", path, strerror(errno));
		umask(old);
		close(s);
		return -1;
	}
	umask(old);
	if (chmod(path, mode) < 0 || listen(s, 128) < 0) {
		early_error("listen %s: %s", path, strerror(errno));
		close(s);
		unlink(path);
		return -1;
	}
	return s;
}

static void
audit_broker(struct vaultd *vd, const struct broker_outcome *o, int rc)
{
	struct audit_record r = {
		.op = "seal",
		.tenant = o->tenant ? o->tenant->conf->name : NULL,
		.path = o->path[0] ? o->path : NULL,
		.reason = o->reason[0] ? o->reason : NULL,
		/* A maintenance user's requests prune: tell them apart from the tenant's. */
		.source = o->maintenance ? "maintenance" : o->kind == BROKER_REPORT ? "vault-sftp" : "broker",
		.uid = o->uid,
		.pid = o->pid,
		/* What the connection's session said: in every record of that connection. */
		.key_fp = o->key_fp[0] ? o->key_fp : NULL,
		.client = o->client[0] ? o->client : NULL,
	};
	struct vaultd_peer peer = { .uid = o->uid, .pid = o->pid, .key_fp = r.key_fp, .client = r.client };
	struct seal_result res = { .dirs_protected = o->dirs_protected };
	char why[128];

	if (o->kind == BROKER_SESSION) {
		/* Accepted: it shows in the records that follow. Refused or garbage: said here. */
		if (rc == 0 && o->status == 0)
			return;
		vd->n.refused++;
		r.event = AUDIT_SEAL_REFUSED;
		r.priority = LOG_WARNING;
		r.op = "session";
		audit_emit(vd->audit, &r);
		return;
	}

	if (o->kind == BROKER_MAINT) {
		r.event = rc == 0 && o->status == 0 ? AUDIT_ADMIN : AUDIT_SEAL_REFUSED;
		r.priority = rc == 0 && o->status == 0 ? LOG_NOTICE : LOG_WARNING;
		r.op = "maintenance";
		if (r.event == AUDIT_ADMIN) {
			snprintf(why, sizeof(why), "maintenance session begins: %u directories opened to the "
				 "maintenance user", o->dirs_protected);
			r.reason = why;
		}
		vd->n.dirs_protected += o->dirs_protected;
		audit_emit(vd->audit, &r);
		return;
	}
	if (o->kind == BROKER_ATTIC) {
		/* A privileged move on a tenant's behalf: audited whatever came of it. */
		r.event = rc == 0 && o->status == 0 ? AUDIT_ADMIN : AUDIT_SEAL_REFUSED;
		r.priority = rc == 0 && o->status == 0 ? LOG_NOTICE : LOG_WARNING;
		r.op = "attic";
		if (r.event == AUDIT_ADMIN)
			r.reason = "replaced or removed: the previous version moved to the attic, sealed";
		else if (o->tenant != NULL)
			o->tenant->last_refusal = time(NULL);
		audit_emit(vd->audit, &r);
		return;
	}
	if (rc == 0 && o->kind == BROKER_REPORT) {
		vd->n.reports++;
		o->tenant->last_refusal = time(NULL);
		r.event = AUDIT_CLIENT_REFUSAL;
		r.priority = LOG_NOTICE;
		r.op = o->op;
		audit_emit(vd->audit, &r);
		return;
	}
	/* A seal request: sealed, refused, failed, or garbage on the socket (rc < 0: disconnected). */
	res.outcome = rc == 0 && o->status == 0 ? o->seal
		      : rc == 0 && o->seal == SEAL_FAILED ? SEAL_FAILED : SEAL_REFUSED;
	res.resealed = o->resealed;
	snprintf(res.reason, sizeof(res.reason), "%s", o->reason);
	vaultd_record_seal(vd, o->tenant, r.path, &res, r.source, &peer);
}

/* The poll set: fixed slots first, then broker and control connections. */
enum { SLOT_SIGNAL, SLOT_BROKER, SLOT_CONTROL, SLOT_WATCHER, SLOT_FIXED };

struct loop {
	struct pollfd pfd[SLOT_FIXED + MAX_BROKER_CONNS + MAX_CONTROL_CONNS];
	bool is_control[SLOT_FIXED + MAX_BROKER_CONNS + MAX_CONTROL_CONNS];
	uid_t uid[SLOT_FIXED + MAX_BROKER_CONNS + MAX_CONTROL_CONNS];	/* broker peers */
	struct broker_session sess[SLOT_FIXED + MAX_BROKER_CONNS + MAX_CONTROL_CONNS];	/* theirs */
	nfds_t n;
	unsigned n_broker, n_control;
};

static void
drop_conn(struct loop *l, nfds_t i)
{
	close(l->pfd[i].fd);
	if (l->is_control[i])
		l->n_control--;
	else
		l->n_broker--;
	l->n--;
	l->pfd[i] = l->pfd[l->n];
	l->is_control[i] = l->is_control[l->n];
	l->uid[i] = l->uid[l->n];
	l->sess[i] = l->sess[l->n];
}

/*
 * The socket is open to every local user: only a tenant's user (or its
 * maintenance user) may hold a connection, and only MAX_CONNS_PER_UID of them, so that nobody can fill
 * the broker's slots and leave the tenants without sealing.
 */
static bool
broker_peer_welcome(struct vaultd *vd, struct loop *l, int c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned same = 0;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (tenants_by_uid(&vd->tenants, cred.uid) == NULL) {
		struct audit_record r = {
			.event = AUDIT_SEAL_REFUSED, .priority = LOG_WARNING, .op = "connect",
			.source = "broker", .uid = cred.uid, .pid = cred.pid,
			.reason = "the user of no tenant: connection closed",
		};

		vd->n.refused++;
		audit_emit(vd->audit, &r);
		return false;
	}
	for (nfds_t i = SLOT_FIXED; i < l->n; i++)
		same += !l->is_control[i] && l->uid[i] == cred.uid;
	if (same >= MAX_CONNS_PER_UID) {
		audit_daemon(vd->audit, LOG_WARNING, "uid %u holds %u broker connections: refusing one",
			     (unsigned)cred.uid, same);
		return false;
	}
	l->uid[l->n] = cred.uid;
	return true;
}

static void
accept_all(struct vaultd *vd, struct loop *l, int lsock, bool control)
{
	for (;;) {
		int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				audit_daemon(vd->audit, LOG_ERR, "accept: %s", strerror(errno));
			return;
		}
		if (control ? l->n_control >= MAX_CONTROL_CONNS : l->n_broker >= MAX_BROKER_CONNS) {
			audit_daemon(vd->audit, LOG_WARNING, "too many %s connections: refusing one",
				     control ? "control" : "broker");
			close(c);
			continue;
		}
		if (!control && !broker_peer_welcome(vd, l, c)) {
			close(c);
			continue;
		}
		if (control) {
			int big = CONTROL_REPLY_MAX * 2;

			(void)setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
			l->n_control++;
		} else {
			l->n_broker++;
		}
		l->is_control[l->n] = control;
		l->sess[l->n] = (struct broker_session){ 0 };
		l->pfd[l->n++] = (struct pollfd){ .fd = c, .events = POLLIN };
	}
}

static void
serve_conn(struct vaultd *vd, struct loop *l, nfds_t *i)
{
	int rc;

	if (l->is_control[*i]) {
		rc = (l->pfd[*i].revents & POLLIN) ? control_serve_one(vd, l->pfd[*i].fd) : -ECONNRESET;
	} else if (l->pfd[*i].revents & POLLIN) {
		struct broker_outcome o;

		rc = broker_serve_one(&vd->tenants, l->pfd[*i].fd, &l->sess[*i], &o);
		if (rc == -EAGAIN)
			return;
		if (rc != -ECONNRESET)
			audit_broker(vd, &o, rc);
	} else {
		rc = -ECONNRESET;
	}
	if (rc < 0) {
		drop_conn(l, *i);
		(*i)--;
	}
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
report_status(struct vaultd *vd)
{
	notify_status("watcher %s; %llu sealed, %llu refused, %llu failed%s",
		      vd->watcher ? vd->watcher->ops->name : "off",
		      (unsigned long long)vd->n.sealed, (unsigned long long)vd->n.refused,
		      (unsigned long long)vd->n.failed,
		      scanner_busy(vd->scanner) ? "; catch-up scan running" : "");
}

/* Runs the walks queued so far to the end, before the loop goes on (inotify's first watches). */
static void
scan_now(struct vaultd *vd)
{
	struct scan_stats st;

	while (scanner_busy(vd->scanner))
		scanner_step(vd->scanner, BUDGET, &st);
}

/* The watcher for vd's tenants; inotify's watches are added here, before anything else runs. */
static int
open_watcher(struct vaultd *vd)
{
	enum policy_watcher mode = vd->watcher_override >= 0 ? (enum policy_watcher)vd->watcher_override
							     : vd->policy->watcher;
	char problem[256];
	int r;

	r = watcher_open(vd, mode, &vd->watcher, problem);
	if (r < 0) {
		audit_daemon(vd->audit, LOG_ERR, "cannot watch the tenant trees: %s", problem);
		return r;
	}
	if (problem[0])
		audit_daemon(vd->audit, LOG_WARNING, "%s", problem);
	if (vd->watcher && vd->watcher->ops->add_dir) {
		scanner_enqueue(vd->scanner, NULL, "/", SCAN_WATCH);
		scan_now(vd);
	}
	return 0;
}

/*
 * SIGHUP: the config again (vaultctl tenant add). All or nothing: a broken
 * file, or tenants that cannot be watched, leave the running state as it
 * was. The sockets stay (their paths are fixed at start); counters follow
 * their tenant by name; a full catch-up scan covers the switch.
 */
static void
reload(struct vaultd *vd)
{
	struct vaultd next = *vd;
	struct policy_error perr = { 0 };

	next.policy = NULL;
	next.watcher = NULL;
	next.scanner = NULL;
	next.tenants = (struct tenant_table){ 0 };
	if (policy_load(vd->config_path, &next.policy, &perr) < 0) {
		audit_daemon(vd->audit, LOG_ERR, "reload refused, the running config stays: %s:%u: %s",
			     perr.file, perr.line, perr.message);
		return;
	}
	if (tenants_open(next.policy, &next.tenants) < 0 || scanner_new(&next, &next.scanner) < 0 ||
	    open_watcher(&next) < 0) {
		audit_daemon(vd->audit, LOG_ERR, "reload failed, the running config stays");
		goto undo;
	}
	for (size_t i = 0; i < next.tenants.n; i++) {
		struct vault_tenant *n = &next.tenants.t[i];

		for (size_t j = 0; j < vd->tenants.n; j++) {
			const struct vault_tenant *o = &vd->tenants.t[j];

			if (strcmp(o->conf->name, n->conf->name) == 0) {
				n->sealed = o->sealed;
				n->refused = o->refused;
				n->failed = o->failed;
				n->last_seal = o->last_seal;
				n->last_refusal = o->last_refusal;
				n->tree = o->tree;
			}
		}
		if (!n->ok)
			audit_daemon(vd->audit, LOG_ERR, "tenant %s is not served: %s", n->conf->name,
				     n->problem);
	}
	/* The scanner was made for next's address; give it the real one. */
	scanner_free(next.scanner);
	watcher_free(vd->watcher);
	scanner_free(vd->scanner);
	tenants_close(&vd->tenants);
	policy_free(vd->policy);
	vd->policy = next.policy;
	vd->tenants = next.tenants;
	vd->watcher = next.watcher;
	if (vd->watcher != NULL)
		vd->watcher->vd = vd;
	vd->settle_s = vd->policy->settle_s;
	/* The ledger's queue is keyed by tenant name: it carries over as it is. */
	if (ledger_set_dir(vd->ledger, vd->policy->state_dir) < 0)
		audit_daemon(vd->audit, LOG_ERR, "out of memory: the ledger keeps its old state-dir");
	if (scanner_new(vd, &vd->scanner) < 0) {
		audit_daemon(vd->audit, LOG_CRIT, "out of memory after reload: stopping");
		exit(1);
	}
	scanner_enqueue(vd->scanner, NULL, "/", SCAN_SEAL | SCAN_WATCH);
	audit_daemon(vd->audit, LOG_INFO, "reloaded %s: %zu tenants, watcher %s", vd->config_path,
		     vd->tenants.n, vd->watcher ? vd->watcher->ops->name : "off");
	return;
undo:
	watcher_free(next.watcher);
	scanner_free(next.scanner);
	tenants_close(&next.tenants);
	policy_free(next.policy);
}

static int
run(struct vaultd *vd, int sigfd, int bsock, int csock)
{
	static struct loop l;
	uint64_t wd_interval_ms = notify_watchdog_interval_usec() / 1000, next_tick = 0;

	l.pfd[SLOT_SIGNAL] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	l.pfd[SLOT_BROKER] = (struct pollfd){ .fd = bsock, .events = POLLIN };
	l.pfd[SLOT_CONTROL] = (struct pollfd){ .fd = csock, .events = POLLIN };
	l.pfd[SLOT_WATCHER] = (struct pollfd){ .fd = vd->watcher ? vd->watcher->fd : -1, .events = POLLIN };
	l.n = SLOT_FIXED;
	for (;;) {
		int timeout = scanner_busy(vd->scanner) ? 0 : scanner_next_due_ms(vd->scanner);
		int lt = ledger_timeout_ms(vd->ledger);
		uint64_t now = now_ms();
		struct scan_stats st;
		int r;

		if (lt >= 0 && (timeout < 0 || lt < timeout))
			timeout = lt;
		if (now >= next_tick) {
			if (wd_interval_ms)
				notify_watchdog();
			audit_tick(vd->audit);	/* the end of a burst is reported even if all goes quiet */
			report_status(vd);
			next_tick = now + (wd_interval_ms && wd_interval_ms < 1000 ? wd_interval_ms : 1000);
		}
		if (timeout < 0 || (uint64_t)timeout > next_tick - now)
			timeout = (int)(next_tick - now);
		r = poll(l.pfd, l.n, timeout);
		if (r < 0 && errno != EINTR) {
			audit_daemon(vd->audit, LOG_ERR, "poll: %s", strerror(errno));
			return 1;
		}
		if (r > 0 && l.pfd[SLOT_SIGNAL].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				continue;
			if (si.ssi_signo == SIGCHLD) {
				/* Admin requests' children (admin.h): reap every one that ended. */
				while (waitpid(-1, NULL, WNOHANG) > 0)
					if (vd->admin_children > 0)
						vd->admin_children--;
				continue;
			}
			if (si.ssi_signo == SIGHUP) {
				reload(vd);
				l.pfd[SLOT_WATCHER].fd = vd->watcher ? vd->watcher->fd : -1;
				continue;
			}
			audit_daemon(vd->audit, LOG_INFO, "signal %u: stopping", si.ssi_signo);
			return 0;
		}
		/* Broker first: a client waits on every one of these. */
		for (nfds_t i = SLOT_FIXED; r > 0 && i < l.n; i++)
			if (l.pfd[i].revents)
				serve_conn(vd, &l, &i);
		if (r > 0 && (l.pfd[SLOT_BROKER].revents & POLLIN))
			accept_all(vd, &l, bsock, false);
		if (r > 0 && (l.pfd[SLOT_CONTROL].revents & POLLIN))
			accept_all(vd, &l, csock, true);
		if (r > 0 && (l.pfd[SLOT_WATCHER].revents & POLLIN))
			vd->watcher->ops->process(vd->watcher, BUDGET);
		if (scanner_step(vd->scanner, BUDGET, &st) && st.full) {
			audit_daemon(vd->audit, LOG_INFO,
				     "catch-up scan done: %llu files checked, %llu sealed, %llu deferred, "
				     "%llu failed in %llu ms%s",
				     (unsigned long long)st.files, (unsigned long long)st.sealed,
				     (unsigned long long)st.deferred, (unsigned long long)st.failed,
				     (unsigned long long)st.duration_ms,
				     st.skipped ? "; some entries skipped (deeper than 128 directories or "
						  "longer than PATH_MAX): not sealed" : "");
			report_status(vd);
		}
		/* Last, and a slice only: hashing waits for every client (ledger.h). */
		ledger_step(vd->ledger, &vd->tenants, LEDGER_BUDGET);
	}
}


int
main(int argc, char *argv[])
{
	struct vaultd vd = { .started = time(NULL) };
	struct policy_error perr = { 0 };
	struct audit_config acfg = { 0 };
	struct options opt;
	char problem[256];
	sigset_t mask;
	int r, sigfd, bsock, csock, rc = 1;
	const char *bpath, *cpath;

	r = parse_options(argc, argv, &opt);
	if (r != 0)
		return r == 1 ? 0 : r;
	r = policy_load(opt.config, &vd.policy, &perr);
	if (r < 0) {
		if (perr.line)
			early_error("%s:%u: %s", perr.file, perr.line, perr.message);
		else
			early_error("%s: %s", perr.file[0] ? perr.file : opt.config,
				    perr.message[0] ? perr.message : strerror(-r));
		return 1;
	}
	vd.settle_s = vd.policy->settle_s;
	bpath = opt.broker_socket ? opt.broker_socket : vd.policy->broker_socket;
	cpath = opt.control_socket ? opt.control_socket : vd.policy->control_socket;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);

	acfg.journal_socket = vd.policy->journal_socket;
	acfg.kernel_audit = vd.policy->kernel_audit;
	if (sigfd < 0 || audit_open(&acfg, &vd.audit) < 0 || tenants_open(vd.policy, &vd.tenants) < 0 ||
	    scanner_new(&vd, &vd.scanner) < 0 || ledger_new(vd.policy->state_dir, vd.audit, &vd.ledger) < 0) {
		early_error("cannot start: %s", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < vd.tenants.n; i++)
		if (!vd.tenants.t[i].ok)
			audit_daemon(vd.audit, LOG_ERR, "tenant %s is not served: %s",
				     vd.tenants.t[i].conf->name, vd.tenants.t[i].problem);

	bsock = listen_unix(bpath, 0666);	/* tenants connect; SO_PEERCRED decides */
	csock = bsock < 0 ? -1 : listen_unix(cpath, 0600);
	if (csock < 0)
		goto out;
	vd.config_path = opt.config;
	vd.watcher_override = opt.watcher;
	if (open_watcher(&vd) < 0)
		goto out;

	if (geteuid() == 0) {
		r = privileges_drop(vaultd_caps, vaultd_n_caps, problem, sizeof(problem));
		if (r < 0) {
			audit_daemon(vd.audit, LOG_CRIT, "cannot drop privileges: %s", problem);
			goto out;
		}
	}
	vd.sealing = privileges_have(CAP_LINUX_IMMUTABLE) > 0;
	if (!vd.sealing)
		audit_daemon(vd.audit, LOG_WARNING,
			     "WARNING: kernel sealing is OFF: no CAP_LINUX_IMMUTABLE (run vaultd as root)");

	audit_daemon(vd.audit, LOG_INFO, "ready: broker on %s, watcher %s, %zu tenants, audit to %s",
		     bpath, vd.watcher ? vd.watcher->ops->name : "off", vd.tenants.n,
		     audit_backend(vd.audit));
	notify_ready("ready");
	if (opt.scan)
		scanner_enqueue(vd.scanner, NULL, "/", SCAN_SEAL | SCAN_WATCH);
	rc = run(&vd, sigfd, bsock, csock);
	notify_stopping();
out:
	if (bsock >= 0) {
		close(bsock);
		unlink(bpath);
	}
	if (csock >= 0) {
		close(csock);
		unlink(cpath);
	}
	watcher_free(vd.watcher);
	scanner_free(vd.scanner);
	ledger_free(vd.ledger);
	tenants_close(&vd.tenants);
	audit_free(vd.audit);
	close(sigfd);
	policy_free(vd.policy);
	return rc;
}
