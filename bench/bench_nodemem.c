/* bench_nodemem.c - per-packet memory of a running node's packet state:
 * the store plus the gossip engine (src/proto/gossip.c) that indexes every
 * held packet for INV/GETDATA/reconciliation.
 *
 *   bench=nodemem  RSS growth while storing N distinct packets and
 *                  registering each with gossip_on_new (as node_ingest /
 *                  node_add_local do), minus the packets' own bytes, per
 *                  packet.  Also the malloc in-use growth.  No peers and no
 *                  sockets: per-peer state is bounded and not per packet.
 *
 * Packets: 256 bytes, tagA/tagB from 16 coins (256 pairs), a pubkey on one
 * in four, timestamps over 3,000 s, txpowbits 0.
 * Usage: bench_nodemem [npackets [vary]]  (default 1000000; bounded to 4M;
 * "vary": packet lengths 200..327 bytes, mean 263.5, instead of 256).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/gossip.h"

#define PKT_LEN 256u
#define PKT_STRIDE 328u /* room for the longest "vary" packet */
#define NOW 1767225600u
#define PURGETIME 3600u

static int vary; /* argv[2] "vary": L = 200 + i % 128 instead of 256 */

static size_t pkt_len(uint32_t i)
{
	return vary ? 200u + i % 128u : PKT_LEN;
}

static size_t build(uint8_t *out, uint32_t i)
{
	return bench_build_packet(out, pkt_len(i), i, NULL, NOW);
}

static void op_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)peer, (void)buf, (void)len;
}

static void op_send_packet(void *ctx, int peer, const struct stored *sp,
                           uint8_t relay)
{
	(void)ctx, (void)peer, (void)sp, (void)relay;
}

static size_t op_room(void *ctx, int peer)
{
	(void)ctx, (void)peer;
	return 0;
}

static int op_ingest(void *ctx, int peer, const uint8_t *pkt, size_t len,
                     struct stored **out, enum drop_reason *reason)
{
	(void)ctx, (void)peer, (void)pkt, (void)len, (void)out;
	*reason = DROP_NONE;
	return E_PROTO;
}

int main(int argc, char **argv)
{
	uint32_t n = 1000000, i;
	uint8_t *pk;
	struct store_config cfg = {.purgetime = PURGETIME, .maxmem = 1ULL << 40};
	struct gossip_cfg gc = {.purgetime = PURGETIME, .full = true};
	struct gossip_ops ops = {.send = op_send, .send_packet = op_send_packet,
	                         .room = op_room, .ingest = op_ingest};
	struct store *s;
	struct gossip *g;
	long rss0, rss1;
	size_t mal0, mal1, own = 0, stored = 0, bad = 0;

	if (argc > 1)
		n = (uint32_t)strtoul(argv[1], NULL, 10);
	vary = argc > 2 && strcmp(argv[2], "vary") == 0;
	if (n < 1000)
		n = 1000;
	if (n > 4000000)
		n = 4000000;
	pk = malloc((size_t)n * PKT_STRIDE);
	if (!pk)
		return 1;
	for (i = 0; i < n; i++)
		if (build(pk + (size_t)i * PKT_STRIDE, i) != pkt_len(i)) {
			fprintf(stderr, "bench_nodemem: build %u failed\n", i);
			return 1;
		}

	s = store_new(&cfg);
	g = gossip_new(s, &gc, &ops);
	if (!s || !g)
		return 1;
	rss0 = bench_rss_bytes();
	mal0 = bench_malloc_inuse();
	for (i = 0; i < n; i++) {
		const uint8_t *p = pk + (size_t)i * PKT_STRIDE;
		struct packet_view pv;
		struct pow_eval pe;
		struct stored *sp = NULL;

		if (packet_check(p, pkt_len(i), NOW, 0, PURGETIME, &pv, &pe) !=
		        DROP_NONE ||
		    store_put(s, p, pkt_len(i), &pe, NOW, &sp) != E_OK) {
			bad++;
			continue;
		}
		gossip_on_new(g, sp, -1, (uint64_t)NOW * 1000 + i / 1000);
		stored++;
		own += pkt_len(i);
	}
	gossip_tick(g, (uint64_t)NOW * 1000 + n / 1000 + 1);
	rss1 = bench_rss_bytes();
	mal1 = bench_malloc_inuse();
	if (!stored)
		return 1;
	printf("bench=nodemem packets=%zu packet_bytes=%s rejected=%zu "
	       "bytes_per_packet=%.1f malloc_bytes_per_packet=%.1f\n",
	       stored, vary ? "200-327" : "256", bad,
	       ((double)(rss1 - rss0) - (double)own) / (double)stored,
	       ((double)mal1 - (double)mal0 - (double)own) / (double)stored);
	gossip_free(g);
	store_free(s);
	free(pk);
	return 0;
}
