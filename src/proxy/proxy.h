/* proxy.h: the governed data plane. For every call on /v1/chat/completions, /v1/embeddings and
 * /v1/models: bound the input, identify the caller (auth/), decide (policy/), make the decision
 * receipt durable (ledger/), and only then forward to the upstream (upstream/), stream the
 * answer back, and record an outcome receipt. Any failure before forwarding denies. The widget
 * (/widget/, widget.h) runs the same pipeline. The shared objects are gateway/gateway.h's. */
#ifndef BW_PROXY_PROXY_H
#define BW_PROXY_PROXY_H

#include "gateway/gateway.h"

/* The proxy's per-worker state (its caches) on w; bw_proxy_worker_fini undoes it. */
bw_err bw_proxy_worker_init(struct bw_gw_worker *w) BW_MUST_CHECK;
void bw_proxy_worker_fini(struct bw_gw_worker *w);

/* The routes (gateway.h handlers): POST /v1/chat/completions, POST /v1/embeddings,
 * GET /v1/models, and the widget's /widget/ prefix.
 * Frees req (it always replies, now or later); so do the three below. */
void bw_proxy_handle_chat(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);
void bw_proxy_handle_embeddings(struct bw_gw_worker *w, struct evhttp_request *req,
                                const char *path);
void bw_proxy_handle_models(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);
void bw_proxy_handle_widget(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

#endif
