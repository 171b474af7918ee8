/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "handles.h"

void
handles_init(struct handles *t, uint32_t max)
{
	*t = (struct handles){ .max = max };
}

static void
close_slot(struct handle *h)
{
	if (h->kind == HANDLE_UPLOAD && h->fd >= 0)
		upload_abandon(h->fd);
	if (h->dir != NULL)
		closedir(h->dir);
	if (h->fd >= 0)
		close(h->fd);
	if (h->parent_fd >= 0)
		close(h->parent_fd);
	free(h->path);
}

void
handles_release(struct handles *t)
{
	for (uint32_t i = 0; i < t->n_slots; i++)
		if (t->slot[i].kind != HANDLE_FREE)
			close_slot(&t->slot[i]);
	free(t->slot);
	*t = (struct handles){ .max = t->max };
}

struct handle *
handle_new(struct handles *t, enum handle_kind kind)
{
	struct handle *h = NULL;

	if (t->in_use >= t->max)
		return NULL;
	for (uint32_t i = 0; i < t->n_slots; i++) {
		if (t->slot[i].kind == HANDLE_FREE) {
			h = &t->slot[i];
			break;
		}
	}
	if (h == NULL) {
		uint32_t n = t->n_slots ? t->n_slots * 2 : 16;
		struct handle *v;

		if (n > t->max)
			n = t->max;
		v = realloc(t->slot, n * sizeof(*v));
		if (v == NULL)
			return NULL;
		memset(v + t->n_slots, 0, (n - t->n_slots) * sizeof(*v));
		for (uint32_t i = t->n_slots; i < n; i++)
			v[i].generation = 1;
		h = &v[t->n_slots];
		t->slot = v;
		t->n_slots = n;
	}
	*h = (struct handle){
		.kind = kind,
		.generation = h->generation,
		.fd = -1,
		.parent_fd = -1,
	};
	t->in_use++;
	return h;
}

void
handle_free(struct handles *t, struct handle *h)
{
	uint32_t generation = h->generation + 1;

	close_slot(h);
	*h = (struct handle){ .kind = HANDLE_FREE, .generation = generation ? generation : 1 };
	t->in_use--;
}

void
handle_to_wire(const struct handles *t, const struct handle *h, uint8_t out[HANDLE_WIRE_SIZE])
{
	uint32_t idx = (uint32_t)(h - t->slot);

	out[0] = idx >> 24; out[1] = idx >> 16; out[2] = idx >> 8; out[3] = idx;
	out[4] = h->generation >> 24; out[5] = h->generation >> 16;
	out[6] = h->generation >> 8; out[7] = h->generation;
}

struct handle *
handle_from_wire(struct handles *t, const uint8_t *p, size_t n)
{
	uint32_t idx, generation;
	struct handle *h;

	if (n != HANDLE_WIRE_SIZE)
		return NULL;
	idx = peek_u32(p);
	generation = peek_u32(p + 4);
	if (idx >= t->n_slots)
		return NULL;
	h = &t->slot[idx];
	if (h->kind == HANDLE_FREE || h->generation != generation)
		return NULL;
	return h;
}
