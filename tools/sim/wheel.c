/* wheel.c - hashed timing wheel (wheel.h). */
#include "wheel.h"

#include <stdlib.h>

#include "core/util.h"

struct slot {
	struct wev *v;
	size_t n, cap;
};

static struct slot *slots;
static size_t total;

void wheel_init(void)
{
	slots = xcalloc(WHEEL_SLOTS, sizeof(*slots));
	total = 0;
}

void wheel_free(void)
{
	if (!slots)
		return;
	for (size_t i = 0; i < WHEEL_SLOTS; i++)
		free(slots[i].v);
	free(slots);
	slots = NULL;
	total = 0;
}

void wheel_add(uint64_t at, uint32_t kind, uint32_t id)
{
	struct slot *s = &slots[at & (WHEEL_SLOTS - 1)];

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct wev){.at = at, .kind = kind, .id = id};
	total++;
}

void wheel_run(uint64_t now, void (*fn)(const struct wev *e))
{
	struct slot *s = &slots[now & (WHEEL_SLOTS - 1)];
	size_t keep = 0;

	/* fn may append to this slot (s->v may move): index, never pointer */
	for (size_t i = 0; i < s->n; i++) {
		struct wev e = s->v[i];

		if (e.at > now) {
			s->v[keep++] = e;    /* a later turn of the wheel */
			continue;
		}
		total--;
		fn(&e);
	}
	s->n = keep;
	/* an emptied slot gives its memory back: 16,384 slots that each kept
	 * the capacity of their busiest millisecond would hold hundreds of MB
	 * at 10,000 nodes */
	if (!keep) {
		free(s->v);
		s->v = NULL;
		s->cap = 0;
	}
}

size_t wheel_count(void)
{
	return total;
}
