/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate.h"
#include "hash-command.h"
#include "path.h"
#include "policy.h"
#include "status.h"

#define HASH_CHUNK	(64 * 1024)

/* First word of cmd into word (backslash escapes and quotes removed); returns the rest. */
static const char *
next_word(const char *p, char *word, size_t size)
{
	size_t o = 0;
	char quote = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p != '\0' && (quote || (*p != ' ' && *p != '\t')); p++) {
		char c = *p;

		if (!quote && (c == '\'' || c == '"')) {
			quote = c;
			continue;
		}
		if (quote && c == quote) {
			quote = 0;
			continue;
		}
		if (c == '\\' && quote != '\'' && p[1] != '\0')
			c = *++p;
		if (o + 1 < size)
			word[o++] = c;
	}
	word[o] = '\0';
	return p;
}

static const char *
base_name(const char *w)
{
	const char *slash = strrchr(w, '/');

	return slash != NULL ? slash + 1 : w;
}

enum client_command
command_classify(const char *cmd, struct hash_request *ret)
{
	char word[4096], extra[8];
	const char *rest, *base;

	*ret = (struct hash_request){ 0 };
	if (cmd == NULL)
		return COMMAND_SFTP;
	rest = next_word(cmd, word, sizeof(word));
	base = base_name(word);
	if (strcmp(base, "sftp-server") == 0 || strcmp(base, "internal-sftp") == 0 ||
	    strcmp(base, "vault-sftp") == 0)
		return COMMAND_SFTP;
	if (strcmp(word, "md5sum") != 0 && strcmp(word, "sha1sum") != 0)
		return COMMAND_REFUSED;
	ret->sha1 = word[0] == 's';
	rest = next_word(rest, ret->path, sizeof(ret->path));
	(void)next_word(rest, extra, sizeof(extra));
	/* One path at most, and no options: nothing else is offered. */
	if (extra[0] != '\0' || ret->path[0] == '-')
		return COMMAND_REFUSED;
	return COMMAND_HASH;
}

int
hash_prepare(void)
{
	/* Fetch both now: after confinement OpenSSL could not read its configuration. */
	return EVP_md5() != NULL && EVP_sha1() != NULL ? 0 : -EIO;
}

static int
digest_fd(int fd, bool sha1, char hex[2 * EVP_MAX_MD_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char buf[HASH_CHUNK], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int err = 0;
	ssize_t n;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, sha1 ? EVP_sha1() : EVP_md5(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	if (err == 0 && !EVP_DigestFinal_ex(ctx, md, &mdlen))
		err = -EIO;
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; err == 0 && i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[err == 0 ? 2 * mdlen : 0] = '\0';
	return err;
}

int
hash_command(const struct hash_request *req, int root_fd, const struct policy_profile *prof,
	     bool write_only, FILE *out, FILE *err)
{
	const char *tool = req->sha1 ? "sha1sum" : "md5sum";
	char hex[2 * EVP_MAX_MD_SIZE + 1], vpath[VAULT_PATH_MAX];
	struct policy_decision d;
	struct stat st;
	int fd, r;

	if (req->path[0] == '\0') {
		if ((r = digest_fd(STDIN_FILENO, req->sha1, hex)) < 0) {
			fprintf(err, "%s: -: %s\n", tool, status_errno_text(r));
			return 1;
		}
		fprintf(out, "%s  -\n", hex);
		return 0;
	}
	if (path_normalize(req->path, vpath, sizeof(vpath)) < 0) {
		fprintf(err, "%s: path too long\n", tool);
		return 1;
	}
	d = policy_decide(prof, write_only, POLICY_OP_READ, vpath);
	if (path_is_reserved(vpath) || d.action == POLICY_REFUSE) {
		fprintf(err, "%s: %s: %s\n", tool, req->path,
			d.reason != NULL && !path_is_reserved(vpath) ? d.reason : "name reserved by the vault");
		return 1;
	}
	fd = path_open(root_fd, vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -EINVAL;
	}
	if (fd < 0) {
		fprintf(err, "%s: %s: %s\n", tool, req->path,
			fd == -EINVAL ? "not a regular file" : status_errno_text(fd));
		return 1;
	}
	r = digest_fd(fd, req->sha1, hex);
	close(fd);
	if (r < 0) {
		fprintf(err, "%s: %s: %s\n", tool, req->path, status_errno_text(r));
		return 1;
	}
	fprintf(out, "%s  %s\n", hex, req->path);
	return 0;
}
