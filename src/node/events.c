/* events.c - GET /events on the RPC port: Server-Sent Events (not built
 * yet: answers 404). */
#include "node/rpc.h"

void events_http(struct node *n, struct evhttp_request *req)
{
	(void)n;
	rpc_http_reply(req, 404, "Not Found", NULL, NULL, 0);
}
