/* SPDX-License-Identifier: MIT */
/*
 * SSH public key fingerprints as OpenSSH prints them (ssh-keygen -l, sshd's
 * "Accepted publickey ... SHA256:..."): "SHA256:" and the unpadded base64
 * of the SHA-256 of the key blob. Shared by whoever names a key in a log or
 * an audit record (vault-sftp, vaultctl, the listener), so that the same
 * key always reads the same. No I/O, no logging.
 */
#ifndef SEALVAULT_KEY_FINGERPRINT_H
#define SEALVAULT_KEY_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

/* "SHA256:" + 43 base64 characters + NUL. */
#define KEY_FINGERPRINT_LEN	50
#define KEY_FINGERPRINT_SIZE	(KEY_FINGERPRINT_LEN + 1)
/* The largest key blob accepted (an RSA 16384 key is about 2 KiB). */
#define KEY_BLOB_MAX		16384

/* fp is "SHA256:" followed by exactly 43 characters of [A-Za-z0-9+/]. */
bool key_fingerprint_valid(const char *fp);

/* The fingerprint of a decoded key blob. 0 or -EIO. */
int key_fingerprint_blob(const void *blob, size_t len, char out[KEY_FINGERPRINT_SIZE]);

/*
 * The fingerprint of a key as authorized_keys and sshd's ExposeAuthInfo
 * write it: TYPE (e.g. "ssh-ed25519") and b64, b64len bytes of padded
 * base64 whose blob must start with TYPE. -EINVAL if it is not such a key;
 * -EOPNOTSUPP for a certificate ("*-cert-v01@openssh.com"), whose sshd
 * fingerprint is that of the key inside, which is not derived here.
 */
int key_fingerprint_base64(const char *type, const char *b64, size_t b64len,
			   char out[KEY_FINGERPRINT_SIZE]);

#endif
