/* webui.c - GET / on the RPC port: the web view of the node (not built yet:
 * answers 405, as before GET / existed). */
#include "node/rpc.h"

void webui_http(struct node *n, struct evhttp_request *req)
{
	(void)n;
	rpc_http_reply(req, 405, "Method Not Allowed", NULL, NULL, 0);
}
