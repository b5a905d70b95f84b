/* treelearn.h - which tree peers a new tree's first packet is pushed to
 * (docs/PROTOCOL.md 5.1).  Pure logic, no I/O, no clock.
 *
 * A creator's first packet used to flood: every tree peer is eager until
 * it prunes the key, so each node received it from about every neighbour
 * (~8 copies on a degree-8 graph).  Yet whether a peer q keeps a node
 * eager in a tree (q's first copy came from us) depends little on the
 * creator and much on where the packet entered the node: a link that is
 * slower than some other path between its ends is on no shortest-path
 * tree, and among the trees whose first copy came from peer P, the peers
 * that took it from us are mostly the same few.  So the node counts, per
 * upstream slot P and peer slot q, the trees whose first packet it pushed
 * to q (pushed) and those in which q did not prune it (kept), and pushes
 * a new tree's first packet only to the peers whose kept/pushed share is
 * not below a threshold or whose count is still too small to tell.  The
 * others get an announcement (INV): if they need it they fetch it and
 * GRAFT, which makes the push eager again.  One new tree in TL_EXPLORE
 * floods as before, so a peer predicted lazy is measured again.
 *
 * Slots are tree peer slots (0..TL_PEERS-1); TL_PEERS as upstream means
 * "no tree peer pushed it" (created here, or entered untagged): those
 * trees are never predicted.
 */
#ifndef DEX_TREELEARN_H
#define DEX_TREELEARN_H

#include <stdbool.h>
#include <stdint.h>

#define TL_PEERS 32u
/* counts are halved when pushed reaches this: the table follows changes
 * in the graph within a few dozen trees */
#define TL_HALVE 64u
/* a peer is predicted lazy only after this many trees pushed to it */
#define TL_MIN 8u
/* ... and when it kept us eager in fewer than TL_KEEP_PCT % of them */
#define TL_KEEP_PCT 3u
/* one new tree in TL_EXPLORE is not predicted (floods as before) */
#define TL_EXPLORE 8u

/* Before anything is learnt: link round-trip times (tl_rtt_lazy).  A
 * shortest-path tree favours fast links, so a peer whose RTT is well above
 * the node's median RTT is less likely to need the first packet from us.
 * Never lazy: a peer of unknown RTT, the TL_RTT_KEEP fastest peers, and a
 * peer within TL_RTT_SLACK_MS of the fastest (equal RTTs, as on one
 * machine, are all eager). */
#ifndef TL_RTT_KEEP
#define TL_RTT_KEEP 2u
#endif
#define TL_RTT_SLACK_MS 10u

struct tlearn {
	uint8_t pushed[TL_PEERS][TL_PEERS];  /* [upstream][peer] */
	uint8_t kept[TL_PEERS][TL_PEERS];
	uint32_t ntrees;                     /* new trees predicted for */
	uint16_t rtt[TL_PEERS];              /* ms per slot, 0 = unknown */
};

void tl_init(struct tlearn *l);
/* A tree whose first packet came from upstream up (TL_PEERS: none) was
 * pushed to the peers in pushed; of those, the peers in lazy have pruned
 * it since.  Counts it. */
void tl_learn(struct tlearn *l, unsigned up, uint32_t pushed, uint32_t lazy);
/* The peers (of those in peers) a new tree's first packet from up should
 * not be pushed to; 0 for an exploring tree, for up == TL_PEERS, and for
 * peers not yet counted TL_MIN times. */
uint32_t tl_predict(struct tlearn *l, unsigned up, uint32_t peers);
/* tl_predict, and of the peers not yet counted TL_MIN times from up,
 * those tl_rtt_lazy(pct) names (pct 0: none). */
uint32_t tl_predict_rtt(struct tlearn *l, unsigned up, uint32_t peers,
                        unsigned pct);
/* Slot s now holds another peer (or none): forget what was counted for it
 * (and its RTT). */
void tl_forget(struct tlearn *l, unsigned s);
/* The round-trip time of the peer in slot s, in ms (0: unknown; clamped
 * to 1..65535 otherwise). */
void tl_set_rtt(struct tlearn *l, unsigned s, uint64_t ms);
/* The peers (of those in peers, up excluded) whose RTT is above pct % of
 * the median RTT of the known ones in peers, except those the TL_RTT_*
 * rules keep eager.  0 when pct is 0 or fewer than TL_RTT_KEEP + 1 RTTs
 * are known. */
uint32_t tl_rtt_lazy(const struct tlearn *l, unsigned up, uint32_t peers,
                     unsigned pct);

#endif
