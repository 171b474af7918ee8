/* SPDX-License-Identifier: MIT */
/*
 * OPEN with every combination of READ, WRITE, APPEND, CREAT, TRUNC, EXCL
 * (64), on a new name and on an existing sealed name, against the spec's
 * table (sftp-subsystem/README.md). Afterwards the existing file must have
 * the same inode, bytes, mode, mtime and ctime: no OPEN may touch it.
 *
 * Where the table is silent, both readings below keep every existing byte,
 * so either is accepted (and then checked to be consistent):
 *  - new name, CREAT without WRITE: no upload and nothing created
 *    (NO_SUCH_FILE or PERMISSION_DENIED), or, as OpenSSH creates the file,
 *    a handle whose (empty) file appears only at CLOSE.
 *  - existing name, EXCL without CREAT: the table's "EXCL: file exists" row
 *    as written, or EXCL ignored as open(2) and OpenSSH do (the draft says
 *    EXCL needs CREAT). With CREAT, EXCL goes first: FAILURE "file exists".
 *  - existing name, neither WRITE, APPEND, TRUNC nor EXCL (READ, CREAT or no
 *    flag at all): a read handle, as OpenSSH opens O_RDONLY.
 * A re-upload handle is proven by writing the identical bytes and getting
 * OK at CLOSE with nothing changed (the result under either reading of
 * WRITE without TRUNC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum outcome {
	O_UPLOAD,		/* handle; the bytes are published at CLOSE */
	O_READ,			/* read handle */
	O_REUPLOAD,		/* handle; identical bytes give OK at CLOSE */
	O_NOENT,
	O_NOT_CREATED,		/* NO_SUCH_FILE or PERMISSION_DENIED, nothing created */
	O_EXISTS,		/* FAILURE "file exists" */
	O_DENY_APPEND,		/* PERMISSION_DENIED "refuses append" */
	O_DENY_TRUNC,		/* PERMISSION_DENIED "refuses truncate" */
	O_CREATE_EMPTY,		/* handle; an empty file appears at CLOSE */
};

static const char *const outcome_name[] = {
	"upload handle", "read handle", "re-upload handle", "NO_SUCH_FILE",
	"NO_SUCH_FILE/PERMISSION_DENIED (nothing created)", "FAILURE \"file exists\"",
	"PERMISSION_DENIED \"refuses append\"", "PERMISSION_DENIED \"refuses truncate\"",
	"handle creating an empty file at CLOSE",
};

/* The outcome the table gives; *ret_alt another accepted one (or -1). */
static enum outcome
expect_new(uint32_t f, int *ret_alt)
{
	*ret_alt = -1;
	if (!(f & SSH_FXF_CREAT))
		return O_NOENT;
	if (f & SSH_FXF_WRITE)
		return O_UPLOAD;
	*ret_alt = O_CREATE_EMPTY;
	return O_NOT_CREATED;
}

static enum outcome
expect_existing_strict(uint32_t f)
{
	if (f & SSH_FXF_EXCL)
		return O_EXISTS;
	if (f & SSH_FXF_APPEND)
		return O_DENY_APPEND;
	if (f & SSH_FXF_WRITE)
		return O_REUPLOAD;
	if (f & SSH_FXF_TRUNC)
		return O_DENY_TRUNC;
	return O_READ;
}

static enum outcome
expect_existing(uint32_t f, int *ret_alt)
{
	*ret_alt = -1;
	if ((f & SSH_FXF_EXCL) && !(f & SSH_FXF_CREAT))
		*ret_alt = (int)expect_existing_strict(f & ~SSH_FXF_EXCL);
	return expect_existing_strict(f);
}

static void
flags_str(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s%s", f ? "" : "(none)",
		 f & SSH_FXF_READ ? "READ|" : "", f & SSH_FXF_WRITE ? "WRITE|" : "",
		 f & SSH_FXF_APPEND ? "APPEND|" : "", f & SSH_FXF_CREAT ? "CREAT|" : "",
		 f & SSH_FXF_TRUNC ? "TRUNC|" : "", f & SSH_FXF_EXCL ? "EXCL|" : "");
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '|')
		buf[n - 1] = '\0';
}

/* Collects mismatches so that one run reports every wrong combination. */
struct report {
	int failures;
};

static void report_fail(struct report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
report_fail(struct report *rep, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s\n", msg);
	rep->failures++;
}

static void
open_every_flag_on_new_name(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct report rep = { 0 };

	h_disk_mkdir(c, "new", 0755);
	for (uint32_t f = 0; f < 64; f++) {
		char name[64], fs[80], content[128];
		struct h_handle h;
		int alt;
		enum outcome want = expect_new(f, &alt);

		flags_str(f, fs, sizeof(fs));
		snprintf(name, sizeof(name), "new/f%02u", f);
		snprintf(content, sizeof(content), "upload with flags %s\n", fs);
		int st = h_open(s, name, f, NULL, &h);
		if (alt == O_CREATE_EMPTY && st == SSH_FX_OK)
			want = O_CREATE_EMPTY;

		switch (want) {
		case O_CREATE_EMPTY: {
			if (h_disk_exists(c, name))
				report_fail(&rep, "OPEN new %s: the name appeared before CLOSE", fs);
			st = h_close(s, &h);
			if (st != SSH_FX_OK)
				report_fail(&rep, "CLOSE of OPEN new %s: %s (%s)", fs,
					    h_status_name(st), s->last_msg);
			struct stat st_;
			if (h_disk_lstat(c, name, &st_) != 0 || !S_ISREG(st_.st_mode) ||
			    st_.st_size != 0)
				report_fail(&rep, "OPEN new %s gave a handle, but CLOSE did not "
					    "publish an empty file", fs);
			break;
		}
		case O_UPLOAD: {
			if (st != SSH_FX_OK) {
				report_fail(&rep, "OPEN new %s: got %s (%s), expected %s", fs,
					    h_status_name(st), s->last_msg, outcome_name[want]);
				break;
			}
			if (h_disk_exists(c, name))
				report_fail(&rep, "OPEN new %s: the name appeared before CLOSE", fs);
			if (h_disk_partials(c, "new", NULL) != 1)
				report_fail(&rep, "OPEN new %s: expected exactly one partial file", fs);
			st = h_write(s, &h, 0, content, strlen(content));
			if (st != SSH_FX_OK)
				report_fail(&rep, "WRITE on upload %s: %s (%s)", fs,
					    h_status_name(st), s->last_msg);
			if (h_disk_exists(c, name))
				report_fail(&rep, "OPEN new %s: the name appeared before CLOSE", fs);
			st = h_close(s, &h);
			if (st != SSH_FX_OK)
				report_fail(&rep, "CLOSE upload %s: %s (%s)", fs,
					    h_status_name(st), s->last_msg);
			size_t len;
			uint8_t *got = h_disk_get(c, name, &len);
			if (got == NULL || len != strlen(content) || memcmp(got, content, len) != 0)
				report_fail(&rep, "upload %s: published bytes wrong or missing", fs);
			break;
		}
		case O_NOENT:
		case O_NOT_CREATED:
			if (st == SSH_FX_OK) {
				report_fail(&rep, "OPEN new %s: got a handle, expected %s%s%s", fs,
					    outcome_name[want], alt >= 0 ? " or " : "",
					    alt >= 0 ? outcome_name[alt] : "");
				h_close(s, &h);
			} else if (want == O_NOENT ? st != SSH_FX_NO_SUCH_FILE
				   : st != SSH_FX_NO_SUCH_FILE && st != SSH_FX_PERMISSION_DENIED) {
				report_fail(&rep, "OPEN new %s: got %s (%s), expected %s", fs,
					    h_status_name(st), s->last_msg, outcome_name[want]);
			}
			if (h_disk_exists(c, name))
				report_fail(&rep, "OPEN new %s: created the name", fs);
			break;
		default:
			fail();
		}
		if (h_disk_partials(c, "new", NULL) != 0)
			report_fail(&rep, "OPEN new %s: a partial file is left behind", fs);
	}
	if (rep.failures)
		fail_msg("%d mismatches in the OPEN table for new names", rep.failures);
}

static void
check_existing_outcome(struct h_ctx *c, struct report *rep, uint32_t f, const char *name,
		       const uint8_t *data, size_t len)
{
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_reply r;
	char fs[80];
	int alt;
	enum outcome want = expect_existing(f, &alt);
	int st = h_open(s, name, f, NULL, &h);
	char path[128];

	flags_str(f, fs, sizeof(fs));
	snprintf(path, sizeof(path), "/%s", name);
	if (alt >= 0) {
		/* Which of the two readings did the server take? */
		bool handle_alt = alt == O_READ || alt == O_REUPLOAD;
		if ((st == SSH_FX_OK) == handle_alt &&
		    (handle_alt || st == (alt == O_EXISTS ? SSH_FX_FAILURE : SSH_FX_PERMISSION_DENIED)))
			want = (enum outcome)alt;
	}
	switch (want) {
	case O_READ:
		if (st != SSH_FX_OK) {
			report_fail(rep, "OPEN existing %s: got %s (%s), expected %s", fs,
				    h_status_name(st), s->last_msg, outcome_name[want]);
			return;
		}
		st = h_read(s, &h, 0, (uint32_t)len + 10, &r);
		if (st != SSH_FX_OK || r.data_len != len || memcmp(r.data, data, len) != 0)
			report_fail(rep, "READ on read handle %s: %s, wrong data", fs,
				    h_status_name(st));
		st = h_write(s, &h, 0, "EVIL", 4);
		if (st != SSH_FX_PERMISSION_DENIED)
			report_fail(rep, "WRITE on read handle %s: got %s, expected PERMISSION_DENIED",
				    fs, h_status_name(st));
		st = h_close(s, &h);
		if (st != SSH_FX_OK)
			report_fail(rep, "CLOSE read handle %s: %s", fs, h_status_name(st));
		break;
	case O_REUPLOAD:
		if (st != SSH_FX_OK) {
			report_fail(rep, "OPEN existing %s: got %s (%s), expected %s", fs,
				    h_status_name(st), s->last_msg, outcome_name[want]);
			return;
		}
		st = h_write(s, &h, 0, data, len);
		if (st != SSH_FX_OK)
			report_fail(rep, "WRITE identical bytes on re-upload %s: %s (%s)", fs,
				    h_status_name(st), s->last_msg);
		st = h_close(s, &h);
		if (st != SSH_FX_OK)
			report_fail(rep, "CLOSE identical re-upload %s: got %s (%s), expected OK", fs,
				    h_status_name(st), s->last_msg);
		break;
	case O_EXISTS:
	case O_DENY_APPEND:
	case O_DENY_TRUNC: {
		int code = want == O_EXISTS ? SSH_FX_FAILURE : SSH_FX_PERMISSION_DENIED;
		const char *word = want == O_EXISTS ? "file exists"
			: want == O_DENY_APPEND ? "refuses append" : "refuses truncate";
		if (st == SSH_FX_OK) {
			report_fail(rep, "OPEN existing %s: got a handle, expected %s", fs,
				    outcome_name[want]);
			/* Prove what the handle can do, then let it go. */
			h_write(s, &h, 0, "EVIL", 4);
			h_close(s, &h);
			return;
		}
		if (st != code)
			report_fail(rep, "OPEN existing %s: got %s (%s), expected %s", fs,
				    h_status_name(st), s->last_msg, outcome_name[want]);
		else if (!strstr(s->last_msg, word) ||
			 (code == SSH_FX_PERMISSION_DENIED && !strstr(s->last_msg, path)))
			report_fail(rep, "OPEN existing %s: message \"%s\" lacks \"%s\"%s", fs,
				    s->last_msg, word,
				    code == SSH_FX_PERMISSION_DENIED ? " or the path" : "");
		break;
	}
	default:
		fail();
	}
}

static void
open_every_flag_on_existing_name(void **state)
{
	struct h_ctx *c = *state;
	struct report rep = { 0 };
	enum { LEN = 3000 };
	uint8_t *data = h_pattern_alloc(LEN, 7);

	for (uint32_t f = 0; f < 64; f++) {
		char name[64], fs[80];
		struct h_snap snap;

		flags_str(f, fs, sizeof(fs));
		snprintf(name, sizeof(name), "sealed/f%02u.dat", f);
		h_disk_put(c, name, data, LEN, 0644);
		h_snap_take(c, name, &snap);
		check_existing_outcome(c, &rep, f, name, data, LEN);
		struct h_snap now;
		h_snap_take(c, name, &now);
		if (!now.exists || now.st.st_ino != snap.st.st_ino ||
		    now.st.st_size != snap.st.st_size || now.st.st_mode != snap.st.st_mode ||
		    now.st.st_mtim.tv_sec != snap.st.st_mtim.tv_sec ||
		    now.st.st_mtim.tv_nsec != snap.st.st_mtim.tv_nsec ||
		    now.st.st_ctim.tv_sec != snap.st.st_ctim.tv_sec ||
		    now.st.st_ctim.tv_nsec != snap.st.st_ctim.tv_nsec ||
		    now.len != LEN || memcmp(now.data, data, LEN) != 0)
			report_fail(&rep, "OPEN existing %s: the sealed file changed", fs);
		size_t np = h_disk_partials(c, "sealed", NULL);
		if (np != 0)
			report_fail(&rep, "OPEN existing %s: %zu partial file(s) left behind", fs, np);
		/* Other existing files are untouched as well. */
		for (uint32_t g = 0; g < f; g++) {
			char other[64];
			size_t olen;
			snprintf(other, sizeof(other), "sealed/f%02u.dat", g);
			uint8_t *o = h_disk_get(c, other, &olen);
			if (o == NULL || olen != LEN || memcmp(o, data, LEN) != 0)
				report_fail(&rep, "after OPEN %s: %s changed", fs, other);
		}
	}
	if (rep.failures)
		fail_msg("%d mismatches in the OPEN table for existing names", rep.failures);
}

/* Different bytes through every re-upload flag combination: refused at CLOSE. */
static void
reupload_different_every_write_flag(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct report rep = { 0 };
	enum { LEN = 512 };
	uint8_t *data = h_pattern_alloc(LEN, 8);
	uint8_t *evil = h_pattern_alloc(LEN, 9);

	for (uint32_t f = 0; f < 64; f++) {
		if (expect_existing_strict(f) != O_REUPLOAD)
			continue;
		char name[64], fs[80], path[80];
		struct h_snap snap;
		struct h_handle h;

		flags_str(f, fs, sizeof(fs));
		snprintf(name, sizeof(name), "ow/f%02u.dat", f);
		snprintf(path, sizeof(path), "/%s", name);
		h_disk_put(c, name, data, LEN, 0644);
		h_snap_take(c, name, &snap);
		int st = h_open(s, name, f, NULL, &h);
		if (st != SSH_FX_OK) {
			report_fail(&rep, "OPEN existing %s: %s (%s), expected a re-upload handle", fs,
				    h_status_name(st), s->last_msg);
			continue;
		}
		st = h_write(s, &h, 0, evil, LEN);
		if (st != SSH_FX_OK && st != SSH_FX_PERMISSION_DENIED)
			report_fail(&rep, "WRITE on re-upload %s: %s", fs, h_status_name(st));
		st = h_close(s, &h);
		if (st != SSH_FX_PERMISSION_DENIED)
			report_fail(&rep, "CLOSE of a differing re-upload %s: got %s (%s), "
				    "expected PERMISSION_DENIED", fs, h_status_name(st), s->last_msg);
		else if (!strstr(s->last_msg, "refuses overwrite") || !strstr(s->last_msg, path))
			report_fail(&rep, "CLOSE %s: message \"%s\" lacks \"refuses overwrite\" or %s",
				    fs, s->last_msg, path);
		struct h_snap now;
		h_snap_take(c, name, &now);
		if (!now.exists || now.st.st_ino != snap.st.st_ino || now.len != LEN ||
		    memcmp(now.data, data, LEN) != 0 ||
		    now.st.st_mtim.tv_sec != snap.st.st_mtim.tv_sec)
			report_fail(&rep, "re-upload %s: the sealed file changed", fs);
		if (h_disk_partials(c, "ow", NULL) != 0)
			report_fail(&rep, "re-upload %s: refused bytes not discarded", fs);
	}
	if (rep.failures)
		fail_msg("%d differing re-uploads not refused correctly", rep.failures);
}

/* OPEN attributes (permissions) must never change an existing file. */
static void
open_attrs_do_not_touch_existing(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap snap;
	struct h_handle h;
	struct h_attrs a = {
		.flags = SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_SIZE |
			SSH_FILEXFER_ATTR_ACMODTIME,
		.perm = 07777, .size = 0, .atime = 1, .mtime = 1,
	};

	h_disk_put_str(c, "keep", "keep me as I am\n");
	h_snap_take(c, "keep", &snap);
	h_assert_status(s, h_open(s, "keep", SSH_FXF_READ, &a, &h), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "keep", &snap, true);
	int st = h_open(s, "keep", SSH_FXF_READ | SSH_FXF_CREAT, &a, &h);
	if (st == SSH_FX_OK)
		h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "keep", &snap, true);
	st = h_open(s, "keep", SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC, &a, &h);
	if (st == SSH_FX_OK)
		h_close(s, &h);
	h_assert_unchanged(c, "keep", &snap, true);
}

/* Odd targets: a directory, the root, a missing parent, unknown flag bits. */
static void
open_odd_targets(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_snap snap;
	const uint32_t wct = SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC;

	h_disk_mkdir(c, "adir", 0755);
	h_disk_put_str(c, "adir/inner", "i");
	h_snap_take(c, "adir", &snap);
	int st = h_open(s, "adir", wct, NULL, &h);
	if (st != SSH_FX_FAILURE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("OPEN WRITE|CREAT|TRUNC of a directory: %s (%s)", h_status_name(st),
			 s->last_msg);
	st = h_open(s, "/", wct, NULL, &h);
	if (st != SSH_FX_FAILURE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("OPEN WRITE|CREAT|TRUNC of /: %s (%s)", h_status_name(st), s->last_msg);
	st = h_open(s, "", wct, NULL, &h);
	if (st != SSH_FX_FAILURE && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("OPEN WRITE|CREAT|TRUNC of \"\": %s (%s)", h_status_name(st), s->last_msg);
	assert_true(h_disk_exists(c, "adir/inner"));

	h_assert_status(s, h_open(s, "no/such/parent/f", wct, NULL, &h), SSH_FX_NO_SUCH_FILE);
	assert_false(h_disk_exists(c, "no"));

	/* Unknown bits next to known ones: no upload may come of WRITE|CREAT|0x40 on an
	 * existing name other than a re-upload. */
	h_disk_put_str(c, "odd", "odd bytes");
	struct h_snap osnap;
	h_snap_take(c, "odd", &osnap);
	st = h_open(s, "odd", SSH_FXF_WRITE | SSH_FXF_CREAT | 0x40 | 0x80000000u, NULL, &h);
	if (st == SSH_FX_OK) {
		h_write(s, &h, 0, "EVIL", 4);
		h_assert_status(s, h_close(s, &h), SSH_FX_PERMISSION_DENIED);
	}
	h_assert_unchanged(c, "odd", &osnap, true);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST(open_every_flag_on_new_name),
		H_TEST(open_every_flag_on_existing_name),
		H_TEST(reupload_different_every_write_flag),
		H_TEST(open_attrs_do_not_touch_existing),
		H_TEST(open_odd_targets),
	};
	return cmocka_run_group_tests_name("protocol_open", tests, NULL, NULL);
}
