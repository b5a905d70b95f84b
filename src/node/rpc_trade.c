/* rpc_trade.c - trading and identity methods: DEX_orderbook, DEX_cancel,
 * DEX_anonsend, DEX_setpubkey (API.md 4.5 - 4.8). */
#include <stddef.h>

#include "node/rpc.h"

const struct rpc_method rpc_trade_methods[] = {
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};
