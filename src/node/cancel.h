/* cancel.h - DEX_cancel semantics on every node (API.md 4.6, B.6).
 *
 * The node calls cancel_on_stored() for every newly stored packet (local or
 * received).  If the packet is a valid cancel command (kind X, tagA
 * "cancel", priority >= 7, signature by its pubkey) it is remembered until
 * it expires and applied to the held packets it targets; any packet is also
 * checked against the remembered cancels, so cancels reach packets that
 * arrive after them.
 */
#ifndef DEX_CANCEL_H
#define DEX_CANCEL_H

#include <stddef.h>
#include <stdint.h>

struct node;
struct stored;
struct cancels;

struct cancels *cancels_new(void);
void cancels_free(struct cancels *c);
void cancel_on_stored(struct node *n, struct stored *sp);
/* Number of remembered cancels (tests, stats). */
size_t cancels_count(const struct cancels *c);
/* Forget remembered cancels that expired (now - timestamp >= purgetime). */
void cancels_purge(struct cancels *c, uint32_t now, uint32_t purgetime);

#endif
