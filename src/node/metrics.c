/* metrics.c - GET /metrics on the RPC port: Prometheus text format (not
 * built yet: answers 404). */
#include "node/rpc.h"

void metrics_http(struct node *n, struct evhttp_request *req)
{
	(void)n;
	rpc_http_reply(req, 404, "Not Found", NULL, NULL, 0);
}
