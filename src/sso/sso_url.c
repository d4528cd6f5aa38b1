/* sso_url.c: the issuer rule and the redirect URI (sso.h). */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "egress/egress.h"
#include "sso/sso.h"
#include "store/sso.h"
#include "util/text.h"

#define CALLBACK_PATH "/console/sso/callback"

static int loopback_target(const struct bw_egress_target *t) {
    if (t->literal == 4)
        return t->addr[0] == 127;
    if (t->literal == 6) {
        static const uint8_t one[16] = {[15] = 1};
        return memcmp(t->addr, one, 16) == 0;
    }
    return strcmp(t->host, "localhost") == 0;
}

/* Parses url with the guard's URL parser and none of its address rules (an identifier names,
 * it does not connect: the fetches are judged by the guard when they happen). */
static int parse_ident(const char *url, struct bw_egress_target *t, char *why, size_t why_size) {
    static const char *const any[] = {"0.0.0.0/0", "::/0"};
    struct bw_egress_policy *all = NULL;
    char ewhy[BW_EGRESS_WHY_SIZE];
    if (bw_egress_policy_new(any, 2, &all, ewhy, sizeof ewhy) != BW_OK) {
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    bw_err e = bw_egress_check_url_static(all, url, t, ewhy, sizeof ewhy);
    bw_egress_policy_free(all);
    if (e != BW_OK)
        snprintf(why, why_size, "not an http(s) URL: %s", ewhy);
    return e == BW_OK;
}

int bw_sso_issuer_ok(const char *url, char *why, size_t why_size) {
    struct bw_egress_target t;
    size_t n = strlen(url);
    if (n == 0 || n >= BW_SSO_ISSUER_MAX) {
        snprintf(why, why_size, "1..511 bytes");
        return 0;
    }
    /* OIDC Discovery 3 / RFC 8414 2: an issuer has no query or fragment; userinfo would put a
     * credential where every page and log shows the issuer. */
    if (strpbrk(url, "?#@")) {
        snprintf(why, why_size, "no userinfo, query or fragment");
        return 0;
    }
    if (!bw_text_visible(url, n)) {
        snprintf(why, why_size, "printable ASCII without spaces");
        return 0;
    }
    if (!parse_ident(url, &t, why, why_size))
        return 0;
    if (strcmp(t.scheme, "https") != 0 && !loopback_target(&t)) {
        snprintf(why, why_size, "https required (http only for a loopback host)");
        return 0;
    }
    return 1;
}

/* Host header naming a loopback address: "127.x.y.z[:port]", "[::1][:port]", "localhost[:port]".
 * Anything else (a name a client made up, a LAN address) is not trusted as our origin. */
static int loopback_host(const char *h) {
    char url[300];
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    if (!h || !*h || strlen(h) > 260 || strpbrk(h, "/?#@\\ "))
        return 0;
    snprintf(url, sizeof url, "http://%s/", h);
    return parse_ident(url, &t, why, sizeof why) && loopback_target(&t);
}

static int join(const char *origin, char *out, size_t size) {
    size_t n = strlen(origin);
    while (n > 0 && origin[n - 1] == '/')
        n--;
    int w = snprintf(out, size, "%.*s" CALLBACK_PATH, (int)n, origin);
    return w > 0 && (size_t)w < size;
}

int bw_sso_redirect_uri(const struct bw_config *c, struct evhttp_request *req, char *out,
                        size_t size) {
    if (c && c->sso_public_url[0])
        return join(c->sso_public_url, out, size);
    if (c && c->mcp_oauth_public_url[0])
        return join(c->mcp_oauth_public_url, out, size);
    const char *host =
        req ? evhttp_find_header(evhttp_request_get_input_headers(req), "Host") : NULL;
    if (!loopback_host(host))
        return 0;
    char origin[300];
    snprintf(origin, sizeof origin, "http://%s", host);
    return join(origin, out, size);
}
