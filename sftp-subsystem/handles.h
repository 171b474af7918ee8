/* SPDX-License-Identifier: MIT */
/*
 * Open handles of one session. A handle on the wire is 8 bytes: slot index
 * and generation, so a handle that was closed (or never given out) is
 * recognised as invalid even when its slot is in use again.
 */
#ifndef SEALVAULT_HANDLES_H
#define SEALVAULT_HANDLES_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"
#include "upload.h"

#define HANDLE_WIRE_SIZE 8

enum handle_kind {
	HANDLE_FREE,
	HANDLE_FILE,	/* an existing file, opened for reading */
	HANDLE_DIR,
	HANDLE_UPLOAD,	/* a partial file, published at CLOSE */
};

struct handle {
	enum handle_kind kind;
	uint32_t generation;
	int fd;			/* file, or the partial file of an upload */
	DIR *dir;
	char *path;		/* vault path; for uploads the target */
	/* uploads only */
	int parent_fd;		/* O_PATH of the target's directory */
	const char *target_name;	/* points into path */
	char part_name[UPLOAD_PART_NAME_SIZE];
	mode_t mode;		/* permissions the published file gets */
	bool readable;		/* opened with READ as well */
	bool attic_replace;	/* an upload that replaces a versioned file: old one to the attic */
	enum policy_class cls;	/* of the path at OPEN */
	const struct policy_rule *rule;
	bool existed;		/* the name existed at OPEN: a re-upload */
	bool failed;		/* a write failed: never publish */
	uint64_t bytes_read, bytes_written;
	uint64_t size;		/* the file's size as far as this handle knows (quota) */
	bool append;		/* O_APPEND: every write grows the file */
};

struct handles {
	struct handle *slot;
	uint32_t n_slots;	/* allocated */
	uint32_t max;
	uint32_t in_use;
};

void handles_init(struct handles *t, uint32_t max);
/* Closes every fd; uploads still open are abandoned (left read-only, unpublished). */
void handles_release(struct handles *t);

/* A free slot, initialised (fds -1), or NULL when the limit is reached (or out of memory). */
struct handle *handle_new(struct handles *t, enum handle_kind kind);
/* Closes the handle's descriptors and frees the slot. */
void handle_free(struct handles *t, struct handle *h);

void handle_to_wire(const struct handles *t, const struct handle *h, uint8_t out[HANDLE_WIRE_SIZE]);
/* NULL for a handle that is unknown, stale, or of the wrong length. */
struct handle *handle_from_wire(struct handles *t, const uint8_t *p, size_t n);

#endif
