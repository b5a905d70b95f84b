/* fuzz_peerpolicy.c - libFuzzer target for the peer admission policy
 * modules: ban_parse (its output must format and parse back to itself),
 * ban_add/ban_match/ban_offence, the address book fed hostile ADDR
 * batches (peers_book_learn, peers_book_pick: quotas and the share rule
 * must hold), the epoch map shares and evict_select.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ban.h"
#include "proto/evict.h"
#include "proto/peers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bans B;
static struct peers_book PB;
static struct peers_epoch PE;

static void fuzz_ban_text(const uint8_t *d, size_t n)
{
	char s[80], f[80];
	uint8_t ip[16], ip2[16], bits, bits2;

	if (n >= sizeof s)
		n = sizeof s - 1;
	memcpy(s, d, n);
	s[n] = '\0';
	if (ban_parse(s, ip, &bits) != 0)
		return;
	if (bits > 128)
		abort();
	ban_format(f, sizeof f, ip, bits);
	if (ban_parse(f, ip2, &bits2) != 0 || bits2 != bits ||
	    memcmp(ip, ip2, 16) != 0)
		abort();
}

static void fuzz_bans(const uint8_t *d, size_t n)
{
	bans_init(&B, 1, 2);
	for (size_t i = 0; i + 18 <= n; i += 18) {
		uint8_t ip[16], out[16], bits = (uint8_t)(d[i + 16] % 129);
		memcpy(ip, d + i, 16);
		if (d[i + 17] & 1) {
			if (ban_offence(&B, ip, 1000, 60, out, &bits) == 0 &&
			    !ban_match(&B, ip, 1001))
				abort();
		} else if (ban_add(&B, ip, bits, 0, 2000, false) == 0 &&
		           !ban_match(&B, ip, 1999)) {
			abort();
		}
	}
	ban_sweep(&B, 1500);
	ban_sweep(&B, 3000);
	if (B.n)
		abort();
}

static void fuzz_book(const uint8_t *d, size_t n)
{
	static size_t out[1000];
	struct peers_src ps;
	uint8_t src[16] = {0}, ip[16];

	peers_book_init(&PB);
	peers_book_seed(&PB, 5, 6);
	for (size_t i = 0; i + 20 <= n; i += 20) {
		if (d[i] == 0xff) {
			/* a new sender */
			src[15] = d[i + 1];
			src[14] = d[i + 2];
			continue;
		}
		peers_book_src(&PB, src, &ps);
		memcpy(ip, d + i, 16);
		peers_book_learn(&PB, &ps, ip, (uint16_t)(d[i + 16] | 1), 1,
		                 100, d[i + 17]);
		if (ps.n_src > PEERS_BOOK_PER_SRC || PB.n > PEERS_BOOK_MAX)
			abort();
		if (d[i + 18] & 1) {
			struct peer_addr *e = peers_book_find(
				&PB, ip, (uint16_t)(d[i + 16] | 1));
			if (e && (d[i + 19] & 1))
				peers_book_remove(&PB, e);
		}
	}
	size_t k = peers_book_pick(&PB, 200, 0, n, out, 1000);
	for (size_t i = 0; i < k; i++)
		if (out[i] >= PEERS_BOOK_MAX || !PB.a[out[i]].used)
			abort();
}

static void fuzz_epoch_evict(const uint8_t *d, size_t n)
{
	struct evict_cand c[64];
	size_t m = 0;

	peers_epoch_init(&PE, 0);
	PE.per_addr = 3;
	PE.per_net = 5;
	for (size_t i = 0; i + 4 <= n; i += 4) {
		uint8_t ip[16];
		peers_ip4(ip, 0x0a000000u | d[i]);
		int b = peers_epoch_take(&PE, d[i + 1], ip, d[i + 2] & 1, 0);
		if (b >= (int)PEERS_EPOCH_MAX)
			abort();
		if (d[i + 3] & 1)
			peers_epoch_left(&PE, d[i + 1], d[i + 3]);
		if (m < 64) {
			c[m].id = (int)m;
			c[m].netgroup = d[i] & 7;
			c[m].connected_ms = d[i + 1];
			c[m].ping_us = d[i + 2] ? d[i + 2] : UINT64_MAX;
			c[m].last_packet_ms = d[i + 3];
			m++;
		}
	}
	int id = evict_select(c, m);
	if (id >= (int)m || (m <= EVICT_PROTECT_NETGROUP && id >= 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		fuzz_ban_text(data + 1, size - 1);
		break;
	case 1:
		fuzz_bans(data + 1, size - 1);
		break;
	case 2:
		fuzz_book(data + 1, size - 1);
		break;
	default:
		fuzz_epoch_evict(data + 1, size - 1);
		break;
	}
	return 0;
}
