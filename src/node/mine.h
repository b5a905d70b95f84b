/* mine.h - create a packet on this node: build header and payload form,
 * mine it on a worker thread, store it and hand it to the network.
 *
 * Used by every RPC method that creates packets (DEX_broadcast, DEX_cancel,
 * DEX_anonsend, the file methods).  The request is copied; the done callback
 * runs on the event-loop thread.
 */
#ifndef DEX_MINE_H
#define DEX_MINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

struct node;
struct stored;

enum mine_form {
	MINE_PLAIN = 0,  /* payload = plaintext */
	MINE_SIGNED,     /* spk || sig || P, pubkey33 = this node */
	MINE_INBOX,      /* spk || nonce || box, pubkey33 = addressee */
	MINE_ANON,       /* sealed box to `dest`, no pubkey on the packet */
};

struct mine_req {
	uint8_t kind;                 /* PACKET_KIND_* */
	enum mine_form form;
	uint8_t tag_a[PACKET_TAG_MAX]; size_t len_a;
	uint8_t tag_b[PACKET_TAG_MAX]; size_t len_b;
	uint8_t pubkey[PACKET_PUBKEY_LEN]; int has_pubkey;
	uint8_t dest[32];             /* MINE_ANON addressee key */
	uint64_t amount_a, amount_b;
	const uint8_t *plain; size_t plain_len; /* copied by mine_submit */
	int priority;                 /* requested */
};

/* sp is the stored packet on success (valid only during the callback);
 * err is E_OK, E_CANCELLED (shutdown), E_TOOBIG or another error. */
typedef void (*mine_done_cb)(struct node *n, struct stored *sp, int err,
                             void *arg);

/* Packet length the request will produce (for the "packet too large"
 * check before mining). */
size_t mine_packet_len(const struct mine_req *req);

/* Queue the request.  E_OK: done is called later exactly once.  Error
 * (E_TOOBIG, E_NOMEM when the worker queue is full): done is not called. */
int mine_submit(struct node *n, const struct mine_req *req,
                mine_done_cb done, void *arg);

#endif
