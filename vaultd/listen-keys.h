/* SPDX-License-Identifier: MIT */
/*
 * vault-listen's keys: its Ed25519 host key, and the OpenSSH
 * authorized_keys files of the tenants (authorized-keys,
 * maintenance-keys). Library code: never logs, returns 0 or -errno, and
 * puts a sentence for the admin into err (problems with single lines go
 * to a warning callback instead).
 */
#ifndef SEALVAULT_LISTEN_KEYS_H
#define SEALVAULT_LISTEN_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

#include "policy.h"

#define LISTEN_KEYS_MAX_FILE	(1024 * 1024)	/* bytes of one authorized_keys file */
#define LISTEN_KEYS_MAX		1024		/* keys of one file */
#define LISTEN_FINGERPRINT_MAX	64		/* "SHA256:" + 43 characters + NUL fits */

/*
 * The Ed25519 host key at path.
 *
 * If path exists it must be a regular file (not a symlink) owned by the
 * effective uid, with no group or other permission bits, holding an
 * Ed25519 private key without passphrase; otherwise an error that says
 * which. If it does not exist, a new key is generated and written with
 * mode 0600 to a temporary file in the same directory, then renamed into
 * place without replacing anything (a concurrent creator wins, and its key
 * is loaded). A missing directory (the last component only) is created
 * with mode 0700.
 *
 * Returns 0 with *ret (free with ssh_key_free(); note that
 * SSH_BIND_OPTIONS_IMPORT_KEY takes ownership of the key it is given) and
 * *ret_generated (true: created now; may be NULL), or -errno with err
 * filled. Nothing is written to *ret on failure.
 */
int listen_host_key(const char *path, ssh_key *ret, bool *ret_generated, char *err, size_t errsize);

struct listen_key {
	ssh_key key;				/* public key */
	char *text;				/* "type base64", canonical (what libssh exports) */
	char fingerprint[LISTEN_FINGERPRINT_MAX];	/* "SHA256:...", as ssh-keygen -l prints it */
	struct policy_addr *from;		/* from="..." of the line */
	size_t n_from;				/* 0: any address */
};

struct listen_keyring {
	struct listen_key *v;
	size_t n;
};

/*
 * Reads the OpenSSH authorized_keys file at path (a regular file, at most
 * LISTEN_KEYS_MAX_FILE bytes, at most LISTEN_KEYS_MAX keys).
 *
 * Each line is blank, a #-comment, or [options] type base64 [comment].
 * Of the options (names case-insensitive, as sshd):
 *   from="a,b,c"  each item an address or a CIDR prefix (policy_parse_addr);
 *                 a host name, wildcard or negation (!) makes the key unusable
 *   restrict, no-pty, no-port-forwarding, no-agent-forwarding,
 *   no-X11-forwarding, no-user-rc  accepted: the vault refuses those anyway
 *   anything else (command=, permitopen=, environment=, cert-authority,
 *   principals=, tunnel=, expiry-time=, no-touch-required, ...)  the key is
 *                 skipped: the listener cannot honour it, so it fails closed.
 * Keys of types ssh-ed25519, ssh-rsa and ecdsa-sha2-nistp256/384/521 are
 * used. Skipped as well: certificates, DSA and security-key (sk-) keys
 * (libssh 0.10 does not check the user-presence flag sshd requires), an
 * unknown type, a type that differs from the one inside the key, base64
 * that does not round-trip, a private key, a line with a NUL byte.
 * Every skipped line is reported once through warn(ctx, line_no, message)
 * (warn may be NULL).
 *
 * Returns 0 with *ret filled (n may be 0; free with listen_keys_free()),
 * or -errno with err filled for a file that cannot be read, is not a
 * regular file, is too big (-EFBIG) or holds too many keys (-E2BIG);
 * *ret is untouched then.
 */
int listen_keys_load(const char *path, struct listen_keyring *ret,
		     void (*warn)(void *ctx, unsigned line, const char *msg), void *ctx,
		     char *err, size_t errsize);

/*
 * The key of ring equal to pubkey (its public part) whose from= allows
 * client_addr, a numeric address as getnameinfo(NI_NUMERICHOST) gives it
 * (an IPv4-mapped IPv6 address counts as IPv4). NULL: none.
 */
const struct listen_key *listen_keys_match(const struct listen_keyring *ring, const ssh_key pubkey,
					   const char *client_addr);

/*
 * The same match for a key given as its canonical text "type base64" (as
 * ssh_key_type_to_char() and ssh_pki_export_pubkey_base64() write it): a
 * string compare, so that vault-listen's privileged listener never parses
 * key data a connection process sends it.
 */
const struct listen_key *listen_keys_match_text(const struct listen_keyring *ring, const char *text,
						const char *client_addr);

/* Fingerprint of any key, as ssh-keygen -l prints it: "SHA256:<unpadded base64>". 0 or -EINVAL. */
int listen_key_fingerprint(const ssh_key key, char out[LISTEN_FINGERPRINT_MAX]);

/* Frees the keys and empties ring (which may be half-built or already empty). */
void listen_keys_free(struct listen_keyring *ring);

#endif
