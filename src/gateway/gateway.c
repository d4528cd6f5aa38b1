/* gateway.c: the shared gateway object's upstream URLs and its policy holder (gateway.h). */
#include "gateway/gateway.h"

#include <stdio.h>
#include <string.h>

#include "policy/engine.h"

bw_err bw_gateway_set_upstream(struct bw_gateway *gw, const char *base) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n > 1000 || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
        return BW_E_INVALID;
    snprintf(gw->url_chat, sizeof gw->url_chat, "%.*s/chat/completions", (int)n, base);
    snprintf(gw->url_embeddings, sizeof gw->url_embeddings, "%.*s/embeddings", (int)n, base);
    snprintf(gw->url_models, sizeof gw->url_models, "%.*s/models", (int)n, base);
    return BW_OK;
}

void bw_gateway_policy_init(struct bw_gateway *gw) {
    pthread_mutex_init(&gw->policy_mu, NULL);
    gw->policy = NULL;
}

struct bw_policy *bw_gateway_policy_acquire(struct bw_gateway *gw) {
    pthread_mutex_lock(&gw->policy_mu);
    struct bw_policy *p = gw->policy ? bw_policy_ref(gw->policy) : NULL;
    pthread_mutex_unlock(&gw->policy_mu);
    return p;
}

void bw_gateway_policy_swap(struct bw_gateway *gw, struct bw_policy *p) {
    pthread_mutex_lock(&gw->policy_mu);
    struct bw_policy *old = gw->policy;
    gw->policy = p;
    pthread_mutex_unlock(&gw->policy_mu);
    bw_policy_unref(old); /* requests still holding it keep it alive */
}
