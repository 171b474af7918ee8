/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the whole engine, packet decoder and every handler.
 * The input is fed to a fresh session (after a valid INIT, so that the
 * handlers are reached) in chunks whose sizes come from the input itself,
 * which exercises the framing across reads. The root is a scratch directory
 * made once per process; what the inputs create there stays for later ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int root_fd = -1;

static int
scratch_root(void)
{
	char dir[] = "/tmp/sealvault-fuzz-XXXXXX";

	if (root_fd >= 0)
		return root_fd;
	if (mkdtemp(dir) == NULL)
		abort();
	root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		abort();
	return root_fd;
}

static void
drain(struct sftp_session *s)
{
	size_t len;

	for (int i = 0; i < 64; i++) {
		(void)sftp_session_output(s, &len);
		if (len == 0)
			return;
		sftp_session_output_done(s, len);
		if (sftp_session_process(s) != 0)
			return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t init[] = { 0, 0, 0, 5, 1, 0, 0, 0, 3 };
	struct sftp_session_config cfg = { .root_fd = scratch_root(), .max_handles = 64 };
	struct sftp_session *s;
	size_t off = 0;

	if (sftp_session_new(&cfg, NULL, &s) != 0)
		abort();
	if (sftp_session_feed(s, init, sizeof(init)) < 0)
		abort();
	drain(s);
	/* The first byte of each round picks the chunk size, the rest is fed. */
	while (off < size) {
		size_t chunk = (size_t)data[off++] * 61 + 1;
		ssize_t taken;

		if (chunk > size - off)
			chunk = size - off;
		while (chunk > 0) {
			taken = sftp_session_feed(s, data + off, chunk);
			if (taken < 0)
				goto out;
			drain(s);
			off += (size_t)taken;
			chunk -= (size_t)taken;
			if (taken == 0 && sftp_session_input_room(s) == 0)
				goto out;	/* cannot happen with a drained output */
		}
	}
out:
	sftp_session_free(s);
	return 0;
}
