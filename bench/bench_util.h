/* bench_util.h - helpers shared by the benchmark programs: a monotonic
 * clock, resident and malloc'd memory, the coin tags used as test data.
 * Header-only: each bench_*.c is its own program. */
#ifndef DEX_BENCH_UTIL_H
#define DEX_BENCH_UTIL_H

#include <malloc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

#endif
