/* fetch.h - asking peers for packets by (timestamp, id) (PROTOCOL.md,
 * message types 0x10-0x13), for DEX_subscribe and DEX_streamsub (API.md
 * 4.9 "Fetching").
 *
 * A request names packets the way a file's locators do: the packet's
 * timestamp and its 32-bit id (API.md A.3).  It goes to peers that answer
 * such requests (protocol version 3 or more, started with -dexp2p=2); a
 * packet that arrives in answer is checked and stored through node_ingest()
 * like any relayed packet, even if this node held and purged it before.
 * The caller learns of arrivals by looking in the store (store_foreach_id)
 * and decides itself how long to wait.  Loop thread only.
 */
#ifndef DEX_FETCH_H
#define DEX_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct node;

struct fetch_key {
	uint32_t timestamp;
	uint32_t id;
};

/* Ask for the packets named by keys[0..count).  Keys already requested
 * recently are not asked again at once; the rest are spread over the
 * answering peers and re-asked of others when a peer has not answered.
 * Returns the number of answering peers asked (0: none connected). */
size_t node_fetch_keys(struct node *n, const struct fetch_key *keys,
                       size_t count);

#endif
