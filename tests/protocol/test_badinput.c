/* SPDX-License-Identifier: MIT */
/*
 * Bad input never crashes it: requests before INIT, a second INIT, unknown
 * types and extensions, every request cut at every byte, zero and oversized
 * lengths, huge length fields inside packets, invalid and stale handles,
 * odd READ sizes, floods. After each, the session must still answer, and
 * the teardown checks a clean exit (no signal, no sanitizer report).
 *
 * Spec readings: a request cut so that its id is complete is answered
 * BAD_MESSAGE with that id; for an unknown (or unadvertised copy-data)
 * extension cut after its complete name, OP_UNSUPPORTED is also right,
 * since the server cannot know the fields that follow. READ of 0 bytes
 * may be answered DATA of 0 bytes or EOF (OpenSSH answers EOF).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)
#define FOLLOW_ID_BASE	0x40000000u

/* Sends a REALPATH "." with the given id (no wait). */
static void
send_realpath(struct h_server *s, uint32_t id)
{
	struct h_buf b = { 0 };

	pk_begin(&b, SSH_FXP_REALPATH);
	pk_u32(&b, id);
	pk_cstr(&b, ".");
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	hb_free(&b);
}

/* The next reply must be REALPATH's NAME "/" with that id: the session goes on. */
static void
expect_alive(struct h_server *s, uint32_t id)
{
	struct h_reply r;

	h_recv_must(s, &r);
	if (r.type != SSH_FXP_NAME || r.id != id)
		fail_msg("expected the NAME reply id %u, got type %u id %u status %s (%s)", id,
			 r.type, r.id, r.type == SSH_FXP_STATUS ? h_status_name((int)r.status) : "-",
			 r.msg ? r.msg : "");
	if (r.count != 1 || strcmp(r.names[0].name, "/") != 0)
		fail_msg("REALPATH . did not answer /");
}

static void
ping(struct h_server *s)
{
	uint32_t id = s->next_id++;

	send_realpath(s, id);
	expect_alive(s, id);
}

static void
expect_status(struct h_server *s, uint32_t id, int status, const char *msg_part)
{
	struct h_reply r;

	h_recv_must(s, &r);
	if (r.type != SSH_FXP_STATUS || r.id != id || (int)r.status != status)
		fail_msg("expected STATUS %s id %u, got type %u id %u status %s (%s)",
			 h_status_name(status), id, r.type, r.id,
			 r.type == SSH_FXP_STATUS ? h_status_name((int)r.status) : "-",
			 r.msg ? r.msg : "");
	if (msg_part && !strstr(r.msg, msg_part))
		fail_msg("status message \"%s\" lacks \"%s\"", r.msg, msg_part);
}

static void
request_before_init(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };

	pk_begin(&b, SSH_FXP_REALPATH);
	pk_u32(&b, 7);
	pk_cstr(&b, ".");
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	expect_status(s, 7, SSH_FX_FAILURE, "send INIT first");

	pk_begin(&b, SSH_FXP_OPEN);
	pk_u32(&b, 8);
	pk_cstr(&b, "early");
	pk_u32(&b, WCT);
	pk_attrs(&b, NULL);
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	expect_status(s, 8, SSH_FX_FAILURE, "send INIT first");
	assert_false(h_disk_exists(c, "early"));
	assert_int_equal(h_disk_partials(c, "/", NULL), 0);

	pk_begin(&b, SSH_FXP_EXTENDED);
	pk_u32(&b, 9);
	pk_cstr(&b, "limits@openssh.com");
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	expect_status(s, 9, SSH_FX_FAILURE, "send INIT first");

	pk_begin(&b, 99);
	pk_u32(&b, 10);
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	expect_status(s, 10, SSH_FX_FAILURE, "send INIT first");

	/* A runt too short for an id, and a zero length: dropped. */
	static const uint8_t runt[] = { 0, 0, 0, 2, SSH_FXP_STAT, 0, 0, 0, 0, 0 };
	h_send_raw(s, runt, sizeof(runt));

	hb_free(&b);
	assert_int_equal(h_init(s, 3), 0);
	assert_int_equal(s->version, 3);
	s->next_id = 100;
	ping(s);
}

static void
second_init_ignored(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };

	for (int i = 0; i < 3; i++) {
		pk_begin(&b, SSH_FXP_INIT);
		pk_u32(&b, i == 1 ? 6 : 3);
		pk_end(&b);
		h_send_raw(s, b.p, b.len);
	}
	hb_free(&b);
	/* No VERSION: the next reply is the REALPATH's. */
	ping(s);
}

static void
unknown_packet_types(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const uint8_t types[] = { 0, 2, 21, 22, 99, 100, 101, 102, 103, 104, 105, 106, 199,
					 201, 202, 254, 255 };
	struct h_buf b = { 0 };

	for (size_t i = 0; i < sizeof(types); i++) {
		uint32_t id = 1000 + (uint32_t)i;
		pk_begin(&b, types[i]);
		pk_u32(&b, id);
		pk_cstr(&b, "some trailing bytes");
		pk_end(&b);
		h_send_raw(s, b.p, b.len);
		expect_status(s, id, SSH_FX_OP_UNSUPPORTED, NULL);
		/* Only the id. */
		pk_begin(&b, types[i]);
		pk_u32(&b, id + 500);
		pk_end(&b);
		h_send_raw(s, b.p, b.len);
		expect_status(s, id + 500, SSH_FX_OP_UNSUPPORTED, NULL);
	}
	hb_free(&b);
	ping(s);
}

static void
unknown_extensions(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_handle fh, uh;
	static const char *const names[] = {
		"foo@example.com", "", "statvfs@openssh.co", "STATVFS@OPENSSH.COM",
		"statvfs@openssh.com ", "check-file", "space-available", "md5-hash",
		"copy-file", "vendor-id", "limits@openssh.com@openssh.com",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint32_t id = pk_begin_ext(s, &b, names[i]);
		pk_cstr(&b, "/");
		pk_u64(&b, 0);
		pk_end(&b);
		h_send_raw(s, b.p, b.len);
		expect_status(s, id, SSH_FX_OP_UNSUPPORTED, NULL);
	}
	/* A name with a NUL inside: unknown or malformed, never a known one. */
	uint32_t id = pk_begin_req(s, &b, SSH_FXP_EXTENDED);
	pk_str(&b, "limits@openssh.com\0x", 20);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_EXTENDED_REPLY, NULL);
	if (st != SSH_FX_OP_UNSUPPORTED && st != SSH_FX_BAD_MESSAGE)
		fail_msg("extension \"limits@openssh.com\\0x\" (id %u): %s", id, h_status_name(st));

	/* copy-data: not advertised, refused, and copies nothing. */
	h_disk_put_str(c, "src", "source bytes");
	h_assert_status(s, h_open(s, "src", SSH_FXF_READ, NULL, &fh), SSH_FX_OK);
	h_assert_status(s, h_open(s, "dst", WCT, NULL, &uh), SSH_FX_OK);
	pk_begin_ext(s, &b, "copy-data");
	pk_handle(&b, &fh);
	pk_u64(&b, 0);
	pk_u64(&b, 0);
	pk_handle(&b, &uh);
	pk_u64(&b, 0);
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_STATUS, NULL), SSH_FX_OP_UNSUPPORTED);
	struct h_attrs a;
	h_assert_status(s, h_fstat(s, &uh, &a), SSH_FX_OK);
	assert_int_equal(a.size, 0);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &fh), SSH_FX_OK);
	size_t len;
	uint8_t *dst = h_disk_get(c, "dst", &len);
	assert_non_null(dst);
	assert_int_equal(len, 0);
	hb_free(&b);
	ping(s);
}

/* ---- truncation ---------------------------------------------------------------- */

struct treq {
	const char *what;
	struct h_buf pkt;	/* the whole valid packet */
	size_t name_end;	/* unsupported extension: body offset after its name; else 0 */
};

static void
add_req(struct treq *r, size_t *n, const char *what, struct h_buf *b, size_t name_end)
{
	pk_end(b);
	r[*n].what = what;
	r[*n].pkt = *b;
	r[*n].name_end = name_end;
	(*n)++;
	memset(b, 0, sizeof(*b));
}

static size_t
ext_body_name_end(const char *name)
{
	return 1 + 4 + 4 + strlen(name);
}

static size_t
build_requests(struct h_server *s, struct treq *r, const struct h_handle *fh,
	       const struct h_handle *dh, const struct h_handle *uh)
{
	struct h_buf b = { 0 };
	size_t n = 0;
	const struct h_attrs full = {
		.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID |
			SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME |
			SSH_FILEXFER_ATTR_EXTENDED,
		.size = 0, .uid = 0, .gid = 0, .perm = 0600, .atime = 1, .mtime = 1, .n_ext = 1,
	};

	pk_begin_req(s, &b, SSH_FXP_OPEN);
	pk_cstr(&b, "dir/newfile");
	pk_u32(&b, WCT);
	pk_attrs(&b, &full);
	add_req(r, &n, "OPEN", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_CLOSE);
	pk_handle(&b, fh);
	add_req(r, &n, "CLOSE", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_READ);
	pk_handle(&b, fh);
	pk_u64(&b, 0);
	pk_u32(&b, 100);
	add_req(r, &n, "READ", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_WRITE);
	pk_handle(&b, uh);
	pk_u64(&b, 0);
	pk_cstr(&b, "0123456789abcdef");
	add_req(r, &n, "WRITE", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_LSTAT);
	pk_cstr(&b, "sealed");
	add_req(r, &n, "LSTAT", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_FSTAT);
	pk_handle(&b, fh);
	add_req(r, &n, "FSTAT", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_SETSTAT);
	pk_cstr(&b, "sealed");
	pk_attrs(&b, &full);
	add_req(r, &n, "SETSTAT", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_FSETSTAT);
	pk_handle(&b, uh);
	pk_attrs(&b, &full);
	add_req(r, &n, "FSETSTAT", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_OPENDIR);
	pk_cstr(&b, "dir");
	add_req(r, &n, "OPENDIR", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_READDIR);
	pk_handle(&b, dh);
	add_req(r, &n, "READDIR", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_REMOVE);
	pk_cstr(&b, "sealed");
	add_req(r, &n, "REMOVE", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_MKDIR);
	pk_cstr(&b, "newdir");
	pk_attrs(&b, &full);
	add_req(r, &n, "MKDIR", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_RMDIR);
	pk_cstr(&b, "dir");
	add_req(r, &n, "RMDIR", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_REALPATH);
	pk_cstr(&b, "a/b/../c");
	add_req(r, &n, "REALPATH", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_STAT);
	pk_cstr(&b, "sealed");
	add_req(r, &n, "STAT", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_RENAME);
	pk_cstr(&b, "sealed");
	pk_cstr(&b, "renamed");
	add_req(r, &n, "RENAME", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_READLINK);
	pk_cstr(&b, "link");
	add_req(r, &n, "READLINK", &b, 0);

	pk_begin_req(s, &b, SSH_FXP_SYMLINK);
	pk_cstr(&b, "symlink-a");
	pk_cstr(&b, "symlink-b");
	add_req(r, &n, "SYMLINK", &b, 0);

	pk_begin_ext(s, &b, "posix-rename@openssh.com");
	pk_cstr(&b, "sealed");
	pk_cstr(&b, "renamed");
	add_req(r, &n, "posix-rename", &b, 0);

	pk_begin_ext(s, &b, "statvfs@openssh.com");
	pk_cstr(&b, "/");
	add_req(r, &n, "statvfs", &b, 0);

	pk_begin_ext(s, &b, "fstatvfs@openssh.com");
	pk_handle(&b, fh);
	add_req(r, &n, "fstatvfs", &b, 0);

	pk_begin_ext(s, &b, "hardlink@openssh.com");
	pk_cstr(&b, "sealed");
	pk_cstr(&b, "hardlinked");
	add_req(r, &n, "hardlink", &b, 0);

	pk_begin_ext(s, &b, "fsync@openssh.com");
	pk_handle(&b, uh);
	add_req(r, &n, "fsync", &b, 0);

	pk_begin_ext(s, &b, "lsetstat@openssh.com");
	pk_cstr(&b, "sealed");
	pk_attrs(&b, &full);
	add_req(r, &n, "lsetstat", &b, 0);

	pk_begin_ext(s, &b, "limits@openssh.com");
	add_req(r, &n, "limits", &b, 0);

	pk_begin_ext(s, &b, "expand-path@openssh.com");
	pk_cstr(&b, "~/x");
	add_req(r, &n, "expand-path", &b, 0);

	pk_begin_ext(s, &b, "home-directory");
	pk_cstr(&b, "root");
	add_req(r, &n, "home-directory", &b, 0);

	struct h_buf ids = { 0 };
	pk_u32(&ids, 0);
	pk_u32(&ids, 1);
	pk_begin_ext(s, &b, "users-groups-by-id@openssh.com");
	pk_str(&b, ids.p, ids.len);
	pk_str(&b, ids.p, ids.len);
	hb_free(&ids);
	add_req(r, &n, "users-groups-by-id", &b, 0);

	pk_begin_ext(s, &b, "copy-data");
	pk_handle(&b, fh);
	pk_u64(&b, 0);
	pk_u64(&b, 0);
	pk_handle(&b, uh);
	pk_u64(&b, 0);
	add_req(r, &n, "copy-data", &b, ext_body_name_end("copy-data"));

	pk_begin_ext(s, &b, "foo@example.com");
	pk_cstr(&b, "payload");
	pk_u32(&b, 42);
	add_req(r, &n, "foo@example.com", &b, ext_body_name_end("foo@example.com"));

	return n;
}

static void
setup_truncation_fixture(struct h_ctx *c, struct h_handle *fh, struct h_handle *dh,
			 struct h_handle *uh)
{
	struct h_server *s = c->s;

	h_disk_put_str(c, "sealed", "sealed bytes\n");
	h_disk_mkdir(c, "dir", 0755);
	h_disk_symlink(c, "sealed", "link");
	h_assert_status(s, h_open(s, "sealed", SSH_FXF_READ, NULL, fh), SSH_FX_OK);
	h_assert_status(s, h_opendir(s, "dir", dh), SSH_FX_OK);
	h_assert_status(s, h_open(s, "upload", WCT, NULL, uh), SSH_FX_OK);
}

static void
check_truncation_aftermath(struct h_ctx *c, const struct h_handle *uh,
			   const struct h_snap *sealed)
{
	struct h_server *s = c->s;
	struct h_attrs a;

	h_assert_unchanged(c, "sealed", sealed, true);
	assert_false(h_disk_exists(c, "dir/newfile"));
	assert_false(h_disk_exists(c, "newdir"));
	assert_false(h_disk_exists(c, "renamed"));
	assert_false(h_disk_exists(c, "hardlinked"));
	assert_false(h_disk_exists(c, "symlink-a"));
	assert_false(h_disk_exists(c, "symlink-b"));
	assert_false(h_disk_exists(c, "upload"));
	/* No cut WRITE wrote anything. */
	h_assert_status(s, h_fstat(s, uh, &a), SSH_FX_OK);
	assert_int_equal(a.size, 0);
}

/* Every request cut at every byte, with the length field telling the truth:
 * BAD_MESSAGE when the id is there, dropped when not; the session goes on. */
static void
truncated_requests_every_cut(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle fh, dh, uh;
	struct treq reqs[40];
	struct h_snap sealed;
	int failures = 0;
	size_t total_cuts = 0;

	setup_truncation_fixture(c, &fh, &dh, &uh);
	h_snap_take(c, "sealed", &sealed);
	size_t n = build_requests(s, reqs, &fh, &dh, &uh);

	for (size_t i = 0; i < n; i++) {
		struct treq *t = &reqs[i];
		size_t body_len = t->pkt.len - 4;
		struct h_buf batch = { 0 };

		/* All cuts of this request in one batch, each followed by a REALPATH. */
		for (size_t cut = 0; cut < body_len; cut++) {
			uint32_t id = 0x01000000u + (uint32_t)(i << 12) + (uint32_t)cut;
			uint8_t *body = h_xmalloc(body_len);
			memcpy(body, t->pkt.p + 4, body_len);
			body[1] = id >> 24;
			body[2] = id >> 16;
			body[3] = id >> 8;
			body[4] = id;
			pk_u32(&batch, (uint32_t)cut);
			pk_raw(&batch, body, cut);
			struct h_buf f = { 0 };
			pk_begin(&f, SSH_FXP_REALPATH);
			pk_u32(&f, FOLLOW_ID_BASE + (uint32_t)cut);
			pk_cstr(&f, ".");
			pk_end(&f);
			pk_raw(&batch, f.p, f.len);
			hb_free(&f);
		}
		h_send_raw(s, batch.p, batch.len);
		hb_free(&batch);
		for (size_t cut = 0; cut < body_len; cut++) {
			uint32_t id = 0x01000000u + (uint32_t)(i << 12) + (uint32_t)cut;
			struct h_reply r;
			total_cuts++;
			if (cut >= 5) {
				h_recv_must(s, &r);
				bool unsup_ok = t->name_end && cut >= t->name_end;
				bool ok = r.type == SSH_FXP_STATUS && r.id == id &&
					(r.status == SSH_FX_BAD_MESSAGE ||
					 (unsup_ok && r.status == SSH_FX_OP_UNSUPPORTED));
				if (!ok) {
					if (failures < 25)
						print_error("%s cut to %zu of %zu body bytes: got type %u id "
							    "0x%x %s (%s), expected BAD_MESSAGE id 0x%x\n",
							    t->what, cut, body_len, r.type, r.id,
							    r.type == SSH_FXP_STATUS ?
							    h_status_name((int)r.status) : "-",
							    r.msg ? r.msg : "", id);
					failures++;
					/* Resynchronise on the REALPATH reply that follows. */
					if (r.type == SSH_FXP_NAME && r.id == FOLLOW_ID_BASE + cut)
						continue;
				}
			}
			h_recv_must(s, &r);
			if (r.type != SSH_FXP_NAME || r.id != FOLLOW_ID_BASE + cut) {
				fail_msg("%s cut to %zu: the following REALPATH got type %u id 0x%x (%s)"
					 " instead of its NAME; %d earlier mismatches", t->what, cut,
					 r.type, r.id, r.msg ? r.msg : "", failures);
			}
		}
		/* The full request is valid: the handles it names are still usable. */
		ping(s);
	}
	for (size_t i = 0; i < n; i++)
		hb_free(&reqs[i].pkt);
	if (failures)
		fail_msg("%d of %zu truncated requests not answered BAD_MESSAGE", failures,
			 total_cuts);
	check_truncation_aftermath(c, &uh, &sealed);
	h_assert_status(s, h_close(s, &fh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &dh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
}

/* The stream ends in the middle of a packet (or of its length): a clean exit 0. */
static void
truncated_at_end_of_stream(void **state)
{
	struct h_ctx *c = *state;
	struct h_buf b = { 0 };

	h_disk_put_str(c, "sealed", "x");
	h_disk_mkdir(c, "eos", 0755);
	if (!h_release(c, c->s))
		fail_msg("the first server did not exit cleanly");

	/* A STAT cut at every byte of the packet, header included. */
	pk_begin(&b, SSH_FXP_STAT);
	pk_u32(&b, 77);
	pk_cstr(&b, "sealed");
	pk_end(&b);
	for (size_t cut = 1; cut < b.len; cut++) {
		struct h_server *s = h_spawn(c, NULL);
		assert_int_equal(h_init(s, 3), 0);
		h_send_raw(s, b.p, cut);
		if (!h_release(c, s))
			fail_msg("vault-sftp did not exit cleanly after a STAT cut at %zu of %zu bytes",
				 cut, b.len);
	}
	/* A WRITE on an open upload, cut: the upload stays a partial, 0400. */
	static const size_t cuts[] = { 2, 4, 7, 9, 20, 40, 100 };
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		struct h_server *s = h_spawn(c, NULL);
		struct h_handle h;
		char name[32];
		assert_int_equal(h_init(s, 3), 0);
		snprintf(name, sizeof(name), "eos/u%zu", k);
		h_assert_status(s, h_open(s, name, WCT, NULL, &h), SSH_FX_OK);
		uint8_t data[200];
		memset(data, 'w', sizeof(data));
		pk_begin_req(s, &b, SSH_FXP_WRITE);
		pk_handle(&b, &h);
		pk_u64(&b, 0);
		pk_str(&b, data, sizeof(data));
		pk_end(&b);
		h_send_raw(s, b.p, cuts[k]);
		if (!h_release(c, s))
			fail_msg("vault-sftp did not exit cleanly after a WRITE cut at %zu", cuts[k]);
		assert_false(h_disk_exists(c, name));
	}
	hb_free(&b);
	char **names;
	size_t n = h_disk_partials(c, "eos", &names);
	assert_int_equal(n, sizeof(cuts) / sizeof(cuts[0]));
	for (size_t i = 0; i < n; i++) {
		char rel[PATH_MAX];
		struct stat st;
		snprintf(rel, sizeof(rel), "eos/%s", names[i]);
		assert_int_equal(h_disk_lstat(c, rel, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0400);
		assert_int_equal(st.st_size, 0);
	}
}

static void
zero_length_packets(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const uint8_t zeros[16] = { 0 };

	h_send_raw(s, zeros, 4);
	ping(s);
	h_send_raw(s, zeros, sizeof(zeros));	/* four in a row */
	ping(s);
	/* Lengths 1..4: a type, maybe part of an id; dropped. */
	for (uint8_t len = 1; len <= 4; len++) {
		uint8_t p[8] = { 0, 0, 0, len, SSH_FXP_STAT, 0xff, 0xff, 0xff };
		h_send_raw(s, p, 4 + len);
		ping(s);
	}
}

/* Streams an oversized packet: header with len, type and id, then filler. */
static void
send_oversized(struct h_server *s, uint32_t len, uint8_t type, uint32_t id, size_t send_body)
{
	struct h_buf b = { 0 };

	pk_u32(&b, len);
	pk_u8(&b, type);
	pk_u32(&b, id);
	h_send_raw(s, b.p, b.len);
	hb_free(&b);
	size_t left = send_body - 5;
	uint8_t *fill = h_xmalloc(65536);
	/* Filler that looks like packets, to catch a server that resyncs too early. */
	for (size_t i = 0; i + 9 < 65536; i += 9) {
		static const uint8_t fake[9] = { 0, 0, 0, 5, SSH_FXP_REMOVE, 0, 0, 0, 1 };
		memcpy(fill + i, fake, 9);
	}
	while (left) {
		size_t n = left < 65536 ? left : 65536;
		h_send_raw(s, fill, n);
		left -= n;
	}
}

static void
oversized_packets(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle uh;
	struct h_attrs a;
	struct h_snap sealed;

	h_disk_put_str(c, "sealed", "sealed\n");
	h_snap_take(c, "sealed", &sealed);
	h_assert_status(s, h_open(s, "up", WCT, NULL, &uh), SSH_FX_OK);

	/* 300000: refused with the id, its bytes skipped, the next request answered. */
	send_oversized(s, 300000, SSH_FXP_WRITE, 4242, 300000);
	send_realpath(s, 4243);
	expect_status(s, 4242, SSH_FX_FAILURE, "packet too long");
	expect_alive(s, 4243);

	/* One byte over the limit. */
	send_oversized(s, H_MAX_PACKET + 1, SSH_FXP_REMOVE, 4244, H_MAX_PACKET + 1);
	send_realpath(s, 4245);
	expect_status(s, 4244, SSH_FX_FAILURE, "packet too long");
	expect_alive(s, 4245);

	/* Several MiB. */
	send_oversized(s, 5u << 20, SSH_FXP_OPEN, 4246, 5u << 20);
	send_realpath(s, 4247);
	expect_status(s, 4246, SSH_FX_FAILURE, "packet too long");
	expect_alive(s, 4247);
	h_assert_unchanged(c, "sealed", &sealed, true);

	h_assert_status(s, h_fstat(s, &uh, &a), SSH_FX_OK);
	assert_int_equal(a.size, 0);

	/* Exactly the limit is a valid packet: a WRITE of that size is taken. */
	struct h_buf b = { 0 };
	size_t data_len = H_MAX_PACKET - (1 + 4 + 4 + uh.len + 8 + 4);
	uint8_t *data = h_pattern_alloc(data_len, 5);
	pk_begin_req(s, &b, SSH_FXP_WRITE);
	pk_handle(&b, &uh);
	pk_u64(&b, 0);
	pk_str(&b, data, data_len);
	pk_end(&b);
	assert_int_equal(b.len, 4 + H_MAX_PACKET);
	h_assert_status(s, h_call(s, &b, SSH_FXP_STATUS, NULL), SSH_FX_OK);
	hb_free(&b);
	h_assert_status(s, h_fstat(s, &uh, &a), SSH_FX_OK);
	assert_int_equal(a.size, data_len);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
	size_t len;
	uint8_t *got = h_disk_get(c, "up", &len);
	assert_int_equal(len, data_len);
	assert_memory_equal(got, data, data_len);
}

/* 4 GiB announced, then the client goes away: FAILURE with the id, clean exit. */
static void
oversized_then_eof(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;

	send_oversized(s, 0xFFFFFFFFu, SSH_FXP_WRITE, 99, 1000);
	expect_status(s, 99, SSH_FX_FAILURE, "packet too long");
	h_finish(s);
	h_assert_exit_ok(s);
}

static void
huge_length_fields(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_handle fh, uh;
	struct h_snap sealed;
	static const uint32_t lens[] = { 0xFFFFFFFFu, 0xFFFFFFFEu, 0x80000000u, 0x7FFFFFFFu,
					 0x10000000u, 300000, 1000 };

	h_disk_put_str(c, "sealed", "sealed bytes\n");
	h_snap_take(c, "sealed", &sealed);
	h_assert_status(s, h_open(s, "sealed", SSH_FXF_READ, NULL, &fh), SSH_FX_OK);
	h_assert_status(s, h_open(s, "up", WCT, NULL, &uh), SSH_FX_OK);

#define EXPECT_BAD(what) do { \
	pk_end(&b); \
	int st_ = h_call(s, &b, SSH_FXP_STATUS, NULL); \
	if (st_ != SSH_FX_BAD_MESSAGE) \
		fail_msg("%s with length field 0x%x: %s (%s), expected BAD_MESSAGE", what, L, \
			 h_status_name(st_), s->last_msg); \
	} while (0)

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t L = lens[i];

		pk_begin_req(s, &b, SSH_FXP_STAT);
		pk_u32(&b, L);
		pk_raw(&b, "sealed", 6);
		EXPECT_BAD("STAT path");

		pk_begin_req(s, &b, SSH_FXP_OPEN);
		pk_u32(&b, L);
		pk_raw(&b, "newfile", 7);
		pk_u32(&b, WCT);
		pk_u32(&b, 0);
		EXPECT_BAD("OPEN filename");

		pk_begin_req(s, &b, SSH_FXP_WRITE);
		pk_handle(&b, &uh);
		pk_u64(&b, 0);
		pk_u32(&b, L);
		pk_raw(&b, "0123456789", 10);
		EXPECT_BAD("WRITE data");

		pk_begin_req(s, &b, SSH_FXP_READ);
		pk_u32(&b, L);
		pk_raw(&b, fh.b, fh.len);
		pk_u64(&b, 0);
		pk_u32(&b, 10);
		EXPECT_BAD("READ handle");

		pk_begin_req(s, &b, SSH_FXP_EXTENDED);
		pk_u32(&b, L);
		pk_raw(&b, "limits@openssh.com", 18);
		EXPECT_BAD("EXTENDED name");

		pk_begin_req(s, &b, SSH_FXP_RENAME);
		pk_cstr(&b, "sealed");
		pk_u32(&b, L);
		pk_raw(&b, "other", 5);
		EXPECT_BAD("RENAME newpath");

		/* attrs: extended count, then a pair string length */
		pk_begin_req(s, &b, SSH_FXP_SETSTAT);
		pk_cstr(&b, "sealed");
		pk_u32(&b, SSH_FILEXFER_ATTR_EXTENDED | SSH_FILEXFER_ATTR_PERMISSIONS);
		pk_u32(&b, 0444);
		pk_u32(&b, L);
		pk_cstr(&b, "k");
		pk_cstr(&b, "v");
		EXPECT_BAD("SETSTAT extended count");

		pk_begin_req(s, &b, SSH_FXP_MKDIR);
		pk_cstr(&b, "newdir");
		pk_u32(&b, SSH_FILEXFER_ATTR_EXTENDED);
		pk_u32(&b, 1);
		pk_u32(&b, L);
		pk_raw(&b, "key", 3);
		EXPECT_BAD("MKDIR extended pair");

		pk_begin_ext(s, &b, "users-groups-by-id@openssh.com");
		pk_u32(&b, L);
		pk_u32(&b, 0);
		EXPECT_BAD("users-groups-by-id uids");

		pk_begin_ext(s, &b, "fsync@openssh.com");
		pk_u32(&b, L);
		pk_raw(&b, uh.b, uh.len);
		EXPECT_BAD("fsync handle");
	}
#undef EXPECT_BAD
	/* An id array that is not a multiple of 4. */
	pk_begin_ext(s, &b, "users-groups-by-id@openssh.com");
	pk_str(&b, "\0\0\0\0\0", 5);
	pk_str(&b, "", 0);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_EXTENDED_REPLY, NULL);
	if (st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE)
		fail_msg("users-groups-by-id with a 5-byte uid array: %s", h_status_name(st));
	hb_free(&b);

	struct h_attrs a;
	h_assert_status(s, h_fstat(s, &uh, &a), SSH_FX_OK);
	assert_int_equal(a.size, 0);
	h_assert_unchanged(c, "sealed", &sealed, true);
	assert_false(h_disk_exists(c, "newfile"));
	assert_false(h_disk_exists(c, "newdir"));
	assert_false(h_disk_exists(c, "other"));
	h_assert_status(s, h_close(s, &fh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
	ping(s);
}

/* Many ids in users-groups-by-id: the reply may not fit a packet; any answer, no crash. */
static void
users_groups_flood(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 }, ids = { 0 };
	struct h_reply r;

	for (int i = 0; i < 60000; i++)
		pk_u32(&ids, 0);
	uint32_t id = pk_begin_ext(s, &b, "users-groups-by-id@openssh.com");
	pk_str(&b, ids.p, ids.len);
	pk_str(&b, "", 0);
	pk_end(&b);
	assert_true(b.len - 4 <= H_MAX_PACKET);
	h_send_raw(s, b.p, b.len);
	h_recv_must(s, &r);
	assert_int_equal(r.id, id);
	if (r.raw_len + 4 > H_MAX_PACKET)
		fail_msg("reply of %zu bytes exceeds the 256 KiB packet limit", r.raw_len + 4);
	hb_free(&b);
	hb_free(&ids);
	ping(s);
}

static bool
same_handle(const struct h_handle *a, const struct h_handle *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static void
invalid_handles(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle fh, dh, uh, bad[8];
	size_t nbad = 0;
	struct h_buf b = { 0 };
	int failures = 0;

	h_disk_put_str(c, "f", "file bytes");
	h_disk_mkdir(c, "d", 0755);
	h_assert_status(s, h_open(s, "f", SSH_FXF_READ, NULL, &fh), SSH_FX_OK);
	h_assert_status(s, h_opendir(s, "d", &dh), SSH_FX_OK);
	h_assert_status(s, h_open(s, "u", WCT, NULL, &uh), SSH_FX_OK);
	const struct h_handle *live[] = { &fh, &dh, &uh };

	struct h_handle cand[8];
	memset(cand, 0, sizeof(cand));
	cand[0].len = 0;					/* empty */
	memcpy(cand[1].b, "ZZZZ", 4), cand[1].len = 4;		/* junk */
	cand[2] = fh, cand[2].b[cand[2].len++] = 'x';		/* one byte too many */
	cand[3] = fh;						/* one too few */
	if (cand[3].len)
		cand[3].len--;
	memset(cand[4].b, 0xff, 300), cand[4].len = 300;	/* long */
	cand[5] = uh, cand[5].b[cand[5].len++] = '\0';		/* NUL appended */
	memset(cand[6].b, 0, 4), cand[6].len = 4;		/* zeros */
	memcpy(cand[7].b, "\xff\xff\xff\xff", 4), cand[7].len = 4;
	for (int i = 0; i < 8; i++) {
		bool is_live = false;
		for (int j = 0; j < 3; j++)
			is_live |= same_handle(&cand[i], live[j]);
		if (!is_live)
			bad[nbad++] = cand[i];
	}

	for (size_t i = 0; i < nbad; i++) {
		const struct h_handle *h = &bad[i];
		struct h_reply r;
		struct h_attrs a = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0400 };
		int st[8];
		const char *what[8] = { "CLOSE", "READ", "WRITE", "FSTAT", "FSETSTAT", "READDIR",
					"fsync", "fstatvfs" };
		st[0] = h_close(s, h);
		st[1] = h_read(s, h, 0, 10, &r);
		st[2] = h_write(s, h, 0, "x", 1);
		st[3] = h_fstat(s, h, NULL);
		st[4] = h_fsetstat(s, h, &a);
		st[5] = h_readdir(s, h, &r);
		st[6] = h_fsync(s, h);
		pk_begin_ext(s, &b, "fstatvfs@openssh.com");
		pk_handle(&b, h);
		pk_end(&b);
		st[7] = h_call(s, &b, SSH_FXP_EXTENDED_REPLY, NULL);
		for (int k = 0; k < 8; k++) {
			if (st[k] != SSH_FX_FAILURE) {
				print_error("%s on bad handle #%zu (%zu bytes): %s, expected FAILURE\n",
					    what[k], i, h->len, h_status_name(st[k]));
				failures++;
			}
		}
	}
	/* The message, once. */
	h_assert_status(s, h_close(s, &bad[0]), SSH_FX_FAILURE);
	h_assert_msg(s, "invalid handle");
	if (failures)
		fail_msg("%d requests on invalid handles not answered FAILURE", failures);

	/* The live handles are unharmed. */
	struct h_reply r;
	h_assert_status(s, h_read(s, &fh, 0, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 10);
	h_assert_status(s, h_write(s, &uh, 0, "ok", 2), SSH_FX_OK);

	/* Stale handles: closed before. */
	h_assert_status(s, h_close(s, &fh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &fh), SSH_FX_FAILURE);
	h_assert_msg(s, "invalid handle");
	h_assert_status(s, h_read(s, &fh, 0, 10, &r), SSH_FX_FAILURE);
	h_assert_status(s, h_close(s, &dh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &dh), SSH_FX_FAILURE);
	h_assert_status(s, h_readdir(s, &dh, &r), SSH_FX_FAILURE);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &uh), SSH_FX_FAILURE);
	h_assert_status(s, h_write(s, &uh, 0, "late", 4), SSH_FX_FAILURE);
	struct h_attrs sz = { .flags = SSH_FILEXFER_ATTR_SIZE, .size = 0 };
	h_assert_status(s, h_fsetstat(s, &uh, &sz), SSH_FX_FAILURE);
	size_t len;
	uint8_t *got = h_disk_get(c, "u", &len);
	assert_non_null(got);
	assert_int_equal(len, 2);
	assert_memory_equal(got, "ok", 2);
	hb_free(&b);
}

/* Handles of the wrong kind. */
static void
wrong_kind_of_handle(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle fh, dh, uh;
	struct h_reply r;

	h_disk_put_str(c, "f", "file bytes");
	h_disk_mkdir(c, "d", 0755);
	h_assert_status(s, h_open(s, "f", SSH_FXF_READ, NULL, &fh), SSH_FX_OK);
	h_assert_status(s, h_opendir(s, "d", &dh), SSH_FX_OK);
	h_assert_status(s, h_open(s, "u", WCT, NULL, &uh), SSH_FX_OK);

	h_assert_status(s, h_readdir(s, &fh, &r), SSH_FX_FAILURE);
	h_assert_status(s, h_readdir(s, &uh, &r), SSH_FX_FAILURE);
	h_assert_status(s, h_read(s, &dh, 0, 10, &r), SSH_FX_FAILURE);
	int st = h_write(s, &dh, 0, "x", 1);
	if (st != SSH_FX_FAILURE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("WRITE on a directory handle: %s", h_status_name(st));
	/* Everything still works. */
	h_assert_status(s, h_read(s, &fh, 0, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 10);
	h_assert_status(s, h_readdir(s, &dh, &r), SSH_FX_OK);
	h_assert_status(s, h_close(s, &fh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &dh), SSH_FX_OK);
	h_assert_status(s, h_close(s, &uh), SSH_FX_OK);
}

static void
read_sizes(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { LEN = 300 * 1024 };
	uint8_t *data = h_pattern_alloc(LEN, 3);
	struct h_handle h;
	struct h_reply r;

	h_disk_put(c, "big", data, LEN, 0644);
	h_assert_status(s, h_open(s, "big", SSH_FXF_READ, NULL, &h), SSH_FX_OK);

	int st = h_read(s, &h, 0, 0, &r);
	if (!(st == SSH_FX_EOF || (st == SSH_FX_OK && r.data_len == 0)))
		fail_msg("READ of 0 bytes: %s with %zu bytes, expected DATA of 0 bytes or EOF",
			 h_status_name(st), st == SSH_FX_OK ? r.data_len : 0);

	/* 4 GiB - 1 asked: clamped to what fits a packet, and the right bytes. */
	h_assert_status(s, h_read(s, &h, 0, 0xFFFFFFFFu, &r), SSH_FX_OK);
	if (r.data_len == 0 || r.data_len > H_MAX_RW)
		fail_msg("READ of 0xFFFFFFFF returned %zu bytes, expected 1..%d", r.data_len,
			 H_MAX_RW);
	assert_memory_equal(r.data, data, r.data_len);
	h_assert_status(s, h_read(s, &h, 1000, 0x80000000u, &r), SSH_FX_OK);
	assert_true(r.data_len > 0 && r.data_len <= H_MAX_RW);
	assert_memory_equal(r.data, data + 1000, r.data_len);

	/* The advertised maximum is served whole. */
	h_assert_status(s, h_read(s, &h, 4096, H_MAX_RW, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, H_MAX_RW);
	assert_memory_equal(r.data, data + 4096, H_MAX_RW);

	/* Offsets at and past the end. */
	h_assert_status(s, h_read(s, &h, LEN, 10, &r), SSH_FX_EOF);
	h_assert_status(s, h_read(s, &h, (uint64_t)1 << 40, 10, &r), SSH_FX_EOF);
	h_assert_status(s, h_read(s, &h, INT64_MAX - 1000, 10, &r), SSH_FX_EOF);
	/* Where offset + length overflows off_t, pread(2) says EINVAL. */
	st = h_read(s, &h, INT64_MAX, 10, &r);
	if (st != SSH_FX_EOF && st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE)
		fail_msg("READ at offset 2^63-1: %s", h_status_name(st));
	st = h_read(s, &h, UINT64_MAX, 10, &r);
	if (st != SSH_FX_EOF && st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE)
		fail_msg("READ at offset 2^64-1: %s", h_status_name(st));
	st = h_read(s, &h, (uint64_t)INT64_MAX + 1, 10, &r);
	if (st != SSH_FX_EOF && st != SSH_FX_BAD_MESSAGE && st != SSH_FX_FAILURE)
		fail_msg("READ at offset 2^63: %s", h_status_name(st));
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);

	/* Huge offsets on an upload: refused or written, never a crash; the session goes on. */
	h_assert_status(s, h_open(s, "up", WCT, NULL, &h), SSH_FX_OK);
	st = h_write(s, &h, UINT64_MAX, "x", 1);
	assert_int_not_equal(st, SSH_FX_OK);
	st = h_write(s, &h, (uint64_t)INT64_MAX, "x", 1);
	assert_int_not_equal(st, SSH_FX_OK);
	st = h_write(s, &h, UINT64_MAX - 5, "0123456789", 10);
	assert_int_not_equal(st, SSH_FX_OK);
	h_close(s, &h);
	ping(s);
}

/* Thousands of requests sent without reading a reply: every one answered, in order. */
static void
request_flood(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { N = 5000 };
	struct h_buf all = { 0 }, one = { 0 };
	struct h_handle h;

	h_disk_put(c, "f", h_pattern_alloc(100000, 4), 100000, 0644);
	h_assert_status(s, h_open(s, "f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	uint32_t first = s->next_id;
	for (int i = 0; i < N; i++) {
		if (i % 2) {
			pk_begin_req(s, &one, SSH_FXP_STAT);
			pk_cstr(&one, "f");
		} else {
			pk_begin_req(s, &one, SSH_FXP_READ);
			pk_handle(&one, &h);
			pk_u64(&one, 0);
			pk_u32(&one, 32768);
		}
		pk_end(&one);
		pk_raw(&all, one.p, one.len);
	}
	/* About 80 MB of replies to these; the harness reads while it writes. */
	h_send_raw(s, all.p, all.len);
	for (int i = 0; i < N; i++) {
		struct h_reply r;
		h_recv_must(s, &r);
		if (r.id != first + (uint32_t)i)
			fail_msg("reply %d has id %u, expected %u", i, r.id, first + (uint32_t)i);
		if (r.type != (i % 2 ? SSH_FXP_ATTRS : SSH_FXP_DATA))
			fail_msg("reply %d has type %u", i, r.type);
	}
	hb_free(&all);
	hb_free(&one);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

/* Trailing bytes after a request's fields are ignored, as OpenSSH does. */
static void
trailing_bytes_ignored(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_reply r;

	h_disk_put_str(c, "f", "x");
	pk_begin_req(s, &b, SSH_FXP_STAT);
	pk_cstr(&b, "f");
	pk_raw(&b, "trailing garbage \xff\x00\x01", 20);
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_ATTRS, &r), SSH_FX_OK);
	assert_int_equal(r.attrs.size, 1);
	pk_begin_req(s, &b, SSH_FXP_REMOVE);
	pk_cstr(&b, "f");
	pk_raw(&b, "\0\0\0\0", 4);
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_STATUS, NULL), SSH_FX_PERMISSION_DENIED);
	assert_true(h_disk_exists(c, "f"));
	hb_free(&b);
	ping(s);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST_RAW(request_before_init),
		H_TEST(second_init_ignored),
		H_TEST(unknown_packet_types),
		H_TEST(unknown_extensions),
		H_TEST(truncated_requests_every_cut),
		H_TEST(truncated_at_end_of_stream),
		H_TEST(zero_length_packets),
		H_TEST(oversized_packets),
		H_TEST(oversized_then_eof),
		H_TEST(huge_length_fields),
		H_TEST(users_groups_flood),
		H_TEST(invalid_handles),
		H_TEST(wrong_kind_of_handle),
		H_TEST(read_sizes),
		H_TEST(request_flood),
		H_TEST(trailing_bytes_ignored),
	};
	return cmocka_run_group_tests_name("protocol_badinput", tests, NULL, NULL);
}
