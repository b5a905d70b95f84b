/* fuzz_store.c - libFuzzer target for the packet store: the input is a
 * program of puts, purges (the clock moving on), evictions under a small
 * cap and lookups, run against the store and a plain array model.  After
 * every purge, and every 64 operations, store_debug_check() must pass and
 * every model packet must be found by hash, id and short id exactly when
 * the model holds it.  Thousands of puts per input reach the table
 * resizes (growth, tombstone sweeps, shrinks) at any point of the program.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXP 6000
#define PURGETIME 20u
#define T0 1700000000u

struct mpk {
	uint8_t hash[32];
	uint32_t id, ts;
	uint8_t live;
};

static struct mpk model[MAXP];

static uint64_t sid(const uint8_t *h)
{
	uint64_t v = 0;

	for (int i = 15; i >= 8; i--)
		v = v << 8 | h[i];
	return v;
}

static void fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_store: %s (%d)\n", what, line);
	abort();
}

static void check(struct store *s, size_t n)
{
	int line = store_debug_check(s);

	if (line)
		fail("store_debug_check", line);
	for (size_t i = 0; i < n; i++) {
		const struct mpk *m = &model[i];

		if (store_has(s, m->hash) != (m->live != 0))
			fail("store_has disagrees with the model", (int)i);
		if (m->live && (!store_get_id(s, m->id) ||
		                !store_get_short(s, sid(m->hash))))
			fail("id / short id lookup", (int)i);
	}
}

/* Evicted packets: the store chose them; re-derive liveness from it. */
static void resync(struct store *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (model[i].live && !store_has(s, model[i].hash))
			model[i].live = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_config cfg = {.purgetime = PURGETIME, .maxmem = 1ULL << 40};
	struct store *s;
	uint32_t now = T0;
	size_t n = 0, ops = 0, i;
	static const char *tags[4] = {"", "a", "b", "KMD"};

	if (size < 1)
		return 0;
	/* first byte: a small cap (evictions) or none */
	if (data[0] & 1)
		cfg.maxmem = 64u * 1024u * (1u + (data[0] >> 1) % 8u);
	s = store_new(&cfg);
	if (!s)
		abort();
	for (i = 1; i < size; i++) {
		uint8_t op = data[i];

		ops++;
		if (op < 0xf0) {
			/* put: several packets per byte so inputs reach resizes */
			for (unsigned k = 0; k < 1u + (op & 3u) * 4u && n < MAXP; k++) {
				uint8_t buf[256];
				struct packet_fields f = {
					.relay = 1, .kind = PACKET_KIND_DATA,
					.timestamp = now - (op >> 4) % PURGETIME,
					.tag_a = (const uint8_t *)tags[(op >> 2) & 3],
					.len_a = strlen(tags[(op >> 2) & 3]),
					.payload = (const uint8_t *)"fz",
					.payload_len = 2, .nonce = (uint32_t)n,
				};
				struct pow_eval pe;
				size_t len = packet_encode(buf, sizeof(buf), &f);
				int rc;

				if (!len)
					abort();
				txpow_eval(buf, len, 0, &pe);
				pe.priority = op % 5;
				rc = store_put(s, buf, len, &pe, now, NULL);
				if (rc == E_OK) {
					memcpy(model[n].hash, pe.hash, 32);
					model[n].id = pe.id;
					model[n].ts = f.timestamp;
					model[n].live = 1;
					n++;
				} else if (rc != E_NOMEM && rc != E_DUP) {
					fail("store_put", rc);
				}
			}
			if (cfg.maxmem != 1ULL << 40)
				resync(s, n);
		} else {
			/* the clock moves 1..16 s on; purge */
			now += 1u + (op & 0x0fu);
			store_purge(s, now);
			for (size_t j = 0; j < n; j++)
				if (model[j].live && model[j].ts + PURGETIME <= now)
					model[j].live = 0;
			check(s, n);
		}
		if (ops % 64 == 0)
			check(s, n);
	}
	check(s, n);
	store_free(s);
	memset(model, 0, sizeof(model));
	return 0;
}
