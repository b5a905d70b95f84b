/* options.c - the simulator's command line (sim -help, docs/bench.md
 * "sim"). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#include "sim.h"

static void usage(FILE *f)
{
	fprintf(f,
	"Usage: sim [-name=value ...]\n"
	"N dexp2p nodes (store + gossip) in one process over a simulated\n"
	"network with a virtual clock; prints one bench=sim line.\n"
	"  -nodes=N          2..10000 (10)\n"
	"  -tables=T         gossip tables: large (16,384 known ids per peer,\n"
	"                    65,536 pending fetches), small (1,024 and 1,024:\n"
	"                    the binary sim-small, for 100s of packets/s), or\n"
	"                    auto: small above %d nodes (auto)\n"
	"  -topology=T       ring, ring3 (ring + chord to the opposite node),\n"
	"                    line, random (ring + random chords) (ring3)\n"
	"  -graph=FILE       the links from FILE instead: lines \"A B MS\"\n"
	"                    (nodes A and B, 0-based, one-way latency MS;\n"
	"                    # comments); -nodes is the highest index + 1\n"
	"                    (scripts/proxy-bench.sh writes its graph so)\n"
	"  -degree=D         random topology: at least D links per node,\n"
	"                    2..16 (4)\n"
	"  -rate=R           packets created per simulated second, at random\n"
	"                    nodes, 1..200000 (2000)\n"
	"  -seconds=S        load duration, 1..600 (10)\n"
	"  -warmup=S         the load runs S seconds more before the measured\n"
	"                    -seconds: latency figures, copies and control\n"
	"                    count only packets created after it (trees have\n"
	"                    formed, as in a network that has run a while);\n"
	"                    copies_all / control_all cover the whole run (0)\n"
	"  -settle=S         at most S simulated seconds after the load for\n"
	"                    every node to hold every packet, 1..3600 (10)\n"
	"  -size=B           packet bytes, 40..65536 (256)\n"
	"  -latency=MS       one-way link latency, 0..10000 (5); LO-HI: each\n"
	"                    link's latency uniform in [LO, HI] (both ways)\n"
	"  -jitter=MS        extra random delay per send, order kept (0)\n"
	"  -profile=P        wan: -latency=20-150 -jitter=10 unless given;\n"
	"                    lan: the defaults (lan)\n"
	"  -purgetime=S      the nodes' -purgetime, 60..86400 (3600); less\n"
	"                    saves memory (each store keeps a list head per\n"
	"                    second of it) and reconciliation work\n"
	"  -track=K          per-node arrival times and shortest-path bound\n"
	"                    for 1 packet in K, 0 = as many as %u cells\n"
	"                    (nodes x packets) allow (0)\n"
	"  -bandwidth=B      bytes/s per link direction, 0 = unlimited (0)\n"
	"  -uplink=B         bytes/s a node sends on all its links together (0)\n"
	"  -downlink=B       bytes/s a node receives on all its links (0)\n"
	"  -sndbuf=B         a link's output buffer when bandwidth or loss\n"
	"                    limits it: room() keeps what waits behind the\n"
	"                    bottleneck under B, as net.c's NET_OUT_HIGH\n"
	"                    (1048576)\n"
	"  -sndtime=MS       ... and under MS of the rate it drains at\n"
	"                    (at least %u B), a drain at half, as net.c;\n"
	"                    0: B bytes only, a drain at B/4 (%u)\n"
	"  -loss=P           percent of IP packets (1448 B) lost: each delays\n"
	"                    its segment and the link behind it by a TCP\n"
	"                    retransmission, 200 ms + one round trip (0)\n"
	"  -churn=P          percent of the nodes per minute leaving during\n"
	"                    the load, each back %d s later with an empty\n"
	"                    store (0)\n"
	"  -spam=K           node 0 publishes priority-0 packets at K times\n"
	"                    -rate, besides the honest load (0)\n"
	"  -priority=P       honest packets are mined to priority >= P,\n"
	"                    0..12 (0; 2 with -spam)\n"
	"  -catchup=B        scenario: 3 full nodes get the load, node 4\n"
	"                    (linked to each) joins at its end, empty, with a\n"
	"                    downlink of B bytes/s (-nodes is 4)\n"
	"  -partition=T1:T2  split nodes [0,N/2) from [N/2,N) from second T1\n"
	"                    to T2 of the run\n"
	"  -restart=K:T1:T2  node K down from second T1, back at T2 with an\n"
	"                    empty store\n"
	"  -skew=S           node 0's clock is S seconds ahead (negative:\n"
	"                    behind), -3600..3600 (0)\n"
	"  -seed=N           random seed (1)\n"
	"  -mode=M           dissemination to v3 peers: 0 tree, 1 hop (as\n"
	"                    v2), 2 mesh, 3 flood (gossip.h) (0)\n"
	"  -rttlazy=P        a new tree's first packet is not pushed to a\n"
	"                    peer whose RTT is above P %% of the node's median\n"
	"                    (before the trees teach it; gossip_cfg.tree_rtt_pct),\n"
	"                    1-1000, 0 never (the library's default)\n"
	"  -progress=1       a line on stderr every simulated second\n"
	"  -help             this text\n", SIM_LARGE_NODES, SIM_TRACK_CELLS,
	SENDBUF_FLOOR, SENDBUF_TIME_MS, SIM_CHURN_DOWN_S);
}

static int parse_range(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	return parse_int64(s, out) == E_OK && *out >= lo && *out <= hi ? 0 : -1;
}

/* A percentage 0..hi ("1", "0.5") as a share 0..hi/100. */
static int parse_pct(const char *s, double hi, double *out)
{
	char *end;
	double v;

	if (!*s || strchr(s, ' ') || *s == '+' || *s == '-')
		return -1;
	v = strtod(s, &end);
	if (*end || !(v >= 0 && v <= hi))
		return -1;
	*out = v / 100.0;
	return 0;
}

/* "a:b[:c]" into up to n int64 values; 0 when exactly n parsed. */
static int parse_tuple(const char *s, int64_t *v, int n)
{
	char buf[64], *p, *save = NULL;
	int i = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (i == n || parse_int64(p, &v[i]) != E_OK || v[i] < 0)
			return -1;
		i++;
	}
	return i == n ? 0 : -1;
}

/* "MS" or "LO-HI" */
static int parse_latency(const char *s)
{
	const char *dash = strchr(s, '-');
	char buf[32];

	if (!dash)
		return parse_range(s, 0, 10000, &o.latency) ? -1 :
		       (o.latency_hi = o.latency, 0);
	if ((size_t)(dash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(dash - s));
	buf[dash - s] = 0;
	if (parse_range(buf, 0, 10000, &o.latency) ||
	    parse_range(dash + 1, 0, 10000, &o.latency_hi) ||
	    o.latency_hi < o.latency)
		return -1;
	return 0;
}

/* Check a -graph file (every line "A B MS" or a comment, A != B, both
 * below SIM_MAX_NODES, MS 0..10000) and set *count to the highest index
 * + 1.  0, or -1 with a message. */
static int read_graph_nodes(const char *path, int *count)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int max = -1, ln = 0;

	if (!f) {
		fprintf(stderr, "sim: cannot open %s\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		long a, b, ms;
		char extra;

		ln++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == 0)
			continue;
		if (sscanf(line, "%ld %ld %ld %c", &a, &b, &ms, &extra) != 3 ||
		    a < 0 || b < 0 || a >= SIM_MAX_NODES || b >= SIM_MAX_NODES ||
		    a == b || ms < 0 || ms > 10000) {
			fprintf(stderr, "sim: %s line %d: want \"A B MS\"\n", path,
			        ln);
			fclose(f);
			return -1;
		}
		max = (int)(a > max ? a : max);
		max = (int)(b > max ? b : max);
	}
	fclose(f);
	if (max < 1) {
		fprintf(stderr, "sim: %s: no links\n", path);
		return -1;
	}
	*count = max + 1;
	return 0;
}

int parse_args(int argc, char **argv)
{
	bool lat_set = false, jit_set = false, prio_set = false;

	memset(&o, 0, sizeof(o));
	o.nodes = 10;
	o.degree = 4;
	strcpy(o.topology, "ring3");
	o.rate = 2000;
	o.seconds = 10;
	o.settle = 10;
	o.size = 256;
	o.latency = o.latency_hi = 5;
	strcpy(o.profile, "lan");
	strcpy(o.tables, "auto");
	o.purgetime = 3600;
	o.sndbuf = SIM_SNDBUF;
	o.sndtime = SENDBUF_TIME_MS;
	o.seed = 1;
	o.part_t1 = o.restart_node = o.rttlazy = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		int64_t v = 0;
		int bad = 0;

		while (*a == '-')
			a++;
		if (!strcmp(a, "help") || !strcmp(a, "h") || !strcmp(a, "?")) {
			usage(stdout);
			exit(0);
		}
		eq = strchr(a, '=');
		if (!eq) {
			bad = 1;
		} else if (!strncmp(a, "nodes=", 6)) {
			bad = parse_range(eq + 1, 2, SIM_MAX_NODES, &v);
			o.nodes = (int)v;
		} else if (!strncmp(a, "graph=", 6)) {
			bad = !eq[1] || strlen(eq + 1) >= sizeof(o.graph) ||
			      read_graph_nodes(eq + 1, &o.nodes);
			if (!bad) {
				strcpy(o.graph, eq + 1);
				strcpy(o.topology, "file");
			}
		} else if (!strncmp(a, "degree=", 7)) {
			bad = parse_range(eq + 1, 2, SIM_MAX_DEGREE, &v);
			o.degree = (int)v;
		} else if (!strncmp(a, "topology=", 9)) {
			bad = strcmp(eq + 1, "ring") && strcmp(eq + 1, "ring3") &&
			      strcmp(eq + 1, "line") && strcmp(eq + 1, "random");
			if (!bad)
				strcpy(o.topology, eq + 1);
		} else if (!strncmp(a, "rate=", 5)) {
			bad = parse_range(eq + 1, 1, 200000, &o.rate);
		} else if (!strncmp(a, "warmup=", 7)) {
			bad = parse_range(eq + 1, 0, 600, &o.warmup);
		} else if (!strncmp(a, "seconds=", 8)) {
			bad = parse_range(eq + 1, 1, 600, &o.seconds);
		} else if (!strncmp(a, "settle=", 7)) {
			bad = parse_range(eq + 1, 1, 3600, &o.settle);
		} else if (!strncmp(a, "size=", 5)) {
			bad = parse_range(eq + 1, 40, 65536, &o.size);
		} else if (!strncmp(a, "latency=", 8)) {
			bad = parse_latency(eq + 1);
			lat_set = true;
		} else if (!strncmp(a, "jitter=", 7)) {
			bad = parse_range(eq + 1, 0, 10000, &o.jitter);
			jit_set = true;
		} else if (!strncmp(a, "profile=", 8)) {
			bad = strcmp(eq + 1, "wan") && strcmp(eq + 1, "lan");
			if (!bad)
				strcpy(o.profile, eq + 1);
		} else if (!strncmp(a, "tables=", 7)) {
			bad = strcmp(eq + 1, "auto") && strcmp(eq + 1, "large") &&
			      strcmp(eq + 1, "small");
			if (!bad)
				strcpy(o.tables, eq + 1);
		} else if (!strncmp(a, "purgetime=", 10)) {
			bad = parse_range(eq + 1, 60, 86400, &o.purgetime);
		} else if (!strncmp(a, "sndbuf=", 7)) {
			bad = parse_range(eq + 1, 4096, 1 << 30, &o.sndbuf);
		} else if (!strncmp(a, "sndtime=", 8)) {
			bad = parse_range(eq + 1, 0, 10000, &o.sndtime);
		} else if (!strncmp(a, "progress=", 9)) {
			bad = parse_range(eq + 1, 0, 1, &o.progress);
		} else if (!strncmp(a, "track=", 6)) {
			bad = parse_range(eq + 1, 0, SIM_MAX_PACKETS, &o.track);
		} else if (!strncmp(a, "bandwidth=", 10)) {
			bad = parse_range(eq + 1, 0, INT64_MAX / 1000000, &o.bandwidth);
		} else if (!strncmp(a, "uplink=", 7)) {
			bad = parse_range(eq + 1, 0, INT64_MAX / 1000000, &o.uplink);
		} else if (!strncmp(a, "downlink=", 9)) {
			bad = parse_range(eq + 1, 0, INT64_MAX / 1000000, &o.downlink);
		} else if (!strncmp(a, "loss=", 5)) {
			bad = parse_pct(eq + 1, 50, &o.loss);
		} else if (!strncmp(a, "churn=", 6)) {
			bad = parse_pct(eq + 1, 100, &o.churn);
		} else if (!strncmp(a, "spam=", 5)) {
			bad = parse_range(eq + 1, 0, 100, &o.spam);
		} else if (!strncmp(a, "priority=", 9)) {
			bad = parse_range(eq + 1, 0, 12, &o.priority);
			prio_set = true;
		} else if (!strncmp(a, "catchup=", 8)) {
			bad = parse_range(eq + 1, 1000, INT64_MAX / 1000000,
			                  &o.catchup);
		} else if (!strncmp(a, "skew=", 5)) {
			bad = parse_int64(eq + 1, &o.skew) != E_OK ||
			      o.skew < -3600 || o.skew > 3600;
		} else if (!strncmp(a, "mode=", 5)) {
			bad = parse_range(eq + 1, 0, 3, &o.mode);
		} else if (!strncmp(a, "rttlazy=", 8)) {
			bad = parse_range(eq + 1, 0, 1000, &o.rttlazy);
		} else if (!strncmp(a, "seed=", 5)) {
			bad = parse_range(eq + 1, 0, INT64_MAX, &o.seed);
		} else if (!strncmp(a, "partition=", 10)) {
			int64_t t[2];

			bad = parse_tuple(eq + 1, t, 2) || t[0] >= t[1];
			o.part_t1 = t[0];
			o.part_t2 = t[1];
		} else if (!strncmp(a, "restart=", 8)) {
			int64_t t[3];

			bad = parse_tuple(eq + 1, t, 3) || t[1] >= t[2];
			o.restart_node = t[0];
			o.restart_t1 = t[1];
			o.restart_t2 = t[2];
		} else {
			bad = 1;
		}
		if (bad) {
			fprintf(stderr, "sim: bad argument '%s' (sim -help)\n",
			        argv[i]);
			return -1;
		}
	}
	if (o.graph[0] && read_graph_nodes(o.graph, &o.nodes))
		return -1;      /* -graph decides the node count */
	if (o.graph[0] && o.catchup) {
		fprintf(stderr, "sim: -catchup has its own graph\n");
		return -1;
	}
	if (!strcmp(o.profile, "wan")) {
		if (!lat_set) {
			o.latency = 20;
			o.latency_hi = 150;
		}
		if (!jit_set)
			o.jitter = 10;
	}
	if (o.spam && !prio_set)
		o.priority = 2;
	if (o.catchup) {
		if (o.restart_node >= 0 || o.part_t1 >= 0 || o.churn > 0 ||
		    o.spam) {
			fprintf(stderr, "sim: -catchup is a scenario of its own "
			        "(no -restart, -partition, -churn, -spam)\n");
			return -1;
		}
		o.nodes = 4;
		/* the joiner is away for the load, back empty at its end */
		o.restart_node = 3;
		o.restart_t1 = 0;
		o.restart_t2 = o.seconds;
	}
	if (o.restart_node >= o.nodes) {
		fprintf(stderr, "sim: -restart node must be below -nodes\n");
		return -1;
	}
	if (o.warmup && (o.catchup || o.restart_node >= 0 || o.part_t1 >= 0)) {
		fprintf(stderr, "sim: -warmup with -catchup, -restart or "
		        "-partition is not supported\n");
		return -1;
	}
	if ((uint64_t)o.rate * (uint64_t)(o.seconds + o.warmup) *
	    (uint64_t)(1 + o.spam) >
	    SIM_MAX_PACKETS) {
		fprintf(stderr, "sim: rate x seconds (with spam) over %u packets\n",
		        SIM_MAX_PACKETS);
		return -1;
	}
	return 0;
}
