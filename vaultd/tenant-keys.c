/* SPDX-License-Identifier: MIT */
/*
 * A tenant's key file: OpenSSH public keys, one per line. Parsed strictly,
 * because sshd reads it for every login of the tenant: known types only, no
 * key options (the sshd drop-in decides what the tenant may do), a blob
 * that really is a key of its stated type, and never a private key.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "vaultctl-tenant.h"

#define BLOB_MAX	16384

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool
known_type(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i]) == len && memcmp(key_types[i], s, len) == 0)
			return true;
	return false;
}

/* The blob of a base64 key; -EINVAL unless it is well-formed and starts with its type. */
static int
decode_blob(const char *b64, const char *type, unsigned char *out, size_t *ret_len)
{
	size_t len = strlen(b64), pad = 0, tlen = strlen(type);
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > BLOB_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)b64[i]) && b64[i] != '+' && b64[i] != '/' &&
		    !(b64[i] == '=' && i >= len - 2))
			return -EINVAL;
	pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
	if (pad == 1 && b64[len - 2] == '=')
		return -EINVAL;
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -EINVAL;
	*ret_len = (size_t)n - pad;
	/* The wire format: uint32 length, then the type name. */
	if (*ret_len < 4 + tlen ||
	    ((uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3]) != tlen ||
	    memcmp(out + 4, type, tlen) != 0)
		return -EINVAL;
	return 0;
}

/* "SHA256:" + unpadded base64 of the blob's SHA-256, as ssh-keygen -l prints it. */
static int
fingerprint(const unsigned char *blob, size_t len, char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *e;

	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	memcpy(out, "SHA256:", 7);
	EVP_EncodeBlock((unsigned char *)out + 7, md, (int)mdlen);
	e = strchr(out, '=');
	if (e != NULL)
		*e = '\0';
	return 0;
}

static void
key_free(struct tenant_key *k)
{
	free(k->type);
	free(k->blob);
	free(k->comment);
	*k = (struct tenant_key){ 0 };
}

void
tenant_keys_free(struct tenant_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		key_free(&k->v[i]);
	free(k->v);
	*k = (struct tenant_keys){ 0 };
}

ssize_t
tenant_keys_find(const struct tenant_keys *k, const char *blob, const char *fp)
{
	if (fp != NULL && strncmp(fp, "SHA256:", 7) == 0)
		fp += 7;
	for (size_t i = 0; i < k->n; i++)
		if ((blob != NULL && strcmp(k->v[i].blob, blob) == 0) ||
		    (fp != NULL && strcmp(k->v[i].fingerprint + 7, fp) == 0))
			return (ssize_t)i;
	return -1;
}

int
tenant_keys_add(struct tenant_keys *k, const struct tenant_key *key)
{
	struct tenant_key *v, c = { 0 };

	if (k->n >= TENANT_KEYS_MAX)
		return -E2BIG;
	v = realloc(k->v, (k->n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	k->v = v;
	c.type = strdup(key->type);
	c.blob = strdup(key->blob);
	c.comment = strdup(key->comment);
	memcpy(c.fingerprint, key->fingerprint, sizeof(c.fingerprint));
	if (c.type == NULL || c.blob == NULL || c.comment == NULL) {
		key_free(&c);
		return -ENOMEM;
	}
	k->v[k->n++] = c;
	return 0;
}

void
tenant_keys_remove(struct tenant_keys *k, size_t i)
{
	key_free(&k->v[i]);
	memmove(&k->v[i], &k->v[i + 1], (k->n - i - 1) * sizeof(k->v[0]));
	k->n--;
}

/* One line, without its newline. 0 a key in *key, 1 nothing (blank, comment), -EINVAL with err. */
static int
parse_line(char *line, unsigned lineno, struct tenant_key *key, char *err, size_t errsize)
{
	unsigned char blob[BLOB_MAX + 3];
	char *type, *b64, *comment;
	size_t blen;

	for (char *c = line; *c != '\0'; c++)
		if (*c == '\t')
			*c = ' ';
		else if ((unsigned char)*c < ' ' || (unsigned char)*c == 0x7f) {
			snprintf(err, errsize, "line %u: a control character", lineno);
			return -EINVAL;
		}
	type = line + strspn(line, " ");
	if (*type == '\0' || *type == '#')
		return 1;
	b64 = type + strcspn(type, " ");
	if (!known_type(type, (size_t)(b64 - type))) {
		if (strstr(type, " ssh-") != NULL || strstr(type, " ecdsa-") != NULL ||
		    strstr(type, " sk-") != NULL)
			snprintf(err, errsize,
				 "line %u: key options (from=, command=, ...) are not accepted: "
				 "the sshd drop-in sets what the tenant may do",
				 lineno);
		else
			snprintf(err, errsize, "line %u: not an OpenSSH public key of a known type "
				 "(ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)", lineno);
		return -EINVAL;
	}
	if (*b64 != '\0')
		*b64++ = '\0';
	b64 += strspn(b64, " ");
	comment = b64 + strcspn(b64, " ");
	if (*comment != '\0')
		*comment++ = '\0';
	comment += strspn(comment, " ");
	for (size_t n = strlen(comment); n > 0 && comment[n - 1] == ' '; n--)
		comment[n - 1] = '\0';
	if (decode_blob(b64, type, blob, &blen) < 0) {
		snprintf(err, errsize, "line %u: the %s key's data is not valid", lineno, type);
		return -EINVAL;
	}
	*key = (struct tenant_key){ .type = type, .blob = b64, .comment = comment };
	return fingerprint(blob, blen, key->fingerprint);
}

int
tenant_keys_parse(const char *text, size_t len, struct tenant_keys *ret, char *err, size_t errsize)
{
	struct tenant_keys k = { 0 };
	unsigned lineno = 0;
	char *copy, *line, *next;
	int r = 0;

	if (memmem(text, len, "PRIVATE KEY", 11) != NULL ||
	    memmem(text, len, "PuTTY-User-Key-File", 19) != NULL) {
		snprintf(err, errsize,
			 "this is a PRIVATE key: give the public key (the .pub file), "
			 "and keep the private key on the client");
		return -EPERM;
	}
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errsize, "a NUL byte: not a text file");
		return -EINVAL;
	}
	copy = strndup(text, len);
	if (copy == NULL)
		return -ENOMEM;
	for (line = copy; line != NULL && r >= 0; line = next) {
		struct tenant_key key;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line != '\0' && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		r = parse_line(line, ++lineno, &key, err, errsize);
		if (r == 0 && tenant_keys_find(&k, key.blob, NULL) < 0) {
			r = tenant_keys_add(&k, &key);
			if (r == -E2BIG)
				snprintf(err, errsize, "more than %d keys", TENANT_KEYS_MAX);
		}
	}
	free(copy);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errsize, "out of memory");
		tenant_keys_free(&k);
		return r;
	}
	*ret = k;
	return 0;
}

int
tenant_keys_read(const char *path, struct tenant_keys *ret, char *err, size_t errsize)
{
	size_t len;
	char *text;
	int r;

	r = file_read(path, TENANT_KEYFILE_MAX, &text, &len);
	if (r < 0) {
		snprintf(err, errsize, "%s",
			 r == -EFBIG ? "larger than 64 KiB: not a public key file" : strerror(-r));
		return r;
	}
	r = tenant_keys_parse(text, len, ret, err, errsize);
	free(text);
	if (r == 0 && ret->n == 0) {
		snprintf(err, errsize, "no public key in it");
		return -ENODATA;
	}
	return r;
}

char *
tenant_keys_render(const struct tenant_keys *k)
{
	size_t size = 1, o = 0;
	char *s;

	for (size_t i = 0; i < k->n; i++)
		size += strlen(k->v[i].type) + strlen(k->v[i].blob) + strlen(k->v[i].comment) + 3;
	s = malloc(size);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < k->n; i++)
		o += (size_t)snprintf(s + o, size - o, "%s %s%s%s\n", k->v[i].type, k->v[i].blob,
				      k->v[i].comment[0] != '\0' ? " " : "", k->v[i].comment);
	s[o] = '\0';
	return s;
}
