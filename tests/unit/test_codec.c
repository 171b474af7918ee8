/* SPDX-License-Identifier: MIT */
/* The wire codec, attributes and log quoting: bounds, NULs, escapes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "attrs.h"
#include "buf.h"
#include "log.h"
#include "sftp-proto.h"

static void
reader_refuses_short_input(void **state)
{
	const uint8_t three[] = { 0, 0, 1 };
	struct reader r = reader_of(three, sizeof(three));
	uint32_t v = 7;
	uint64_t w = 7;

	assert_int_equal(reader_u32(&r, &v), -EBADMSG);
	assert_int_equal(v, 0);
	assert_int_equal(reader_u64(&r, &w), -EBADMSG);
	assert_int_equal(w, 0);
	assert_int_equal(r.left, 3);
}

static void
reader_string_length_past_end(void **state)
{
	const uint8_t pkt[] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	struct reader r = reader_of(pkt, sizeof(pkt));
	const uint8_t *p;
	size_t n;

	assert_int_equal(reader_string(&r, &p, &n), -EBADMSG);
	assert_null(p);
	assert_int_equal(n, 0);
}

static void
cstring_rejects_embedded_nul_and_long(void **state)
{
	const uint8_t nul[] = { 0, 0, 0, 3, 'a', 0, 'b' };
	const uint8_t ok[] = { 0, 0, 0, 3, 'a', 'b', 'c' };
	char dst[4], tiny[3];
	struct reader r = reader_of(nul, sizeof(nul));

	assert_int_equal(reader_cstring(&r, dst, sizeof(dst)), -EBADMSG);
	r = reader_of(ok, sizeof(ok));
	assert_int_equal(reader_cstring(&r, tiny, sizeof(tiny)), -ENAMETOOLONG);
	r = reader_of(ok, sizeof(ok));
	assert_int_equal(reader_cstring(&r, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "abc");
	assert_int_equal(r.left, 0);
}

static void
buf_limit_leaves_queue_intact(void **state)
{
	struct buf b;
	uint8_t big[100] = { 0 };

	buf_init(&b, 64);
	assert_int_equal(buf_put_u32(&b, 0x01020304), 0);
	assert_int_equal(buf_put(&b, big, 61), -ENOBUFS);
	assert_int_equal(buf_len(&b), 4);
	assert_int_equal(peek_u32(buf_ptr(&b)), 0x01020304);
	buf_consume(&b, 2);
	/* Consumed space is reused: 62 more bytes fit next to the 2 left. */
	assert_int_equal(buf_put(&b, big, 62), 0);
	assert_int_equal(buf_len(&b), 64);
	buf_release(&b);
}

static void
attrs_extended_count_cannot_overrun(void **state)
{
	const uint8_t pkt[] = { 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	struct reader r = reader_of(pkt, sizeof(pkt));
	struct sftp_attrs a;

	assert_int_equal(attrs_decode(&r, &a), -EBADMSG);
	assert_int_equal(a.flags, 0);
}

static void
attrs_roundtrip(void **state)
{
	struct sftp_attrs in = {
		.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME,
		.size = 1ULL << 40, .perm = 0100644, .atime = 1, .mtime = 2,
	}, out;
	struct buf b;
	struct reader r;

	buf_init(&b, 1024);
	assert_int_equal(attrs_encode(&b, &in), 0);
	r = reader_of(buf_ptr(&b), buf_len(&b));
	assert_int_equal(attrs_decode(&r, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	buf_release(&b);
}

static void
log_quote_escapes_control_characters(void **state)
{
	char out[64], tiny[12];

	log_quote(out, sizeof(out), "a\nb\"c\\d\x1b");
	assert_string_equal(out, "\"a\\nb\\\"c\\\\d\\x1b\"");
	log_quote(tiny, sizeof(tiny), "abcdefghijklmnop");
	assert_string_equal(tiny, "\"abcdef...\"");
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reader_refuses_short_input),
		cmocka_unit_test(reader_string_length_past_end),
		cmocka_unit_test(cstring_rejects_embedded_nul_and_long),
		cmocka_unit_test(buf_limit_leaves_queue_intact),
		cmocka_unit_test(attrs_extended_count_cannot_overrun),
		cmocka_unit_test(attrs_roundtrip),
		cmocka_unit_test(log_quote_escapes_control_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
