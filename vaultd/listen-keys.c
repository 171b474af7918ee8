/* SPDX-License-Identifier: MIT */
/* vault-listen's host key and the tenants' authorized_keys files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-io.h"
#include "listen-keys.h"

#define HOST_KEY_MAX_FILE	(64 * 1024)

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

/* -ENOENT (err filled too) when there is no key yet. */
static int
load_host_key(const char *path, ssh_key *ret, char *err, size_t errsize)
{
	struct stat st;
	char *text = NULL;
	size_t len;
	ssh_key key = NULL;
	int fd, r;

	/* O_NONBLOCK: a FIFO put there must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			set_err(err, errsize, "host key %s is a symlink; it must be a regular file", path);
		else
			set_err(err, errsize, "cannot open host key %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errsize, "cannot stat host key %s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		set_err(err, errsize, "host key %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		r = -EPERM;
		set_err(err, errsize, "host key %s is owned by uid %u, not by uid %u that runs vault-listen",
			path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		r = -EPERM;
		set_err(err, errsize, "host key %s has mode %04o: group and others must have no access (chmod 600)",
			path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	r = fd_read_all(fd, HOST_KEY_MAX_FILE, &text, &len);
	if (r < 0) {
		set_err(err, errsize, "cannot read host key %s: %s", path, strerror(-r));
		goto out;
	}
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) != SSH_OK) {
		r = -EINVAL;
		set_err(err, errsize, "host key %s is not a private key without passphrase", path);
		goto out;
	}
	if (ssh_key_type(key) != SSH_KEYTYPE_ED25519) {
		r = -EINVAL;
		set_err(err, errsize, "host key %s is a %s key, not Ed25519", path,
			ssh_key_type_to_char(ssh_key_type(key)));
		goto out;
	}
	*ret = key;
	key = NULL;
	r = 0;
out:
	ssh_key_free(key);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	close(fd);
	return r;
}

/* -EEXIST when someone else created path meanwhile. */
static int
generate_host_key(const char *path, ssh_key *ret, char *err, size_t errsize)
{
	char *dir = NULL, *tmp = NULL, *text = NULL, *slash;
	ssh_key key = NULL;
	int fd = -EBADF, dfd, r;

	dir = strdup(path);
	if (dir == NULL || asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		set_err(err, errsize, "out of memory");
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		set_err(err, errsize, "cannot create directory %s for the host key: %s", dir, strerror(-r));
		goto out;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &text) != SSH_OK) {
		r = -EIO;
		set_err(err, errsize, "cannot generate an Ed25519 host key");
		goto out;
	}
	/* mkostemp creates the file 0600 whatever the umask; the key never exists with a wider mode. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_err(err, errsize, "cannot create %s: %s", tmp, strerror(-r));
		goto out;
	}
	r = fd_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(fd) < 0)
		r = -errno;
	else if (r < 0)
		close(fd);
	fd = -EBADF;
	if (r < 0) {
		set_err(err, errsize, "cannot write %s: %s", tmp, strerror(-r));
		unlink(tmp);
		goto out;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		unlink(tmp);
		set_err(err, errsize, "cannot rename %s to %s: %s", tmp, path, strerror(-r));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);	/* the key survives a crash; a failure here is not worth refusing to start */
		close(dfd);
	}
	*ret = key;
	key = NULL;
	r = 0;
out:
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		ssh_string_free_char(text);
	}
	ssh_key_free(key);
	free(tmp);
	free(dir);
	return r;
}

int
listen_host_key(const char *path, ssh_key *ret, bool *ret_generated, char *err, size_t errsize)
{
	ssh_key key = NULL;
	int r;

	if (path == NULL || ret == NULL) {
		set_err(err, errsize, "no host key path");
		return -EINVAL;
	}
	/* Twice: a second listener may create the key between our look and our rename. */
	for (int attempt = 0; attempt < 2; attempt++) {
		r = load_host_key(path, &key, err, errsize);
		if (r == 0) {
			*ret = key;
			if (ret_generated != NULL)
				*ret_generated = false;
			return 0;
		}
		if (r != -ENOENT)
			return r;
		r = generate_host_key(path, &key, err, errsize);
		if (r == 0) {
			*ret = key;
			if (ret_generated != NULL)
				*ret_generated = true;
			return 0;
		}
		if (r != -EEXIST)
			return r;
	}
	return r;
}

static char *
skip_blanks(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * The items of from="...": addresses and prefixes only. sshd would also
 * match host names and patterns; we cannot, so such a key is unusable.
 */
static int
parse_from(const char *value, struct listen_key *k, char *msg, size_t msgsize)
{
	size_t n = 1;
	char item[64];

	if (k->from != NULL) {
		snprintf(msg, msgsize, "more than one from= option");
		return -EINVAL;
	}
	for (const char *c = value; *c != '\0'; c++)
		n += *c == ',';
	k->from = calloc(n, sizeof(*k->from));
	if (k->from == NULL) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	for (const char *p = value;; p++) {
		size_t len = strcspn(p, ",");

		if (len >= sizeof(item) ||
		    (memcpy(item, p, len), item[len] = '\0', policy_parse_addr(item, &k->from[k->n_from]) < 0)) {
			snprintf(msg, msgsize, "from= item \"%.*s\" is not an address or prefix "
				 "(host names, wildcards and negation are not supported)", (int)(len > 64 ? 64 : len), p);
			return -EINVAL;
		}
		k->n_from++;
		p += len;
		if (*p == '\0')
			return 0;
	}
}

static bool
option_is(const char *name, size_t len, const char *what)
{
	return strlen(what) == len && strncasecmp(name, what, len) == 0;
}

/* The options field at *sp; on success *sp points at what follows it. */
static int
parse_options(char **sp, struct listen_key *k, char *msg, size_t msgsize)
{
	static const char *const harmless[] = {
		"restrict", "no-pty", "no-port-forwarding", "no-agent-forwarding",
		"no-X11-forwarding", "no-user-rc",
	};
	char *p = *sp;

	for (;;) {
		const char *name = p;
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
		char *value = NULL;
		bool known = false;
		int r;

		p += len;
		if (len == 0 || (*p != '=' && *p != ',' && *p != ' ' && *p != '\t')) {
			snprintf(msg, msgsize, "not a key line");
			return -EINVAL;
		}
		if (*p == '=') {
			char *w;

			if (p[1] != '"') {
				snprintf(msg, msgsize, "option %.*s: the value must be quoted",
					 (int)(len > 32 ? 32 : len), name);
				return -EINVAL;
			}
			/* Unquote in place; like sshd, only \" is an escape. */
			value = w = p + 2;
			for (p += 2; *p != '"'; p++) {
				if (*p == '\0') {
					snprintf(msg, msgsize, "option %.*s: missing end quote",
						 (int)(len > 32 ? 32 : len), name);
					return -EINVAL;
				}
				if (p[0] == '\\' && p[1] == '"')
					p++;
				*w++ = *p;
			}
			p++;
			*w = '\0';
		}
		if (value != NULL && option_is(name, len, "from")) {
			r = parse_from(value, k, msg, msgsize);
			if (r < 0)
				return r;
			known = true;
		}
		for (size_t i = 0; value == NULL && i < sizeof(harmless) / sizeof(harmless[0]); i++)
			known = known || option_is(name, len, harmless[i]);
		if (!known) {
			snprintf(msg, msgsize, "\"%.*s\" is not a key type or an option vault-listen supports",
				 (int)(len > 32 ? 32 : len), name);
			return -EINVAL;
		}
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			*sp = p;
			return 0;
		}
		snprintf(msg, msgsize, "%s", *p == '\0' ? "no key after the options" : "bad options");
		return -EINVAL;
	}
}

static void
key_clear(struct listen_key *k)
{
	ssh_key_free(k->key);
	free(k->text);
	free(k->from);
	*k = (struct listen_key){ 0 };
}

/* 1: a key in *k; 0: a blank or comment line; -errno: skipped, msg says why. */
static int
parse_line(char *line, struct listen_key *k, char *msg, size_t msgsize)
{
	char first[64], *s = skip_blanks(line), *type, *b64, *canon = NULL;
	enum ssh_keytypes_e t;
	size_t len;
	int r;

	if (*s == '\0' || *s == '#')
		return 0;
	if (strncmp(s, "-----", 5) == 0) {
		snprintf(msg, msgsize, "part of a PEM block (a private key?), not a public key");
		return -EINVAL;
	}
	/* As sshd: a line that does not start with a key type starts with options. */
	len = strcspn(s, " \t");
	if (len >= sizeof(first) || (memcpy(first, s, len), first[len] = '\0',
				     ssh_key_type_from_name(first) == SSH_KEYTYPE_UNKNOWN)) {
		r = parse_options(&s, k, msg, msgsize);
		if (r < 0)
			return r;
		s = skip_blanks(s);
	}
	type = s;
	s += strcspn(s, " \t");
	if (*s != '\0')
		*s++ = '\0';
	b64 = skip_blanks(s);
	b64[strcspn(b64, " \t")] = '\0';	/* the comment that may follow is not needed */

	t = ssh_key_type_from_name(type);
	switch (t) {
	case SSH_KEYTYPE_ED25519:
	case SSH_KEYTYPE_RSA:
	case SSH_KEYTYPE_ECDSA_P256:
	case SSH_KEYTYPE_ECDSA_P384:
	case SSH_KEYTYPE_ECDSA_P521:
		break;
	case SSH_KEYTYPE_UNKNOWN:
		snprintf(msg, msgsize, "unknown key type \"%.40s\"", type);
		return -EINVAL;
	default:
		if (strstr(type, "-cert-") != NULL)
			snprintf(msg, msgsize, "certificates are not supported by vault-listen");
		else if (strncmp(type, "sk-", 3) == 0)
			snprintf(msg, msgsize, "security-key (sk-) keys are not supported by vault-listen");
		else
			snprintf(msg, msgsize, "%s keys are not supported by vault-listen", type);
		return -EINVAL;
	}
	if (*b64 == '\0') {
		snprintf(msg, msgsize, "no key data after the key type");
		return -EINVAL;
	}
	if (ssh_pki_import_pubkey_base64(b64, t, &k->key) != SSH_OK) {
		snprintf(msg, msgsize, "bad %s key data", type);
		return -EINVAL;
	}
	/*
	 * libssh takes the type from the line, not from the key data, and
	 * accepts aliases ("rsa"): only a key that writes back exactly as it
	 * was read is the key the admin meant.
	 */
	if (strcmp(ssh_key_type_to_char(ssh_key_type(k->key)), type) != 0 ||
	    ssh_pki_export_pubkey_base64(k->key, &canon) != SSH_OK || strcmp(canon, b64) != 0) {
		ssh_string_free_char(canon);
		snprintf(msg, msgsize, "the key data does not match the key type %s", type);
		return -EINVAL;
	}
	if (asprintf(&k->text, "%s %s", type, canon) < 0) {
		k->text = NULL;
		ssh_string_free_char(canon);
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	ssh_string_free_char(canon);
	if (listen_key_fingerprint(k->key, k->fingerprint) < 0) {
		snprintf(msg, msgsize, "cannot compute the key's fingerprint");
		return -EINVAL;
	}
	return 1;
}

int
listen_keys_load(const char *path, struct listen_keyring *ret,
		 void (*warn)(void *ctx, unsigned line, const char *msg), void *ctx,
		 char *err, size_t errsize)
{
	struct listen_keyring ring = { 0 };
	size_t cap = 0, len = 0;
	char *text = NULL, *line, *next, msg[256];
	unsigned line_no = 0;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		set_err(err, errsize, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errsize, "cannot stat %s: %s", path, strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		set_err(err, errsize, "%s is not a regular file", path);
	} else {
		r = fd_read_all(fd, LISTEN_KEYS_MAX_FILE, &text, &len);
		if (r == -EFBIG)
			set_err(err, errsize, "%s is larger than %d bytes", path, LISTEN_KEYS_MAX_FILE);
		else if (r < 0)
			set_err(err, errsize, "cannot read %s: %s", path, strerror(-r));
	}
	close(fd);
	if (r < 0)
		return r;

	for (line = text; line < text + len; line = next) {
		char *end = memchr(line, '\n', (size_t)(text + len - line));
		struct listen_key k = { 0 };

		next = end != NULL ? end + 1 : text + len;
		if (end == NULL)
			end = text + len;
		if (end > line && end[-1] == '\r')
			end--;
		*end = '\0';
		line_no++;
		if (strlen(line) != (size_t)(end - line)) {
			r = -EINVAL;
			snprintf(msg, sizeof(msg), "the line contains a NUL byte");
		} else {
			r = parse_line(line, &k, msg, sizeof(msg));
		}
		if (r == 0)
			continue;
		if (r == -ENOMEM) {
			key_clear(&k);
			set_err(err, errsize, "out of memory reading %s", path);
			goto fail;
		}
		if (r < 0) {
			key_clear(&k);
			if (warn != NULL)
				warn(ctx, line_no, msg);
			continue;
		}
		if (ring.n == LISTEN_KEYS_MAX) {
			key_clear(&k);
			r = -E2BIG;
			set_err(err, errsize, "%s holds more than %d keys", path, LISTEN_KEYS_MAX);
			goto fail;
		}
		if (ring.n == cap) {
			size_t ncap = cap == 0 ? 8 : cap * 2;
			struct listen_key *v = reallocarray(ring.v, ncap, sizeof(*v));

			if (v == NULL) {
				key_clear(&k);
				r = -ENOMEM;
				set_err(err, errsize, "out of memory reading %s", path);
				goto fail;
			}
			ring.v = v;
			cap = ncap;
		}
		ring.v[ring.n++] = k;
	}
	free(text);
	*ret = ring;
	return 0;
fail:
	free(text);
	listen_keys_free(&ring);
	return r;
}

const struct listen_key *
listen_keys_match(const struct listen_keyring *ring, const ssh_key pubkey, const char *client_addr)
{
	if (ring == NULL || pubkey == NULL)
		return NULL;
	for (size_t i = 0; i < ring->n; i++) {
		const struct listen_key *k = &ring->v[i];

		/* Same type first: ssh_key_cmp logs a warning for every type mismatch. */
		if (ssh_key_type(k->key) != ssh_key_type(pubkey) ||
		    ssh_key_cmp(k->key, pubkey, SSH_KEY_CMP_PUBLIC) != 0)
			continue;
		/* A from= that refuses the address ends nothing: another line may hold the same key. */
		if (k->n_from == 0 || policy_addr_list_allows(k->from, k->n_from, client_addr))
			return k;
	}
	return NULL;
}

const struct listen_key *
listen_keys_match_text(const struct listen_keyring *ring, const char *text, const char *client_addr)
{
	if (ring == NULL || text == NULL)
		return NULL;
	for (size_t i = 0; i < ring->n; i++) {
		const struct listen_key *k = &ring->v[i];

		if (k->text == NULL || strcmp(k->text, text) != 0)
			continue;
		if (k->n_from == 0 || policy_addr_list_allows(k->from, k->n_from, client_addr))
			return k;
	}
	return NULL;
}

int
listen_key_fingerprint(const ssh_key key, char out[LISTEN_FINGERPRINT_MAX])
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;
	int r = 0;

	if (key == NULL || ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK)
		return -EINVAL;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	if (fp == NULL || strlen(fp) >= LISTEN_FINGERPRINT_MAX)
		r = -EINVAL;
	else
		strcpy(out, fp);
	ssh_string_free_char(fp);
	return r;
}

void
listen_keys_free(struct listen_keyring *ring)
{
	if (ring == NULL)
		return;
	for (size_t i = 0; i < ring->n; i++)
		key_clear(&ring->v[i]);
	free(ring->v);
	*ring = (struct listen_keyring){ 0 };
}
