/* bench_util.h - helpers shared by the benchmark programs: a monotonic
 * clock, resident and malloc'd memory, the coin tags used as test data.
 * Header-only: each bench_*.c is its own program. */
#ifndef DEX_BENCH_UTIL_H
#define DEX_BENCH_UTIL_H

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/packet.h"

static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in bytes (/proc/self/statm), -1 if unreadable. */
static inline long bench_rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

/* Bytes handed out by malloc (small and mmap'd blocks). */
static inline size_t bench_malloc_inuse(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* 16 tags: 256 ordered pairs of test orders. */
static const char *const BENCH_COINS[16] = {
	"BTC", "KMD", "LTC", "ETH", "DOGE", "ZEC", "DASH", "BCH",
	"XMR", "DGB", "RVN", "QTUM", "VRSC", "CHIPS", "PIRATE", "MARTY",
};

/* Test packet i of `len` bytes (out has room for len): tagA/tagB from the
 * 16 coins (tagA replaced by tag_a when not NULL), a pubkey (1 of 1000) on
 * one packet in four, timestamp now - i % 3000, amounts from i, payload
 * 'p' bytes led by i (so packets are distinct), nonce i.  Returns the
 * encoded length (0 if len is too small for the header). */
static inline size_t bench_build_packet(uint8_t *out, size_t len, uint32_t i,
                                        const char *tag_a, uint32_t now)
{
	static uint8_t payload[PACKET_MAX_LEN];
	uint8_t pk[33] = { 0x01, (uint8_t)(i % 1000), (uint8_t)(i % 1000 >> 8) };
	const char *ta = tag_a ? tag_a : BENCH_COINS[i % 16];
	const char *tb = BENCH_COINS[(i / 16) % 16];
	struct packet_fields f = {0};
	size_t hdr;

	f.relay = 2;
	f.kind = PACKET_KIND_DATA;
	f.timestamp = now - (i % 3000);
	f.amount_a = i;
	f.amount_b = (uint64_t)i * 3;
	f.pubkey = i % 4 == 0 ? pk : NULL;
	f.tag_a = (const uint8_t *)ta;
	f.len_a = strlen(ta);
	f.tag_b = (const uint8_t *)tb;
	f.len_b = strlen(tb);
	hdr = PACKET_FIXED_LEN + (f.pubkey ? 33 : 0) + f.len_a + f.len_b;
	if (len <= hdr || len > PACKET_MAX_LEN)
		return 0;
	memset(payload, 'p', len - hdr);
	put_le32(payload, i);
	f.payload = payload;
	f.payload_len = len - hdr;
	f.nonce = i;
	return packet_encode(out, len, &f);
}

#endif
