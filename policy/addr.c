/* SPDX-License-Identifier: MIT */
/* maintenance-from: addresses and prefixes, and the check of a client address against them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

#define ADDR_TEXT_MAX	64	/* longer than any address inet_pton takes */

int
policy_parse_addr(const char *s, struct policy_addr *ret)
{
	char buf[ADDR_TEXT_MAX];
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	struct policy_addr a = { 0 };
	unsigned max;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a.addr) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a.addr) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	max = a.family == AF_INET ? 32 : 128;
	a.prefix = max;
	if (slash != NULL) {
		const char *d = slash + 1;
		unsigned v = 0;

		/* 1 to 3 digits, no sign, no leading zero but "0" itself. */
		if (*d < '0' || *d > '9' || (d[0] == '0' && d[1] != '\0') || strlen(d) > 3)
			return -EINVAL;
		for (; *d != '\0'; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > max)
			return -EINVAL;
		a.prefix = v;
		/* Host bits set: a typo sshd's from= refuses too. */
		for (unsigned bit = v; bit < max; bit++)
			if (a.addr[bit / 8] & (0x80u >> (bit % 8)))
				return -EINVAL;
	}
	*ret = a;
	return 0;
}

static bool
prefix_matches(const struct policy_addr *net, const uint8_t *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (memcmp(net->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->addr[full] ^ addr[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

bool
policy_addr_list_allows(const struct policy_addr *v, size_t n, const char *addr)
{
	static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct policy_addr a;

	if (addr == NULL || strchr(addr, '/') != NULL || policy_parse_addr(addr, &a) < 0)
		return false;
	if (a.family == AF_INET6 && memcmp(a.addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		memmove(a.addr, a.addr + 12, 4);
		memset(a.addr + 4, 0, 12);
		a.family = AF_INET;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].family == a.family && prefix_matches(&v[i], a.addr))
			return true;
	return false;
}

bool
policy_maint_from_allows(const struct policy_tenant *t, const char *addr)
{
	return t != NULL && policy_addr_list_allows(t->maint_from, t->n_maint_from, addr);
}

int
policy_parse_endpoint(const char *s, struct policy_endpoint *ret)
{
	char buf[ADDR_TEXT_MAX];
	const char *colon, *host = s;
	struct policy_endpoint e = { 0 };
	size_t len;
	unsigned long port;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		len = (size_t)(close - host);
		colon = close + 1;
		e.family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL;	/* an IPv6 address needs its brackets */
		len = (size_t)(colon - s);
		e.family = AF_INET;
	}
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(e.family, buf, e.addr) != 1)
		return -EINVAL;
	if (colon[1] < '1' || colon[1] > '9')
		return -EINVAL;	/* no sign, no leading zero, no empty port */
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	e.port = (uint16_t)port;
	*ret = e;
	return 0;
}
