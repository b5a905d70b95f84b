/* fuzz_pktfetch.c - stateful libFuzzer target for the (timestamp, id)
 * request scheduler (proto/pktfetch.h) and the answering budget.
 *
 * The input is a program: want keys (a window of a small key space, so
 * keys repeat), peers joining and leaving, PKTREPLY / PKTMISS for a
 * request that was sent (or a made-up reqid, from any peer), with or
 * without BUSY and with fuzzer-made key lists, keys becoming held or not,
 * clock steps, ticks, and budget calls.  After every operation
 * pktfetch_debug_check() must pass; every request sent must name 1..128
 * keys, only to a peer that is connected, with no key outstanding twice;
 * at most PKTFETCH_PER_PEER requests per peer at once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/pktfetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYSPACE 4096u
#define PEERS 6

static uint8_t held[KEYSPACE];
static bool up[PEERS];
static struct {
	int peer;
	uint32_t reqid, n;
	struct wire_pktkey k[PKTFETCH_REQ_KEYS];
} last[PEERS][4];
static unsigned nlast[PEERS];

static bool f_have(void *ctx, struct wire_pktkey k)
{
	return held[k.id % KEYSPACE] && k.timestamp == k.id * 3u;
}

static void f_send(void *ctx, int peer, uint32_t reqid,
                   const struct wire_pktkey *keys, uint32_t n)
{
	if (peer < 0 || peer >= PEERS || !up[peer] || n == 0 ||
	    n > PKTFETCH_REQ_KEYS)
		abort();
	unsigned i = nlast[peer]++ % 4;
	last[peer][i].peer = peer;
	last[peer][i].reqid = reqid;
	last[peer][i].n = n;
	memcpy(last[peer][i].k, keys, n * sizeof(*keys));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pktfetch_ops ops = {.ctx = NULL, .have = f_have,
	                           .send = f_send};
	struct pktfetch *pf = pktfetch_new(&ops, 7);
	struct pktserve sv = {0};
	uint64_t now = 1;
	size_t i = 0;

	memset(held, 0, sizeof held);
	memset(up, 0, sizeof up);
	memset(nlast, 0, sizeof nlast);
	while (i + 4 <= size) {
		uint8_t op = data[i], a = data[i + 1];
		uint16_t b = (uint16_t)(data[i + 2] | data[i + 3] << 8);
		i += 4;
		int peer = a % PEERS;
		switch (op % 10) {
		case 0: {                       /* want a window of keys */
			struct wire_pktkey k[300];
			uint32_t n = (uint32_t)(a % 300) + 1;
			for (uint32_t j = 0; j < n; j++) {
				uint32_t id = (b + j) % KEYSPACE;
				k[j].id = id;
				k[j].timestamp = id * 3u;
			}
			if (pktfetch_want(pf, k, n, now) > n)
				abort();
			break;
		}
		case 1:
			if (!up[peer]) {
				up[peer] = true; /* requests may go out at once */
				if (pktfetch_peer_add(pf, peer, now) != E_OK)
					abort();
			}
			break;
		case 2:
			pktfetch_peer_del(pf, peer, now);
			up[peer] = false;
			nlast[peer] = 0;
			break;
		case 3:                         /* answer a request sent */
		case 4: {
			if (!nlast[peer])
				break;
			unsigned r = (unsigned)(b % 4) % (nlast[peer] < 4 ?
			                                  nlast[peer] : 4);
			uint8_t wk[16 * 8];
			uint32_t c = 0;
			for (uint32_t j = 0; j < last[peer][r].n; j++) {
				if ((b >> (j % 16)) & 1)
					held[last[peer][r].k[j].id % KEYSPACE] = 1;
				else if (c < 16) {
					uint32_t ts = last[peer][r].k[j].timestamp;
					uint32_t id = last[peer][r].k[j].id;
					memcpy(wk + c * 8, &ts, 4);
					memcpy(wk + c * 8 + 4, &id, 4);
					c++;
				}
			}
			pktfetch_on_reply(pf, peer, last[peer][r].reqid, now);
			pktfetch_on_miss(pf, peer, last[peer][r].reqid,
			                 op % 10 == 4 ? WIRE_PKTMISS_BUSY : 0, wk,
			                 c, now);
			break;
		}
		case 5: {                       /* made-up answers */
			size_t c = (size - i) / 8;
			if (c > 16)
				c = 16;
			if (a & 1)
				pktfetch_on_reply(pf, peer, b, now);
			else
				pktfetch_on_miss(pf, peer, b, (uint8_t)(a >> 7),
				                 data + i, (uint32_t)c, now);
			break;
		}
		case 6:
			held[b % KEYSPACE] ^= 1;
			break;
		case 7:
			now += b;
			pktfetch_tick(pf, now);
			break;
		case 8:
			now += (uint64_t)b * 1000;
			pktfetch_tick(pf, now);
			break;
		case 9:
			(void)pktserve_request(&sv, b % 2048, now);
			(void)pktserve_bytes(&sv, (size_t)a << 12, b, now);
			break;
		}
		if (pktfetch_debug_check(pf) != 0)
			abort();
		struct pktfetch_stats st;
		pktfetch_get_stats(pf, &st);
		if (st.outstanding > (size_t)PEERS * PKTFETCH_PER_PEER ||
		    st.keys > KEYSPACE)
			abort();
	}
	pktfetch_free(pf);
	return 0;
}
