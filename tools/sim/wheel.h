/* wheel.h - the simulator's event queue: a hashed timing wheel of 1 ms
 * slots (tools/sim).  An event is (time, kind, id); events of one slot
 * run in the order they were scheduled, so a run is deterministic.  An
 * event due more than WHEEL_SLOTS ms ahead waits in its slot for the
 * wheel to come round to its time. */
#ifndef SIM_WHEEL_H
#define SIM_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define WHEEL_SLOTS 16384u       /* power of two */

struct wev {
	uint64_t at;                 /* ms */
	uint32_t kind;
	uint32_t id;
};

void wheel_init(void);
void wheel_free(void);
/* Schedule (at >= the time being run). */
void wheel_add(uint64_t at, uint32_t kind, uint32_t id);
/* Run every event due at `now` (including those scheduled for `now`
 * while running), calling fn for each; later events of the slot stay. */
void wheel_run(uint64_t now, void (*fn)(const struct wev *e));
/* Events waiting. */
size_t wheel_count(void);

#endif
