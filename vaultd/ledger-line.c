/* SPDX-License-Identifier: MIT */
/* One ledger line, written by vaultd and read by vaultctl verify: see ledger.h. */
#include "ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
needs_escape(unsigned char c)
{
	return c < 0x21 || c == '%' || c >= 0x7f;
}

int
ledger_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (needs_escape(*p)) {
			if (o + 3 >= size)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		} else {
			if (o + 1 >= size)
				return -ENAMETOOLONG;
			out[o++] = (char)*p;
		}
	}
	if (size == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
ledger_unescape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

			if (lo < 0)
				return -EINVAL;
			c = hi << 4 | lo;
			if (c == 0)
				return -EINVAL;
			p += 2;
		} else if (needs_escape((unsigned char)c)) {
			return -EINVAL;		/* written raw: not a line vaultd wrote */
		}
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	if (size == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

int
ledger_format(const struct ledger_entry *e, char *out, size_t size)
{
	char path[3 * VAULT_PATH_MAX + 1];
	int n;

	if (ledger_escape(e->vpath, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	n = snprintf(out, size, LEDGER_VERSION " %s %" PRIu64 " %" PRId64 " %" PRIu64 " %s\n", e->sha256,
		     e->size, e->sealed, e->ino, path);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

/* A decimal number, all of the word. */
static int
parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

int
ledger_parse(const char *line, struct ledger_entry *ret)
{
	char buf[LEDGER_LINE_MAX + 1], *w[6];
	size_t n = 0, len = strlen(line);
	uint64_t sealed;

	if (len > LEDGER_LINE_MAX)
		return -EINVAL;
	memcpy(buf, line, len + 1);
	/* Six words, one blank apart: anything else is not a line vaultd wrote. */
	for (char *p = buf;; p++) {
		char *sp = strchr(p, ' ');

		if (n == 6 || *p == '\0' || *p == ' ')
			return -EINVAL;
		w[n++] = p;
		if (sp == NULL)
			break;
		*sp = '\0';
		p = sp;
	}
	if (n != 6 || strcmp(w[0], LEDGER_VERSION) != 0)
		return -EINVAL;
	if (strcmp(w[1], LEDGER_PURGED) == 0) {
		memcpy(ret->sha256, LEDGER_PURGED, sizeof(LEDGER_PURGED));
	} else {
		if (strlen(w[1]) != 64)
			return -EINVAL;
		for (size_t i = 0; i < 64; i++)
			if (!((w[1][i] >= '0' && w[1][i] <= '9') || (w[1][i] >= 'a' && w[1][i] <= 'f')))
				return -EINVAL;
		memcpy(ret->sha256, w[1], 65);
	}
	if (parse_u64(w[2], &ret->size) < 0 || parse_u64(w[3], &sealed) < 0 || sealed > INT64_MAX ||
	    parse_u64(w[4], &ret->ino) < 0)
		return -EINVAL;
	ret->sealed = (int64_t)sealed;
	if (ledger_unescape(w[5], ret->vpath, sizeof(ret->vpath)) < 0 || ret->vpath[0] != '/')
		return -EINVAL;
	return 0;
}
