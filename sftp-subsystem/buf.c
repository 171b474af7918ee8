/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t limit)
{
	*b = (struct buf){ .limit = limit };
}

void
buf_release(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ .limit = b->limit };
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= buf_len(b)) {
		b->head = b->tail = 0;
		return;
	}
	b->head += n;
}

uint8_t *
buf_reserve(struct buf *b, size_t n, int *ret_err)
{
	size_t len = buf_len(b);

	if (n > b->limit - len) {
		*ret_err = -ENOBUFS;
		return NULL;
	}
	if (b->alloc - b->tail < n) {
		/* Move the live bytes to the front before growing: queues stay small. */
		if (b->head > 0) {
			memmove(b->data, b->data + b->head, len);
			b->head = 0;
			b->tail = len;
		}
		if (b->alloc - b->tail < n) {
			size_t want = b->alloc ? b->alloc : 4096;
			uint8_t *p;

			while (want - len < n)
				want *= 2;
			if (want > b->limit)
				want = b->limit;
			p = realloc(b->data, want);
			if (p == NULL) {
				*ret_err = -ENOMEM;
				return NULL;
			}
			b->data = p;
			b->alloc = want;
		}
	}
	return b->data + b->tail;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->tail += n;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	int err = 0;
	uint8_t *dst = buf_reserve(b, n, &err);

	if (dst == NULL)
		return err;
	if (n > 0)
		memcpy(dst, p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_put(b, x, sizeof(x));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	int r;

	if ((r = buf_put_u32(b, (uint32_t)(v >> 32))) != 0)
		return r;
	return buf_put_u32(b, (uint32_t)v);
}

int
buf_put_string(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n > UINT32_MAX)
		return -EOVERFLOW;
	if ((r = buf_put_u32(b, (uint32_t)n)) != 0)
		return r;
	return buf_put(b, p, n);
}

int
buf_put_cstring(struct buf *b, const char *s)
{
	return buf_put_string(b, s, strlen(s));
}

void
buf_poke_u32(struct buf *b, size_t off, uint32_t v)
{
	uint8_t *p = b->data + b->head + off;

	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

int
reader_u8(struct reader *r, uint8_t *ret)
{
	*ret = 0;
	if (r->left < 1)
		return -EBADMSG;
	*ret = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

int
reader_u32(struct reader *r, uint32_t *ret)
{
	*ret = 0;
	if (r->left < 4)
		return -EBADMSG;
	*ret = peek_u32(r->p);
	r->p += 4;
	r->left -= 4;
	return 0;
}

int
reader_u64(struct reader *r, uint64_t *ret)
{
	uint32_t hi, lo;

	*ret = 0;
	if (r->left < 8)
		return -EBADMSG;
	hi = peek_u32(r->p);
	lo = peek_u32(r->p + 4);
	r->p += 8;
	r->left -= 8;
	*ret = (uint64_t)hi << 32 | lo;
	return 0;
}

int
reader_string(struct reader *r, const uint8_t **ret, size_t *ret_len)
{
	uint32_t n;

	*ret = NULL;
	*ret_len = 0;
	if (r->left < 4)
		return -EBADMSG;
	n = peek_u32(r->p);
	if (n > r->left - 4)
		return -EBADMSG;
	*ret = r->p + 4;
	*ret_len = n;
	r->p += 4 + (size_t)n;
	r->left -= 4 + (size_t)n;
	return 0;
}

int
reader_cstring(struct reader *r, char *dst, size_t dstsize)
{
	struct reader save = *r;
	const uint8_t *s;
	size_t n;
	int err;

	dst[0] = '\0';
	if ((err = reader_string(r, &s, &n)) != 0)
		return err;
	if (memchr(s, '\0', n) != NULL) {
		*r = save;
		return -EBADMSG;
	}
	if (n >= dstsize) {
		*r = save;
		return -ENAMETOOLONG;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}
