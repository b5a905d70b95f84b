/* netbench.c - p2p load generator for the network benchmark
 * (scripts/netbench.sh, DESIGN.md 5).
 *
 * Connects to one dexp2pd as a peer (docs/PROTOCOL.md 2: VERSION / VERACK,
 * services DEXP2P only, so the node runs no reconciliation rounds with it),
 * then sends PACKET frames at a target rate for a bounded duration.
 *
 * Packets: kind Q, no pubkey, tagA "nbx" (or "nbs" for every -sample'th
 * packet, the latency samples), tagB "", an ASCII payload
 *   "nb <run id hex16> <seq> <send us> " padded with '.'
 * so every packet is unique and carries the wall-clock time (CLOCK_REALTIME,
 * microseconds) at which it was handed to send().  The timestamp field is
 * the current second.  With -txpowbits=0 (the default, and what the bench
 * script uses) every hash is valid and priority >= 0, so nothing is mined;
 * with -txpowbits=N > 0 each packet is mined here (2^N hashes on average)
 * and the achievable rate drops accordingly.
 *
 * Pacing: every 1 ms tick the generator sends the packets due by then
 * (rate * elapsed - sent), in one buffer.  Sends are blocking with a 5 s
 * timeout, so when the node stops reading, the generator falls behind and
 * reports the rate it really achieved.  Incoming frames are drained between
 * ticks; PING is answered with PONG, everything else is ignored.
 *
 * Usage: netbench -connect=127.0.0.1:PORT [-rate=2000] [-seconds=10]
 *                 [-size=256] [-sample=100] [-txpowbits=0] [-purgetime=3600]
 *                 [-relay=1]
 * Output (stdout, one line):
 *   netbench_gen sent=.. samples=.. seconds=.. rate_target=.. rate_actual=..
 *   bytes=.. max_behind=.. txpowbits=.. mined_hashes=.. start_ms=.. end_ms=..
 * Exit status 0 on success, 1 on any error (message on stderr).
 *
 * Bounds: duration <= 600 s, rate <= 1,000,000/s, size 64..65536, handshake
 * 10 s, every read/write loop bounded by the clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/txpow.h"
#include "proto/wire.h"

#define NB_MAX_SECONDS 600
#define NB_MAX_RATE 1000000L
#define NB_MIN_SIZE 64
#define NB_MAX_SIZE 65536
#define NB_HANDSHAKE_MS 10000
#define NB_RBUF (WIRE_HDR_LEN + WIRE_MAX_PAYLOAD)
#define NB_MAX_BATCH 20000     /* packets per tick, caps the send buffer */
#define NB_TAG_LEN 3

struct nb_opts {
	char host[64];
	int port;
	long rate;
	int seconds;
	int size;
	int sample;
	int txpowbits;
	long purgetime;
	int relay;
};

struct nb_conn {
	int fd;
	uint8_t *rbuf;
	size_t rlen;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t wall_ms(void)
{
	return wall_us() / 1000u;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return E_PARSE;
	*out = v;
	return E_OK;
}

/* Parse argv into *o.  Returns E_OK or E_PARSE (message printed). */
static int parse_args(int argc, char **argv, struct nb_opts *o)
{
	long v;
	int i;

	memset(o, 0, sizeof(*o));
	o->rate = 2000;
	o->seconds = 10;
	o->size = 256;
	o->sample = 100;
	o->purgetime = 3600;
	o->relay = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');

		while (*a == '-')
			a++;
		if (!eq)
			goto bad;
		eq++;
		if (!strncmp(a, "connect=", 8)) {
			const char *c = strrchr(eq, ':');
			size_t hl;

			if (!c || (hl = (size_t)(c - eq)) == 0 ||
			    hl >= sizeof(o->host))
				goto bad;
			memcpy(o->host, eq, hl);
			o->host[hl] = 0;
			if (parse_long(c + 1, 1, 65535, &v))
				goto bad;
			o->port = (int)v;
		} else if (!strncmp(a, "rate=", 5)) {
			if (parse_long(eq, 1, NB_MAX_RATE, &o->rate))
				goto bad;
		} else if (!strncmp(a, "seconds=", 8)) {
			if (parse_long(eq, 1, NB_MAX_SECONDS, &v))
				goto bad;
			o->seconds = (int)v;
		} else if (!strncmp(a, "size=", 5)) {
			if (parse_long(eq, NB_MIN_SIZE, NB_MAX_SIZE, &v))
				goto bad;
			o->size = (int)v;
		} else if (!strncmp(a, "sample=", 7)) {
			if (parse_long(eq, 1, 1000000, &v))
				goto bad;
			o->sample = (int)v;
		} else if (!strncmp(a, "txpowbits=", 10)) {
			if (parse_long(eq, 0, 16, &v))
				goto bad;
			o->txpowbits = (int)v;
		} else if (!strncmp(a, "purgetime=", 10)) {
			if (parse_long(eq, 10, 86400, &o->purgetime))
				goto bad;
		} else if (!strncmp(a, "relay=", 6)) {
			if (parse_long(eq, 0, 255, &v))
				goto bad;
			o->relay = (int)v;
		} else {
			goto bad;
		}
	}
	if (!o->port) {
		fprintf(stderr, "netbench: -connect=HOST:PORT is required\n");
		return E_PARSE;
	}
	return E_OK;
bad:
	fprintf(stderr, "netbench: bad argument '%s'\n", argv[i]);
	return E_PARSE;
}

/* Write all n bytes (blocking socket with SO_SNDTIMEO).  E_OK or E_IO. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "netbench: send: %s\n", strerror(errno));
			return E_IO;
		}
		p += w;
		n -= (size_t)w;
	}
	return E_OK;
}

/* Read what is available (waiting up to wait_ms for the first byte).
 * Returns E_OK (possibly nothing read) or E_IO on close/error. */
static int read_some(struct nb_conn *c, int wait_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int r = poll(&pfd, 1, wait_ms);
	ssize_t got;

	if (r <= 0)
		return r < 0 && errno != EINTR ? E_IO : E_OK;
	if (c->rlen >= NB_RBUF)
		return E_PROTO;
	got = recv(c->fd, c->rbuf + c->rlen, NB_RBUF - c->rlen, MSG_DONTWAIT);
	if (got == 0) {
		fprintf(stderr, "netbench: node closed the connection\n");
		return E_IO;
	}
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? E_OK : E_IO;
	c->rlen += (size_t)got;
	return E_OK;
}

/* Take one whole frame off the read buffer.  Returns E_OK with *type,
 * *payload (copied into out, at most outcap bytes kept) and *len, E_AGAIN
 * when no whole frame is buffered, or E_PROTO. */
static int next_frame(struct nb_conn *c, uint8_t *type, uint8_t *out,
                      size_t outcap, uint32_t *len)
{
	int e = wire_hdr_decode(c->rbuf, c->rlen, type, len);
	size_t whole;

	if (e != E_OK)
		return e;
	whole = WIRE_HDR_LEN + (size_t)*len;
	if (c->rlen < whole)
		return E_AGAIN;
	memcpy(out, c->rbuf + WIRE_HDR_LEN, *len < outcap ? *len : outcap);
	memmove(c->rbuf, c->rbuf + whole, c->rlen - whole);
	c->rlen -= whole;
	return E_OK;
}

/* Handle buffered frames after the handshake: PING -> PONG, rest ignored. */
static int drain(struct nb_conn *c, struct wbuf *wb)
{
	uint8_t type, small[64];
	uint32_t len;
	int e, k;

	for (k = 0; k < 100000; k++) {
		e = next_frame(c, &type, small, sizeof(small), &len);
		if (e == E_AGAIN)
			return E_OK;
		if (e != E_OK) {
			fprintf(stderr, "netbench: bad frame from node\n");
			return e;
		}
		if (type == WIRE_PING && len == 8) {
			uint64_t nonce;

			if (wire_nonce_decode(small, 8, &nonce) != E_OK)
				return E_PROTO;
			wb_reset(wb);
			wire_nonce_encode(wb, WIRE_PONG, nonce);
			e = write_all(c->fd, wb->p, wb->len);
			if (e != E_OK)
				return e;
		}
	}
	return E_OK;
}

static int nb_connect(const struct nb_opts *o, struct nb_conn *c)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1) {
		fprintf(stderr, "netbench: host must be an IPv4 address\n");
		return E_INVAL;
	}
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return E_IO;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "netbench: connect %s:%d: %s\n", o->host,
		        o->port, strerror(errno));
		return E_IO;
	}
	return E_OK;
}

/* VERSION / VERACK exchange (PROTOCOL.md 2). */
static int handshake(const struct nb_opts *o, struct nb_conn *c,
                     struct wbuf *wb)
{
	struct wire_version v, peer;
	static uint8_t pl[1024];
	uint64_t deadline = mono_ms() + NB_HANDSHAKE_MS;
	int got_version = 0, got_verack = 0, e;
	uint8_t type;
	uint32_t len;

	memset(&v, 0, sizeof(v));
	v.version = WIRE_PROTOCOL_VERSION;
	v.services = WIRE_SVC_DEXP2P;
	v.txpowbits = (uint8_t)o->txpowbits;
	v.purgetime = (uint32_t)o->purgetime;
	v.nonce = ((uint64_t)getpid() << 32) ^ wall_ms() ^ 0x6e6274u;
	v.time = (uint32_t)(wall_ms() / 1000);
	snprintf(v.ua, sizeof(v.ua), "/netbench:0.1/");
	v.ualen = (uint8_t)strlen(v.ua);
	wb_reset(wb);
	wire_version_encode(wb, &v);
	e = write_all(c->fd, wb->p, wb->len);
	if (e != E_OK)
		return e;
	while (!(got_version && got_verack)) {
		if (mono_ms() > deadline) {
			fprintf(stderr, "netbench: handshake timed out\n");
			return E_IO;
		}
		e = next_frame(c, &type, pl, sizeof(pl), &len);
		if (e == E_AGAIN) {
			e = read_some(c, 100);
			if (e != E_OK)
				return e;
			continue;
		}
		if (e != E_OK)
			return e;
		if (type == WIRE_VERSION) {
			if (len > sizeof(pl) ||
			    wire_version_decode(pl, len, &peer) != E_OK) {
				fprintf(stderr, "netbench: bad VERSION\n");
				return E_PROTO;
			}
			if (peer.txpowbits != o->txpowbits ||
			    peer.purgetime != (uint32_t)o->purgetime) {
				fprintf(stderr, "netbench: node has txpowbits %u "
				        "purgetime %u; use -txpowbits=%u "
				        "-purgetime=%u\n", peer.txpowbits,
				        peer.purgetime, peer.txpowbits,
				        peer.purgetime);
				return E_PROTO;
			}
			got_version = 1;
			wb_reset(wb);
			wb_begin(wb, WIRE_VERACK);
			wb_end(wb);
			e = write_all(c->fd, wb->p, wb->len);
			if (e != E_OK)
				return e;
		} else if (type == WIRE_VERACK) {
			got_verack = 1;
		}
	}
	return E_OK;
}

/* Build packet number seq into out (o->size bytes), mining it when
 * txpowbits > 0.  *hashes counts the attempts. */
static void build_packet(const struct nb_opts *o, uint64_t run_id,
                         uint64_t seq, uint8_t *out, uint8_t *payload,
                         uint64_t *hashes)
{
	struct packet_fields f;
	struct pow_eval pe;
	uint64_t us = wall_us();
	size_t d = (size_t)o->size - PACKET_FIXED_LEN - NB_TAG_LEN;
	int sampled = seq % (uint64_t)o->sample == 0;
	int n, k;

	memset(payload, '.', d);
	n = snprintf((char *)payload, d, "nb %016llx %llu %llu ",
	             (unsigned long long)run_id, (unsigned long long)seq,
	             (unsigned long long)us);
	if (n > 0 && (size_t)n < d)
		payload[n] = '.';   /* overwrite snprintf's NUL */
	memset(&f, 0, sizeof(f));
	f.relay = (uint8_t)o->relay;
	f.kind = PACKET_KIND_DATA;
	f.timestamp = (uint32_t)(us / 1000000u);
	f.tag_a = (const uint8_t *)(sampled ? "nbs" : "nbx");
	f.len_a = NB_TAG_LEN;
	f.payload = payload;
	f.payload_len = d;
	f.nonce = 0;
	packet_encode(out, (size_t)o->size, &f);
	if (o->txpowbits == 0)
		return;
	/* bounded: 2^16 bits average 65k tries; give up after 64x that */
	for (k = 0; k < (64 << o->txpowbits); k++) {
		put_le32(out + o->size - 4, (uint32_t)k);
		txpow_eval(out, (size_t)o->size, o->txpowbits, &pe);
		(*hashes)++;
		if (pe.valid && pe.priority >= 0)
			return;
	}
}

int main(int argc, char **argv)
{
	struct nb_opts o;
	struct nb_conn c = { .fd = -1 };
	struct wbuf wb;
	uint8_t *payload = NULL;
	uint64_t run_id, sent = 0, samples = 0, bytes = 0, hashes = 0;
	uint64_t t0, end, start_wall, max_behind = 0;
	int rc = 1, e;

	wb_init(&wb);
	if (parse_args(argc, argv, &o) != E_OK)
		goto out;
	if ((long)o.size - PACKET_FIXED_LEN - NB_TAG_LEN < 64) {
		fprintf(stderr, "netbench: size too small\n");
		goto out;
	}
	c.rbuf = malloc(NB_RBUF);
	payload = malloc((size_t)o.size);
	if (!c.rbuf || !payload)
		goto out;
	run_id = ((uint64_t)getpid() << 40) ^ wall_ms() ^
	         ((uint64_t)mono_ms() << 20);
	if (nb_connect(&o, &c) != E_OK || handshake(&o, &c, &wb) != E_OK)
		goto out;

	t0 = mono_ms();
	start_wall = wall_ms();
	end = t0 + (uint64_t)o.seconds * 1000u;
	for (;;) {
		uint64_t now = mono_ms();
		uint64_t due, batch, i;

		if (now >= end)
			break;
		due = (uint64_t)((double)o.rate * (double)(now - t0) / 1000.0);
		if (due > sent) {
			batch = due - sent;
			if (batch > max_behind)
				max_behind = batch;
			if (batch > NB_MAX_BATCH)
				batch = NB_MAX_BATCH;
			wb_reset(&wb);
			for (i = 0; i < batch; i++) {
				uint8_t *pkt;

				wb_begin(&wb, WIRE_PACKET);
				/* reserve size bytes, then fill them in place */
				wb_bytes(&wb, payload, (size_t)o.size);
				pkt = wb.p + wb.len - (size_t)o.size;
				build_packet(&o, run_id, sent + i, pkt, payload,
				             &hashes);
				wb_end(&wb);
				if ((sent + i) % (uint64_t)o.sample == 0)
					samples++;
			}
			e = write_all(c.fd, wb.p, wb.len);
			if (e != E_OK)
				goto out;
			sent += batch;
			bytes += wb.len;
		}
		e = read_some(&c, 0);
		if (e == E_OK)
			e = drain(&c, &wb);
		if (e != E_OK)
			goto out;
		if (mono_ms() - now < 1) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	{
		double secs = (double)(mono_ms() - t0) / 1000.0;

		printf("netbench_gen sent=%llu samples=%llu seconds=%.3f "
		       "rate_target=%ld rate_actual=%.1f bytes=%llu "
		       "max_behind=%llu txpowbits=%d mined_hashes=%llu "
		       "packet_bytes=%d start_ms=%llu end_ms=%llu\n",
		       (unsigned long long)sent, (unsigned long long)samples,
		       secs, o.rate, secs > 0 ? (double)sent / secs : 0.0,
		       (unsigned long long)bytes,
		       (unsigned long long)max_behind, o.txpowbits,
		       (unsigned long long)hashes, o.size,
		       (unsigned long long)start_wall,
		       (unsigned long long)wall_ms());
		fflush(stdout);
	}
	/* Linger briefly so the node reads everything before we close. */
	{
		uint64_t linger = mono_ms() + 300;

		while (mono_ms() < linger) {
			if (read_some(&c, 50) != E_OK || drain(&c, &wb) != E_OK)
				break;
		}
	}
	rc = 0;
out:
	if (c.fd >= 0)
		close(c.fd);
	free(c.rbuf);
	free(payload);
	wb_fini(&wb);
	return rc;
}
