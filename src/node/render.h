/* render.h - the packet object of API.md 3.7, as every DEX method shows a
 * held packet (DEX_broadcast, DEX_get, DEX_list, DEX_cancel,
 * DEX_anonsend).
 */
#ifndef DEX_RENDER_H
#define DEX_RENDER_H

#include <jansson.h>

struct node;
struct stored;

/* The packet object of sp as this node sees it (keys in the order of
 * API.md 3.7; decrypted/anonmsg/error per 3.6 and Appendix B).  Uses and
 * sets sp->vstate so listing many signed packets verifies each signature
 * once.  Returns a new reference, never NULL. */
json_t *render_packet(struct node *n, struct stored *sp);

/* The verification state of sp as this node sees it (enum store_vstate:
 * VSTATE_PLAIN, VSTATE_OK, VSTATE_WRONG or VSTATE_OTHER), worked out once
 * and memoised in sp->vstate as render_packet() does.  Loop thread. */
int render_vstate(struct node *n, struct stored *sp);

#endif
