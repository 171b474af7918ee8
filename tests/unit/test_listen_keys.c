/* SPDX-License-Identifier: MIT */
/*
 * vault-listen's keys (listen-keys.h): the host key's creation and the
 * checks on loading it, the authorized_keys parser (which lines give keys,
 * which give warnings), fingerprints against ssh-keygen's, and matching
 * with from=. Keys come from libssh and from ssh-keygen (openssh-client),
 * so the parser is tested against what OpenSSH writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen-keys.h"

static char base[64];

struct warnings {
	unsigned line[64];
	char msg[64][256];
	size_t n;
};

static void
record_warning(void *ctx, unsigned line, const char *msg)
{
	struct warnings *w = ctx;

	assert_true(w->n < 64);
	w->line[w->n] = line;
	snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
	w->n++;
}

static char *
path_in(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", base, name) > 0);
	return p;
}

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* Runs a shell command; its stdout (first line, newline cut) in out. Returns the exit status. */
static int
run(char *out, size_t size, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "re");
	assert_non_null(p);
	out[0] = '\0';
	if (fgets(out, (int)size, p) != NULL)
		out[strcspn(out, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A key made by ssh-keygen: dir/name and dir/name.pub; returns the .pub line. */
static char *
keygen(const char *name, const char *type_args)
{
	char out[256], *path = path_in(name), *pub, *line;

	unlink(path);
	assert_int_equal(run(out, sizeof(out), "ssh-keygen -q %s -N '' -C 'made by ssh-keygen' -f '%s' </dev/null",
			     type_args, path), 0);
	assert_true(asprintf(&pub, "%s.pub", path) > 0);
	line = read_text(pub);
	line[strcspn(line, "\n")] = '\0';
	free(pub);
	free(path);
	return line;
}

/* "ssh-ed25519 AAAA..." of a new libssh key; *ret_key gets the key. */
static char *
new_pubkey_line(enum ssh_keytypes_e type, int bits, ssh_key *ret_key)
{
	ssh_key key = NULL;
	char *b64 = NULL, *line;

	assert_int_equal(ssh_pki_generate(type, bits, &key), SSH_OK);
	assert_int_equal(ssh_pki_export_pubkey_base64(key, &b64), SSH_OK);
	assert_true(asprintf(&line, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64) > 0);
	ssh_string_free_char(b64);
	*ret_key = key;
	return line;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/test-listen-keys.XXXXXX");
	return mkdtemp(base) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
test_host_key_generate(void **state)
{
	char *dir = path_in("state"), *path = path_in("state/host_key"), *b64 = NULL, out[512];
	ssh_key key = NULL, again = NULL;
	bool generated = false;
	char err[256] = "";
	struct stat st;
	mode_t old = umask(0);	/* the worst umask: the key must still be 0600 */
	int r = listen_host_key(path, &key, &generated, err, sizeof(err));

	umask(old);
	assert_int_equal(r, 0);
	assert_true(generated);
	assert_int_equal(ssh_key_type(key), SSH_KEYTYPE_ED25519);
	assert_true(ssh_key_is_private(key));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* No temporary file left beside it. */
	assert_int_equal(run(out, sizeof(out), "ls -A '%s' | wc -l", dir), 0);
	assert_string_equal(out, "1");

	/* OpenSSH reads it, and sees the same public key. */
	assert_int_equal(run(out, sizeof(out), "ssh-keygen -y -f '%s'", path), 0);
	assert_int_equal(ssh_pki_export_pubkey_base64(key, &b64), SSH_OK);
	assert_non_null(strstr(out, b64));

	/* The second start loads it. */
	assert_int_equal(listen_host_key(path, &again, &generated, err, sizeof(err)), 0);
	assert_false(generated);
	assert_int_equal(ssh_key_cmp(key, again, SSH_KEY_CMP_PRIVATE), 0);

	ssh_string_free_char(b64);
	ssh_key_free(key);
	ssh_key_free(again);
	free(dir);
	free(path);
}

static void
test_host_key_refused(void **state)
{
	char *path = path_in("refused/key"), *link = path_in("refused/link"), *ecdsa = path_in("refused/ecdsa");
	char *garbage = path_in("refused/garbage"), *dirpath = path_in("refused");
	ssh_key key = NULL, other = NULL;
	char err[256];
	bool generated;

	assert_int_equal(listen_host_key(path, &key, &generated, err, sizeof(err)), 0);
	ssh_key_free(key);
	key = NULL;

	assert_int_equal(chmod(path, 0644), 0);
	err[0] = '\0';
	assert_int_equal(listen_host_key(path, &key, &generated, err, sizeof(err)), -EPERM);
	assert_null(key);
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(listen_host_key(path, &key, &generated, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);

	/* A symlink to a good key is refused, and nothing is created in its place. */
	assert_int_equal(symlink(path, link), 0);
	err[0] = '\0';
	assert_int_equal(listen_host_key(link, &key, &generated, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symlink"));
	/* A dangling one too: it must not be followed to create a key elsewhere. */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/tmp/test-listen-keys-nowhere", link), 0);
	assert_int_equal(listen_host_key(link, &key, &generated, err, sizeof(err)), -ELOOP);
	assert_int_equal(access("/tmp/test-listen-keys-nowhere", F_OK), -1);

	/* Not a regular file. */
	assert_int_equal(listen_host_key(dirpath, &key, &generated, err, sizeof(err)), -EINVAL);

	/* Another owner: only root can make that file. */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		err[0] = '\0';
		assert_int_equal(listen_host_key(path, &key, &generated, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "owned by uid 65534"));
		assert_int_equal(chown(path, 0, 0), 0);
	}

	/* Not Ed25519, and not a key at all. */
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ECDSA_P256, 256, &other), SSH_OK);
	assert_int_equal(ssh_pki_export_privkey_file(other, NULL, NULL, NULL, ecdsa), SSH_OK);
	assert_int_equal(chmod(ecdsa, 0600), 0);
	err[0] = '\0';
	assert_int_equal(listen_host_key(ecdsa, &key, &generated, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not Ed25519"));
	write_file(garbage, "not a key\n", 10, 0600);
	assert_int_equal(listen_host_key(garbage, &key, &generated, err, sizeof(err)), -EINVAL);
	assert_null(key);

	/* The good one still loads. */
	assert_int_equal(listen_host_key(path, &key, &generated, err, sizeof(err)), 0);
	assert_false(generated);

	ssh_key_free(key);
	ssh_key_free(other);
	free(path);
	free(link);
	free(ecdsa);
	free(garbage);
	free(dirpath);
}

/* ssh-keygen -lf's fingerprint of the key in file. */
static void
keygen_fingerprint(const char *file, char *out, size_t size)
{
	char line[512], *sp;

	assert_int_equal(run(line, sizeof(line), "ssh-keygen -E sha256 -lf '%s'", file), 0);
	/* "256 SHA256:... comment (ED25519)" */
	sp = strchr(line, ' ');
	assert_non_null(sp);
	snprintf(out, size, "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
	assert_memory_equal(out, "SHA256:", 7);
}

static void
test_keys_load(void **state)
{
	char *edA = keygen("a", "-t ed25519"), *rsa = keygen("rsa", "-t rsa -b 2048");
	char *ecdsa = keygen("ecdsa", "-t ecdsa -b 384");
	char *priv_path = path_in("a"), *priv = read_text(priv_path), *file = path_in("authorized_keys");
	ssh_key kB, kC, kD, kE, kF, kG;
	char *edB = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kB), *edC = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kC);
	char *edD = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kD), *edE = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kE);
	char *edF = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kF), *edG = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kG);
	char *text, *rsa_b64 = strchr(rsa, ' ') + 1, *edB_b64 = strchr(edB, ' ') + 1;
	unsigned priv_lines = 0;
	struct listen_keyring ring = { 0 };
	struct warnings w = { 0 };
	char err[256] = "", fp[LISTEN_FINGERPRINT_MAX], *pub_path;

	rsa_b64[strcspn(rsa_b64, " ")] = '\0';	/* rsa is now "ssh-rsa AAAA..." */
	for (const char *c = priv; *c != '\0'; c++)
		priv_lines += *c == '\n';
	assert_true(priv_lines >= 3);
	assert_true(asprintf(&text,
		"# authorized keys of a tenant\n"				/* 1 */
		"\n"								/* 2 */
		"%s\n"								/* 3 key: ssh-keygen's, with comment */
		"%s\n"								/* 4 key: no comment */
		"from=\"127.0.0.1,10.0.0.0/8\" %s with a comment\n"		/* 5 key, 2 addresses */
		"restrict,no-pty %s\n"						/* 6 key */
		"command=\"x\" %s\n"						/* 7 skipped */
		"from=\"*.example.com\" %s\n"					/* 8 skipped */
		"this is garbage\n"						/* 9 skipped */
		"%s rsa-key\n"							/* 10 key (ssh-keygen's) */
		"%s\n"								/* 11 key: ecdsa-sha2-nistp384 */
		"   \t  # indented comment\n"					/* 12 */
		"ssh-rsa %s\n"							/* 13 skipped: type does not match */
		"rsa %s\n"							/* 14 skipped: libssh's alias */
		"NO-PTY,No-Agent-Forwarding,no-port-forwarding,no-X11-forwarding,no-user-rc %s\r\n" /* 15 key, CRLF */
		"from=\"10.0.0.1/8\" %s\n"					/* 16 skipped: host bits */
		"from=\"!10.0.0.1\" %s\n"					/* 17 skipped: negation */
		"cert-authority %s\n"						/* 18 skipped */
		"from=\"127.0.0.1 %s\n"						/* 19 skipped: no end quote */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!!!\n"			/* 20 skipped: bad base64 */
		"ssh-ed25519\n"							/* 21 skipped: no data */
		"ssh-ed25519-cert-v01@openssh.com %s\n"				/* 22 skipped: certificate */
		"environment=\"A=b\" %s\n"					/* 23 skipped */
		"from=\"127.0.0.1\",from=\"::1\" %s\n"				/* 24 skipped: two from= */
		"no-pty=\"1\" %s\n"						/* 25 skipped: a flag with a value */
		"from=\"192.0.2.1,2001:db8::/32\" %s\n"				/* 26 key */
		"sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAEC"
		"AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gAAAABHNzaDo= sk\n"	/* 27 skipped: security key */
		"ssh-ed25519 %sAAAA\n"						/* 28 skipped: data after the key */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE4%s\n"				/* 29 skipped: "ssh-ed25518" inside */
		"%s",								/* 30..: the private key, all skipped */
		edA, edB, edC, edD, edE, edE, rsa, ecdsa, edB_b64, rsa_b64, edF, edE, edE, edE, edE,
		edB_b64, edE, edE, edE, edG, edB_b64, edB_b64 + 20, priv) > 0);
	write_file(file, text, strlen(text), 0644);

	assert_int_equal(listen_keys_load(file, &ring, record_warning, &w, err, sizeof(err)), 0);
	for (size_t i = 0; i < w.n; i++)
		print_message("line %u: %s\n", w.line[i], w.msg[i]);

	/* The keys, in file order. */
	assert_int_equal(ring.n, 8);
	assert_string_equal(ssh_key_type_to_char(ssh_key_type(ring.v[0].key)), "ssh-ed25519");
	assert_int_equal(ssh_key_cmp(ring.v[1].key, kB, SSH_KEY_CMP_PUBLIC), 0);
	assert_int_equal(ssh_key_cmp(ring.v[2].key, kC, SSH_KEY_CMP_PUBLIC), 0);
	assert_int_equal(ssh_key_cmp(ring.v[3].key, kD, SSH_KEY_CMP_PUBLIC), 0);
	assert_int_equal(ssh_key_type(ring.v[4].key), SSH_KEYTYPE_RSA);
	assert_int_equal(ssh_key_type(ring.v[5].key), SSH_KEYTYPE_ECDSA_P384);
	assert_int_equal(ssh_key_cmp(ring.v[6].key, kF, SSH_KEY_CMP_PUBLIC), 0);
	assert_int_equal(ssh_key_cmp(ring.v[7].key, kG, SSH_KEY_CMP_PUBLIC), 0);
	for (size_t i = 0; i < ring.n; i++)
		assert_false(ssh_key_is_private(ring.v[i].key));

	/* from= */
	assert_int_equal(ring.v[0].n_from, 0);
	assert_int_equal(ring.v[2].n_from, 2);
	assert_int_equal(ring.v[2].from[0].family, AF_INET);
	assert_int_equal(ring.v[2].from[0].prefix, 32);
	assert_int_equal(ring.v[2].from[1].prefix, 8);
	assert_int_equal(ring.v[3].n_from, 0);
	assert_int_equal(ring.v[7].n_from, 2);
	assert_int_equal(ring.v[7].from[1].family, AF_INET6);

	/* One warning per skipped line, with its number. */
	{
		unsigned want[64] = { 7, 8, 9, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 29 };
		size_t n_want = 18;

		for (unsigned l = 0; l < priv_lines; l++)
			want[n_want++] = 30 + l;
		assert_int_equal(w.n, n_want);
		for (size_t i = 0; i < n_want; i++)
			assert_int_equal(w.line[i], want[i]);
	}
	assert_non_null(strstr(w.msg[0], "command"));
	assert_non_null(strstr(w.msg[1], "*.example.com"));
	assert_non_null(strstr(w.msg[7], "cert-authority"));
	assert_non_null(strstr(w.msg[11], "certificates"));
	assert_non_null(strstr(w.msg[15], "security-key"));
	assert_non_null(strstr(w.msg[18], "private key"));

	/* Fingerprints as ssh-keygen prints them. */
	pub_path = path_in("a.pub");
	keygen_fingerprint(pub_path, fp, sizeof(fp));
	assert_string_equal(ring.v[0].fingerprint, fp);
	free(pub_path);
	pub_path = path_in("rsa.pub");
	keygen_fingerprint(pub_path, fp, sizeof(fp));
	assert_string_equal(ring.v[4].fingerprint, fp);
	free(pub_path);
	pub_path = path_in("ecdsa.pub");
	keygen_fingerprint(pub_path, fp, sizeof(fp));
	assert_string_equal(ring.v[5].fingerprint, fp);
	free(pub_path);
	pub_path = path_in("b.pub");
	write_file(pub_path, edB, strlen(edB), 0644);
	keygen_fingerprint(pub_path, fp, sizeof(fp));
	assert_string_equal(ring.v[1].fingerprint, fp);
	assert_int_equal(listen_key_fingerprint(kB, fp), 0);	/* a private key: its public half */
	assert_string_equal(ring.v[1].fingerprint, fp);
	free(pub_path);
	assert_string_not_equal(ring.v[1].fingerprint, ring.v[2].fingerprint);
	assert_int_equal(listen_key_fingerprint(NULL, fp), -EINVAL);

	/* Without a warning callback the result is the same. */
	{
		struct listen_keyring again = { 0 };

		assert_int_equal(listen_keys_load(file, &again, NULL, NULL, err, sizeof(err)), 0);
		assert_int_equal(again.n, ring.n);
		listen_keys_free(&again);
	}

	listen_keys_free(&ring);
	assert_null(ring.v);
	assert_int_equal(ring.n, 0);
	listen_keys_free(&ring);	/* twice is harmless */
	for (ssh_key *k = (ssh_key[]){ kB, kC, kD, kE, kF, kG }, *e = k + 6; k < e; k++)
		ssh_key_free(*k);
	free(edA);
	free(edB);
	free(edC);
	free(edD);
	free(edE);
	free(edF);
	free(edG);
	free(rsa);
	free(ecdsa);
	free(priv);
	free(priv_path);
	free(file);
	free(text);
}

static void
test_keys_load_errors(void **state)
{
	char *file = path_in("limits"), *missing = path_in("no-such-file"), *line, *text, err[256];
	struct listen_keyring ring = { .v = (void *)&ring, .n = 42 };	/* untouched on failure */
	struct warnings w = { 0 };
	ssh_key key;
	size_t len;

	err[0] = '\0';
	assert_int_equal(listen_keys_load(missing, &ring, NULL, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no-such-file"));
	assert_int_equal(listen_keys_load(base, &ring, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ring.n, 42);

	/* Exactly 1 MiB of comments is fine; one byte more is not. */
	text = malloc(LISTEN_KEYS_MAX_FILE + 1);
	assert_non_null(text);
	memset(text, '#', LISTEN_KEYS_MAX_FILE + 1);
	for (size_t i = 1000; i < LISTEN_KEYS_MAX_FILE; i += 1000)
		text[i] = '\n';
	write_file(file, text, LISTEN_KEYS_MAX_FILE, 0644);
	ring = (struct listen_keyring){ 0 };
	assert_int_equal(listen_keys_load(file, &ring, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ring.n, 0);
	write_file(file, text, LISTEN_KEYS_MAX_FILE + 1, 0644);
	assert_int_equal(listen_keys_load(file, &ring, NULL, NULL, err, sizeof(err)), -EFBIG);
	free(text);

	/* 1024 keys (the same one may stand on several lines), then 1025. */
	line = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &key);
	len = strlen(line) + 1;
	text = malloc(len * 1025 + 1);
	assert_non_null(text);
	for (size_t i = 0; i < 1025; i++)
		sprintf(text + i * len, "%s\n", line);
	write_file(file, text, len * 1024, 0644);
	assert_int_equal(listen_keys_load(file, &ring, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ring.n, 1024);
	listen_keys_free(&ring);
	write_file(file, text, len * 1025, 0644);
	err[0] = '\0';
	assert_int_equal(listen_keys_load(file, &ring, NULL, NULL, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "1024"));

	/* A NUL byte spoils its line only; the last line needs no newline. */
	memcpy(text, line, len - 1);
	text[len - 1] = '\n';
	memcpy(text + len, line, len - 1);
	text[len + 20] = '\0';
	text[2 * len - 1] = '\n';
	memcpy(text + 2 * len, line, len - 1);
	write_file(file, text, 3 * len - 1, 0644);
	ring = (struct listen_keyring){ 0 };
	assert_int_equal(listen_keys_load(file, &ring, record_warning, &w, err, sizeof(err)), 0);
	assert_int_equal(ring.n, 2);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.line[0], 2);
	assert_non_null(strstr(w.msg[0], "NUL"));
	listen_keys_free(&ring);

	ssh_key_free(key);
	free(line);
	free(text);
	free(file);
	free(missing);
}

static void
test_keys_match(void **state)
{
	char *file = path_in("match"), *text, err[256];
	ssh_key kA, kB, kC, kD, kR;
	char *a = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kA), *b = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kB);
	char *c = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kC), *d = new_pubkey_line(SSH_KEYTYPE_ED25519, 0, &kD);
	char *r = new_pubkey_line(SSH_KEYTYPE_ECDSA_P256, 256, &kR);
	struct listen_keyring ring = { 0 };

	assert_true(asprintf(&text,
		"from=\"127.0.0.1,10.0.0.0/8\" %s\n"		/* v[0] */
		"%s\n"						/* v[1]: anywhere */
		"from=\"192.0.2.1\" %s\n"			/* v[2] */
		"from=\"198.51.100.0/24,2001:db8::/32\" %s\n"	/* v[3]: the same key again */
		"from=\"::1\" %s\n",				/* v[4] */
		c, a, b, b, r) > 0);
	write_file(file, text, strlen(text), 0644);
	assert_int_equal(listen_keys_load(file, &ring, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ring.n, 5);

	assert_ptr_equal(listen_keys_match(&ring, kC, "127.0.0.1"), &ring.v[0]);
	assert_ptr_equal(listen_keys_match(&ring, kC, "10.200.3.4"), &ring.v[0]);
	assert_ptr_equal(listen_keys_match(&ring, kC, "::ffff:127.0.0.1"), &ring.v[0]);
	assert_ptr_equal(listen_keys_match(&ring, kC, "::ffff:10.0.0.9"), &ring.v[0]);
	assert_null(listen_keys_match(&ring, kC, "127.0.0.2"));
	assert_null(listen_keys_match(&ring, kC, "11.0.0.1"));
	assert_null(listen_keys_match(&ring, kC, "::ffff:11.0.0.1"));
	assert_null(listen_keys_match(&ring, kC, "::1"));
	assert_null(listen_keys_match(&ring, kC, "localhost"));
	assert_null(listen_keys_match(&ring, kC, "10.0.0.0/8"));
	assert_null(listen_keys_match(&ring, kC, ""));
	assert_null(listen_keys_match(&ring, kC, NULL));

	/* The text form the listener compares: "type base64", exactly as the line had it. */
	{
		char *ctext = NULL, *b64 = NULL;

		assert_int_equal(ssh_pki_export_pubkey_base64(kC, &b64), SSH_OK);
		assert_true(asprintf(&ctext, "ssh-ed25519 %s", b64) > 0);
		assert_string_equal(ring.v[0].text, ctext);
		assert_ptr_equal(listen_keys_match_text(&ring, ctext, "127.0.0.1"), &ring.v[0]);
		assert_null(listen_keys_match_text(&ring, ctext, "127.0.0.2"));
		ctext[strlen(ctext) - 2] ^= 1;	/* another key */
		assert_null(listen_keys_match_text(&ring, ctext, "127.0.0.1"));
		assert_null(listen_keys_match_text(&ring, "ssh-ed25519", "127.0.0.1"));
		assert_null(listen_keys_match_text(&ring, NULL, "127.0.0.1"));
		ssh_string_free_char(b64);
		free(ctext);
	}

	assert_ptr_equal(listen_keys_match(&ring, kA, "203.0.113.5"), &ring.v[1]);
	assert_ptr_equal(listen_keys_match(&ring, kA, "::1"), &ring.v[1]);

	assert_ptr_equal(listen_keys_match(&ring, kB, "192.0.2.1"), &ring.v[2]);
	assert_ptr_equal(listen_keys_match(&ring, kB, "198.51.100.77"), &ring.v[3]);
	assert_ptr_equal(listen_keys_match(&ring, kB, "2001:db8:1::1"), &ring.v[3]);
	assert_null(listen_keys_match(&ring, kB, "192.0.2.2"));
	assert_null(listen_keys_match(&ring, kB, "2001:db9::1"));

	assert_ptr_equal(listen_keys_match(&ring, kR, "::1"), &ring.v[4]);
	assert_null(listen_keys_match(&ring, kR, "127.0.0.1"));
	/* A key that is in no line. */
	assert_null(listen_keys_match(&ring, kD, "127.0.0.1"));
	assert_null(listen_keys_match(&ring, NULL, "127.0.0.1"));
	assert_null(listen_keys_match(NULL, kA, "127.0.0.1"));

	listen_keys_free(&ring);
	for (ssh_key *k = (ssh_key[]){ kA, kB, kC, kD, kR }, *e = k + 5; k < e; k++)
		ssh_key_free(*k);
	free(a);
	free(b);
	free(c);
	free(d);
	free(r);
	free(text);
	free(file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_key_generate),
		cmocka_unit_test(test_host_key_refused),
		cmocka_unit_test(test_keys_load),
		cmocka_unit_test(test_keys_load_errors),
		cmocka_unit_test(test_keys_match),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
