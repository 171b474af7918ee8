/* SPDX-License-Identifier: MIT */
/* SSH key fingerprints: see key-fingerprint.h. */
#include "key-fingerprint.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool
is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

bool
key_fingerprint_valid(const char *fp)
{
	if (fp == NULL || strncmp(fp, "SHA256:", 7) != 0 || strlen(fp) != KEY_FINGERPRINT_LEN)
		return false;
	for (const char *p = fp + 7; *p != '\0'; p++)
		if (!is_b64(*p))
			return false;
	return true;
}

int
key_fingerprint_blob(const void *blob, size_t len, char out[KEY_FINGERPRINT_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE], enc[48];
	unsigned int mdlen = 0;

	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	/* 32 bytes: 44 characters, the last one the '=' OpenSSH leaves out. */
	if (EVP_EncodeBlock(enc, md, (int)mdlen) != 44)
		return -EIO;
	memcpy(out, "SHA256:", 7);
	memcpy(out + 7, enc, 43);
	out[KEY_FINGERPRINT_LEN] = '\0';
	return 0;
}

static bool
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

int
key_fingerprint_base64(const char *type, const char *b64, size_t b64len, char out[KEY_FINGERPRINT_SIZE])
{
	size_t tlen = type != NULL ? strlen(type) : 0, pad, blen;
	unsigned char *blob;
	int n, r;

	if (tlen == 0 || b64 == NULL || b64len == 0 || b64len % 4 != 0 || b64len / 4 * 3 > KEY_BLOB_MAX)
		return -EINVAL;
	for (size_t i = 0; i < b64len; i++)
		if (!is_b64(b64[i]) && !(b64[i] == '=' && i >= b64len - 2))
			return -EINVAL;
	pad = (b64[b64len - 1] == '=') + (b64[b64len - 2] == '=');
	if (pad == 1 && b64[b64len - 2] == '=')
		return -EINVAL;
	blob = malloc(b64len / 4 * 3);
	if (blob == NULL)
		return -ENOMEM;
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)b64len);
	r = -EINVAL;
	if (n < 0 || (size_t)n < pad)
		goto out;
	blen = (size_t)n - pad;
	/* The wire format: a uint32 length, then the type name. */
	if (blen < 4 + tlen ||
	    ((uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3]) != tlen ||
	    memcmp(blob + 4, type, tlen) != 0)
		goto out;
	r = ends_with(type, "-cert-v01@openssh.com") ? -EOPNOTSUPP : key_fingerprint_blob(blob, blen, out);
out:
	free(blob);
	return r;
}
