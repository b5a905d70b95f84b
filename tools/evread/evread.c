/* evread.c - GET /events reader for the live subscriptions benchmark
 * (scripts/events-bench.sh): holds N subscriber connections on one dexp2pd
 * and, for every `packet` event, takes the wall-clock time at which it was
 * read minus the send time tools/netbench wrote in the payload.
 *
 * The payload of a netbench packet, "nb <run> <seq> <send us> ...", has no
 * final NUL, so the node renders it as hex (API.md C.2): the reader finds
 * "\"payload\":\"6e6220" and decodes the hex that follows.
 *
 * Usage: evread -port=N -auth=<base64 user:pw> -n=<subscribers>
 *               [-query=tagA=nbs&since=now] [-seconds=600]
 * Connects in waves of 40 (below -rpcmaxconnections), waits for every
 * stream's eose, prints "ready" and reads with epoll until stdin closes or
 * -seconds pass, then prints one line:
 *   evread subscribers=.. events=.. samples=.. p50_ms=.. p99_ms=..
 *   first_p50_ms=.. first_p99_ms=.. overflow=..
 * (first_*: per sample, the subscriber that read it first.)
 * Bounds: n <= 20000, at most EV_MAX_LAT latencies kept, every wait
 * bounded by the clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EV_MAX_SUBS 20000
#define EV_WAVE 40
#define EV_MAX_LAT 4000000
#define EV_BUF (1 << 20)
#define EV_READY_MS 30000

struct sub {
	int fd;
	char *buf;
	size_t len;
	int eose;
};

struct lat {
	uint64_t sent_us;
	double ms;
};

static struct lat *lats;
static size_t nlat, nevents, noverflow;

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The send time in a hex payload starting at p ("nb <run> <seq> <us> "). */
static int send_time(const char *p, const char *end, uint64_t *us)
{
	int field = 0;
	uint64_t v = 0;

	for (; p + 1 < end; p += 2) {
		int h = hexval(p[0]), l = hexval(p[1]);
		char c;
		if (h < 0 || l < 0)
			return -1;
		c = (char)(h * 16 + l);
		if (c == ' ') {
			if (++field == 4) {
				*us = v;
				return 0;
			}
			continue;
		}
		if (field == 3) {
			if (c < '0' || c > '9')
				return -1;
			v = v * 10 + (uint64_t)(c - '0');
		}
	}
	return -1;
}

/* Handle the complete events in s->buf; keep the incomplete tail. */
static void consume(struct sub *s, uint64_t now_us)
{
	static const char pay[] = "\"payload\":\"6e6220";
	char *start = s->buf, *end = s->buf + s->len, *ev;

	while ((ev = memmem(start, (size_t)(end - start), "\n\n", 2))) {
		size_t n = (size_t)(ev - start);
		if (memmem(start, n, "event: eose", 11))
			s->eose = 1;
		if (memmem(start, n, "event: overflow", 15))
			noverflow++;
		char *q = memmem(start, n, pay, sizeof pay - 1);
		uint64_t us;
		if (q && send_time(q + sizeof pay - 7, ev, &us) == 0) {
			nevents++;
			if (nlat < EV_MAX_LAT) {
				lats[nlat].sent_us = us;
				lats[nlat].ms = (double)(int64_t)(now_us - us) / 1000.0;
				nlat++;
			}
		}
		start = ev + 2;
	}
	s->len = (size_t)(end - start);
	memmove(s->buf, start, s->len);
}

static int sub_read(struct sub *s)
{
	for (;;) {
		ssize_t k;
		if (s->len == EV_BUF)
			return -1;
		k = recv(s->fd, s->buf + s->len, EV_BUF - s->len, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0)
			return -1;
		s->len += (size_t)k;
		consume(s, wall_us());
	}
}

static int sub_open(struct sub *s, int port, const char *auth,
                    const char *query)
{
	struct sockaddr_in a;
	char req[1024];
	int n;

	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
		return -1;
	n = snprintf(req, sizeof req, "GET /events?%s HTTP/1.0\r\nHost: "
	             "127.0.0.1\r\nAuthorization: Basic %s\r\n\r\n", query,
	             auth);
	if (n < 0 || (size_t)n >= sizeof req ||
	    send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	s->buf = malloc(EV_BUF);
	return s->buf ? 0 : -1;
}

static int cmp_ms(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int cmp_sent(const void *x, const void *y)
{
	const struct lat *a = x, *b = y;
	if (a->sent_us != b->sent_us)
		return a->sent_us < b->sent_us ? -1 : 1;
	return a->ms < b->ms ? -1 : a->ms > b->ms;
}

static double pct(double *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return -1.0;
	qsort(v, n, sizeof *v, cmp_ms);
	k = (size_t)(q / 100.0 * (double)n + 0.5);
	k = k ? k - 1 : 0;
	return v[k < n ? k : n - 1];
}

static const char *opt(int argc, char **argv, const char *name,
                       const char *dflt)
{
	size_t l = strlen(name);

	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], name, l) && argv[i][l] == '=')
			return argv[i] + l + 1;
	return dflt;
}

int main(int argc, char **argv)
{
	int port = atoi(opt(argc, argv, "-port", "0"));
	const char *auth = opt(argc, argv, "-auth", "");
	const char *query = opt(argc, argv, "-query", "tagA=nbs&since=now");
	long n = atol(opt(argc, argv, "-n", "1"));
	long seconds = atol(opt(argc, argv, "-seconds", "600"));
	struct sub *subs;
	int ep;
	uint64_t t_end;

	if (port <= 0 || n < 1 || n > EV_MAX_SUBS || seconds < 1 ||
	    seconds > 3600) {
		fprintf(stderr, "usage: evread -port=N -auth=B64 -n=1..%d "
		        "[-query=..] [-seconds=1..3600]\n", EV_MAX_SUBS);
		return 1;
	}
	subs = calloc((size_t)n, sizeof *subs);
	lats = malloc(EV_MAX_LAT * sizeof *lats);
	ep = epoll_create1(0);
	if (!subs || !lats || ep < 0)
		return 1;
	for (long w = 0; w < n; w += EV_WAVE) {
		long hi = w + EV_WAVE < n ? w + EV_WAVE : n;
		uint64_t dl = mono_ms() + EV_READY_MS;
		for (long i = w; i < hi; i++)
			if (sub_open(&subs[i], port, auth, query) != 0) {
				perror("evread: connect");
				return 1;
			}
		for (long i = w; i < hi; i++) {
			while (!subs[i].eose) {
				struct pollfd pf = { subs[i].fd, POLLIN, 0 };
				if (mono_ms() > dl) {
					fprintf(stderr, "evread: no eose\n");
					return 1;
				}
				if (poll(&pf, 1, 100) > 0 && sub_read(&subs[i]) < 0) {
					fprintf(stderr, "evread: stream closed\n");
					return 1;
				}
			}
			struct epoll_event ev = { .events = EPOLLIN,
			                          .data.u64 = (uint64_t)i };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev) != 0)
				return 1;
		}
	}
	{
		struct epoll_event ev = { .events = EPOLLIN,
		                          .data.u64 = UINT64_MAX };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) != 0)
			return 1;
	}
	nlat = nevents = 0;
	printf("ready\n");
	fflush(stdout);
	t_end = mono_ms() + (uint64_t)seconds * 1000u;
	for (int done = 0; !done && mono_ms() < t_end;) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < k; i++) {
			if (evs[i].data.u64 == UINT64_MAX) {
				char b[64];
				if (read(0, b, sizeof b) <= 0)
					done = 1;
				continue;
			}
			struct sub *s = &subs[evs[i].data.u64];
			if (sub_read(s) < 0) {
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				close(s->fd);
				s->fd = -1;
			}
		}
	}
	/* first reader of each sample */
	qsort(lats, nlat, sizeof *lats, cmp_sent);
	double *all = malloc((nlat + 1) * sizeof *all);
	double *first = malloc((nlat + 1) * sizeof *first);
	size_t nfirst = 0;
	if (!all || !first)
		return 1;
	for (size_t i = 0; i < nlat; i++) {
		all[i] = lats[i].ms;
		if (i == 0 || lats[i].sent_us != lats[i - 1].sent_us)
			first[nfirst++] = lats[i].ms;
	}
	printf("evread subscribers=%ld events=%zu samples=%zu p50_ms=%.2f "
	       "p99_ms=%.2f first_p50_ms=%.2f first_p99_ms=%.2f overflow=%zu\n",
	       n, nevents, nfirst, pct(all, nlat, 50), pct(all, nlat, 99),
	       pct(first, nfirst, 50), pct(first, nfirst, 99), noverflow);
	return 0;
}
