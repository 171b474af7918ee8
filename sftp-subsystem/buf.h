/* SPDX-License-Identifier: MIT */
/*
 * Byte queues and a packet reader for the SFTP wire format (big-endian
 * integers, length-prefixed strings).
 *
 * struct buf is a queue with a hard capacity: appends that would pass it fail
 * with -ENOBUFS and leave the queue as it was. struct reader walks one packet
 * without copying; every getter returns 0 or -EBADMSG and leaves its outputs
 * zeroed on failure.
 */
#ifndef SEALVAULT_BUF_H
#define SEALVAULT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t head;	/* first unread byte */
	size_t tail;	/* one past the last byte */
	size_t alloc;	/* bytes allocated */
	size_t limit;	/* never grow past this */
};

void buf_init(struct buf *b, size_t limit);
void buf_release(struct buf *b);
static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }
static inline const uint8_t *buf_ptr(const struct buf *b) { return b->data + b->head; }
static inline size_t buf_room(const struct buf *b) { return b->limit - buf_len(b); }
void buf_consume(struct buf *b, size_t n);

/* Makes n bytes writable at the tail; returns the pointer or NULL (-ENOBUFS/-ENOMEM in *ret_err). */
uint8_t *buf_reserve(struct buf *b, size_t n, int *ret_err);
/* Commits n bytes written into the space buf_reserve() returned. */
void buf_commit(struct buf *b, size_t n);

int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_string(struct buf *b, const void *p, size_t n);
int buf_put_cstring(struct buf *b, const char *s);
/* Overwrites 4 bytes at offset off from head (for back-patched lengths). */
void buf_poke_u32(struct buf *b, size_t off, uint32_t v);

struct reader {
	const uint8_t *p;
	size_t left;
};

static inline struct reader reader_of(const void *p, size_t n)
{
	return (struct reader){ .p = p, .left = n };
}

int reader_u8(struct reader *r, uint8_t *ret);
int reader_u32(struct reader *r, uint32_t *ret);
int reader_u64(struct reader *r, uint64_t *ret);
/* A string as a pointer into the packet: not NUL-terminated, may contain NULs. */
int reader_string(struct reader *r, const uint8_t **ret, size_t *ret_len);
/*
 * A string copied into dst (size dstsize) and NUL-terminated. -EBADMSG if it
 * does not fit in the packet or has an embedded NUL, -ENAMETOOLONG if it is
 * longer than dstsize - 1.
 */
int reader_cstring(struct reader *r, char *dst, size_t dstsize);

static inline uint32_t peek_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
