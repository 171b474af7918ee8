/* SPDX-License-Identifier: MIT */
/*
 * delay-relay: a TCP relay that adds a fixed one-way delay in each
 * direction, for tests/bench/bench-listen.sh on kernels without sch_netem.
 *
 *   delay-relay --listen ADDR:PORT --connect ADDR:PORT [--delay-ms MS]
 *               [--buffer-mib MIB] [--max-conns N]
 *
 * For each connection accepted on --listen it connects to --connect and
 * forwards both ways. Every chunk read from one side is written to the
 * other no sooner than MS milliseconds (default 25) after it was read,
 * in order (CLOCK_MONOTONIC): 25 ms each way is a 50 ms round trip. It
 * adds latency, not a bandwidth limit: a direction buffers up to MIB MiB
 * (default 64) before it stops reading, so TCP back-pressure starts only
 * there. An end of stream is passed on (shutdown SHUT_WR) after the same
 * delay; an error or a reset on either side closes both. At most N
 * connections (default 16) at once; more are closed when accepted.
 * PORT 0 on --listen takes a free port. IPv4 only.
 *
 * Prints "delay-relay: listening on ADDR:PORT" on stdout once it accepts;
 * SIGTERM or SIGINT stops it, and it prints what it relayed (and the most
 * it ever buffered per direction) on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX	(256 * 1024)	/* one read, one chunk */
#define IOV_MAX_RELAY	64		/* chunks per sendmsg */
#define EVENTS_MAX	64

struct chunk {
	struct chunk *next;
	uint64_t due_ns;
	size_t len, off;
	bool eof;		/* the sender's end of stream, to pass on */
	unsigned char data[];
};

/* One direction: bytes read from fd[src] wait here, then go to fd[dst]. */
struct flow {
	struct chunk *head, *tail;
	size_t queued;
	bool read_eof;		/* src said EOF: read no more */
	bool done;		/* EOF passed on to dst */
	bool blocked;		/* dst would block: wait for EPOLLOUT */
};

struct conn;

/* What an epoll event points at: one socket of a connection. */
struct end {
	struct conn *c;
	int side;		/* 0: the client, 1: the server */
};

struct conn {
	int fd[2];
	struct end ends[2];
	uint32_t mask[2];	/* events registered for fd[i] */
	struct flow flow[2];	/* flow[i]: read from fd[i], written to fd[1 - i] */
	bool connected;		/* the server socket finished connecting */
	bool gone[2];		/* fd[i] is shut both ways: out of epoll */
	bool dead;		/* to be closed after this round of events */
	struct conn *prev, *next;
};

struct relay {
	int epfd, lfd, sigfd;
	struct sockaddr_in upstream;
	uint64_t delay_ns;
	size_t cap;
	unsigned max_conns, nconns;
	struct conn *conns;
	/* statistics, printed at the end */
	uint64_t accepted, refused;
	uint64_t bytes[2];	/* per flow direction: 0 client->server */
	size_t peak[2];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *ret)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || !*(colon + 1) || *end || port > 65535)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &ret->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	/* A relay must not hold small segments back: that would add delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Registers what conn's socket `side` waits for now, if that changed. */
static int conn_watch(struct relay *r, struct conn *c, int side)
{
	struct flow *in = &c->flow[side], *out = &c->flow[1 - side];
	struct epoll_event ev = { .data.ptr = &c->ends[side] };
	uint32_t m = 0;

	if (c->gone[side])
		return 0;
	if (!in->read_eof && in->queued < r->cap && (side == 0 || c->connected))
		m |= EPOLLIN;
	if (side == 1 && !c->connected)
		m |= EPOLLOUT;
	else if (out->blocked)
		m |= EPOLLOUT;
	if (m == c->mask[side])
		return 0;
	ev.events = m;
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd[side], &ev) < 0)
		return -errno;
	c->mask[side] = m;
	return 0;
}

static void conn_close(struct relay *r, struct conn *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct chunk *k = c->flow[i].head;

		while (k) {
			struct chunk *n = k->next;

			free(k);
			k = n;
		}
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->nconns--;
	free(c);
}

/* Reads what socket `side` has into its flow. 0, or -errno: close the connection. */
static int conn_read(struct relay *r, struct conn *c, int side, unsigned char *buf)
{
	struct flow *f = &c->flow[side];
	int i;

	/* Bounded: others get their turn, and the cap is checked per read. */
	for (i = 0; i < 16 && !f->read_eof && f->queued < r->cap; i++) {
		size_t want = r->cap - f->queued < READ_MAX ? r->cap - f->queued : READ_MAX;
		ssize_t n = recv(c->fd[side], buf, want, 0);
		struct chunk *k;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		k = malloc(sizeof(*k) + (size_t)n);
		if (!k)
			return -ENOMEM;
		k->next = NULL;
		k->due_ns = now_ns() + r->delay_ns;
		k->len = (size_t)n;
		k->off = 0;
		k->eof = n == 0;
		memcpy(k->data, buf, (size_t)n);
		if (f->tail)
			f->tail->next = k;
		else
			f->head = k;
		f->tail = k;
		f->queued += (size_t)n;
		if (f->queued > r->peak[side])
			r->peak[side] = f->queued;
		if (n == 0)
			f->read_eof = true;
	}
	return 0;
}

/* Writes the chunks of flow `side` that are due. 0, or -errno: close the connection. */
static int conn_flush(struct relay *r, struct conn *c, int side, uint64_t now)
{
	struct flow *f = &c->flow[side];
	int dst = c->fd[1 - side];

	if (side == 0 && !c->connected)
		return 0;
	while (f->head && f->head->due_ns <= now) {
		struct iovec iov[IOV_MAX_RELAY];
		struct msghdr msg = { .msg_iov = iov };
		struct chunk *k;
		ssize_t n;

		if (f->head->eof) {
			k = f->head;
			f->head = k->next;
			if (!f->head)
				f->tail = NULL;
			free(k);
			if (shutdown(dst, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			f->done = true;
			continue;
		}
		for (k = f->head; k && !k->eof && k->due_ns <= now && msg.msg_iovlen < IOV_MAX_RELAY; k = k->next) {
			iov[msg.msg_iovlen].iov_base = k->data + k->off;
			iov[msg.msg_iovlen].iov_len = k->len - k->off;
			msg.msg_iovlen++;
		}
		n = sendmsg(dst, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				f->blocked = true;
				return 0;
			}
			return -errno;
		}
		f->blocked = false;
		r->bytes[side] += (uint64_t)n;
		f->queued -= (size_t)n;
		while (n > 0) {
			k = f->head;
			if ((size_t)n < k->len - k->off) {
				k->off += (size_t)n;
				f->blocked = true;	/* the socket took only part */
				return 0;
			}
			n -= (ssize_t)(k->len - k->off);
			f->head = k->next;
			if (!f->head)
				f->tail = NULL;
			free(k);
		}
	}
	return 0;
}

static void relay_accept(struct relay *r)
{
	struct conn *c;
	int cfd, sfd, i;

	cfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	if (r->nconns >= r->max_conns) {
		r->refused++;
		close(cfd);
		return;
	}
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c = calloc(1, sizeof(*c));
	if (sfd < 0 || !c) {
		close(cfd);
		if (sfd >= 0)
			close(sfd);
		free(c);
		return;
	}
	nodelay(cfd);
	nodelay(sfd);
	if (connect(sfd, (struct sockaddr *)&r->upstream, sizeof(r->upstream)) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "delay-relay: connect: %s\n", strerror(errno));
		close(cfd);
		close(sfd);
		free(c);
		return;
	}
	c->fd[0] = cfd;
	c->fd[1] = sfd;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->nconns++;
	r->accepted++;
	for (i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = 0, .data.ptr = &c->ends[i] };

		c->ends[i].c = c;
		c->ends[i].side = i;
		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd[i], &ev) < 0 || conn_watch(r, c, i) < 0) {
			c->dead = true;
			return;
		}
	}
}

/*
 * The socket of `e` is ready: connect finished, data to read, room to
 * write. A connection that fails is marked dead, not freed: later events
 * of this round may still point at it.
 */
static void relay_event(struct relay *r, struct end *e, uint32_t events, unsigned char *buf)
{
	struct conn *c = e->c;
	int side = e->side, err = 0;
	socklen_t len = sizeof(err);

	if (c->dead)
		return;
	if (side == 1 && !c->connected) {
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fprintf(stderr, "delay-relay: connect: %s\n", strerror(err));
			c->dead = true;
			return;
		}
		c->connected = true;
	}
	if (events & EPOLLERR) {
		c->dead = true;	/* a reset: what is still queued has nowhere to go */
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && conn_read(r, c, side, buf) < 0) {
		c->dead = true;
		return;
	}
	if (events & EPOLLOUT)
		c->flow[1 - side].blocked = false;
	/*
	 * Shut both ways (our SHUT_WR passed on the other side's EOF, and this
	 * peer sent its own): epoll would report EPOLLHUP forever. What it sent
	 * is queued; a write to it now fails and closes the connection.
	 */
	if ((events & EPOLLHUP) && c->flow[side].read_eof && !c->gone[side]) {
		if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd[side], NULL) < 0)
			c->dead = true;
		c->gone[side] = true;
	}
}

/* Flushes what is due everywhere; returns ns until the next chunk is due (UINT64_MAX: none). */
static uint64_t relay_flush(struct relay *r)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	struct conn *c = r->conns;

	while (c) {
		struct conn *n = c->next;
		bool dead = c->dead;
		int i;

		for (i = 0; i < 2 && !dead; i++) {
			if (!c->flow[i].blocked && conn_flush(r, c, i, now) < 0)
				dead = true;
		}
		if (!dead && c->flow[0].done && c->flow[1].done)
			dead = true;	/* both ends said EOF and it was passed on */
		for (i = 0; i < 2 && !dead; i++) {
			struct flow *f = &c->flow[i];

			if (conn_watch(r, c, i) < 0)
				dead = true;
			else if (f->head && !f->blocked && (i == 1 || c->connected)) {
				uint64_t d = f->head->due_ns > now ? f->head->due_ns - now : 0;

				if (d < next)
					next = d;
			}
		}
		if (dead)
			conn_close(r, c);
		c = n;
	}
	return next;
}

static int relay_run(struct relay *r)
{
	struct epoll_event evs[EVENTS_MAX];
	unsigned char *buf = malloc(READ_MAX);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		uint64_t wait = relay_flush(r);
		struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000u), .tv_nsec = (long)(wait % 1000000000u) };
		int n, i;

		n = epoll_pwait2(r->epfd, evs, EVENTS_MAX, wait == UINT64_MAX ? NULL : &ts, NULL);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &r->lfd)
				relay_accept(r);
			else if (evs[i].data.ptr == &r->sigfd)
				goto out;
			else
				relay_event(r, evs[i].data.ptr, evs[i].events, buf);
		}
	}
out:
	free(buf);
	return rc;
}

static int relay_setup(struct relay *r, const struct sockaddr_in *listen_addr)
{
	struct sockaddr_in bound;
	socklen_t len = sizeof(bound);
	struct epoll_event ev = { .events = EPOLLIN };
	char host[INET_ADDRSTRLEN];
	sigset_t sigs;
	int one = 1;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
		return -errno;
	r->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->sigfd < 0 || r->epfd < 0 || r->lfd < 0)
		return -errno;
	(void)setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(r->lfd, (const struct sockaddr *)listen_addr, sizeof(*listen_addr)) < 0 || listen(r->lfd, 64) < 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&bound, &len) < 0)
		return -errno;
	ev.data.ptr = &r->lfd;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &ev) < 0)
		return -errno;
	ev.data.ptr = &r->sigfd;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->sigfd, &ev) < 0)
		return -errno;
	inet_ntop(AF_INET, &bound.sin_addr, host, sizeof(host));
	printf("delay-relay: listening on %s:%u\n", host, ntohs(bound.sin_port));
	fflush(stdout);
	return 0;
}

static noreturn void usage(void)
{
	fprintf(stderr, "usage: delay-relay --listen ADDR:PORT --connect ADDR:PORT [--delay-ms MS]\n"
			"                   [--buffer-mib MIB] [--max-conns N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct relay r = { .epfd = -1, .lfd = -1, .sigfd = -1, .max_conns = 16 };
	struct sockaddr_in listen_addr;
	unsigned long delay_ms = 25, mib = 64, conns = 16;
	bool have_listen = false, have_connect = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(argv[i], "--listen"))
			have_listen = parse_addr(v, &listen_addr) == 0;
		else if (!strcmp(argv[i], "--connect"))
			have_connect = parse_addr(v, &r.upstream) == 0;
		else if (!strcmp(argv[i], "--delay-ms")) {
			if (parse_uint(v, 10000, &delay_ms) < 0)
				usage();
		} else if (!strcmp(argv[i], "--buffer-mib")) {
			if (parse_uint(v, 4096, &mib) < 0 || mib == 0)
				usage();
		} else if (!strcmp(argv[i], "--max-conns")) {
			if (parse_uint(v, 1024, &conns) < 0 || conns == 0)
				usage();
		} else
			usage();
		i++;
	}
	if (!have_listen || !have_connect || r.upstream.sin_port == 0)
		usage();
	r.delay_ns = (uint64_t)delay_ms * 1000000u;
	r.cap = (size_t)mib << 20;
	r.max_conns = (unsigned)conns;

	rc = relay_setup(&r, &listen_addr);
	if (rc < 0) {
		fprintf(stderr, "delay-relay: %s\n", strerror(-rc));
		return 1;
	}
	rc = relay_run(&r);
	while (r.conns)
		conn_close(&r, r.conns);
	fprintf(stderr,
		"delay-relay: %" PRIu64 " connections (%" PRIu64 " refused), %" PRIu64 " bytes to the server, %" PRIu64
		" bytes back; most buffered: %zu up, %zu down (cap %zu each)\n",
		r.accepted, r.refused, r.bytes[0], r.bytes[1], r.peak[0], r.peak[1], r.cap);
	if (rc < 0) {
		fprintf(stderr, "delay-relay: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
