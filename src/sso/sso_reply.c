/* sso_reply.c: what the browser gets from /console/sso/: error pages (HTML for a browser, JSON
 * otherwise, always with the reason code), the cookies, and strict query parameters. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "http/reply.h"
#include "sso/sso_flow.h"
#include "util/text.h"

int sso_request_tls(struct evhttp_request *req) {
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    return bev && bufferevent_openssl_get_ssl(bev) != NULL;
}

static void text_escaped(struct evbuffer *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '"':
            evbuffer_add(b, "&quot;", 6);
            break;
        case '\'':
            evbuffer_add(b, "&#39;", 5);
            break;
        default:
            if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
                evbuffer_add(b, s, 1);
            break;
        }
    }
}

static void no_store(struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

void sso_clear_state_cookie(struct evhttp_request *req) {
    char v[160];
    snprintf(v, sizeof v, SSO_COOKIE "=; Path=/console/sso/; Max-Age=0; HttpOnly; SameSite=Lax%s",
             sso_request_tls(req) ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", v);
}

void sso_fail(struct evhttp_request *req, int status, const char *reason, const char *detail) {
    no_store(req);
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    if (!accept || !strstr(accept, "text/html")) {
        bw_http_reply_error(req, status, reason, detail, NULL, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        bw_http_reply_error(req, status, reason, detail, NULL, NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    /* no script, no style, no frame: the page is text */
    evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<title>Sign-in failed</title></head><body><main>"
                           "<h1>Sign-in failed</h1><p>Reason code: <code data-testid=\"sso-"
                           "reason\">");
    text_escaped(b, reason);
    evbuffer_add_printf(b, "</code></p><p>");
    text_escaped(b, detail);
    evbuffer_add_printf(b, "</p><p><a href=\"/console/\">Back to the console</a></p>"
                           "</main></body></html>\n");
    evhttp_send_reply(req, status, "Error", b);
    evbuffer_free(b);
}

void sso_redirect(struct evhttp_request *req, const char *location) {
    no_store(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    evhttp_send_reply(req, 302, "Found", NULL);
}

int sso_param(struct evhttp_request *req, const char *name, char *out, size_t size) {
    out[0] = 0;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    if (!q || evhttp_parse_query_str(q, &params) != 0)
        return 0;
    int n = 0, ok = 1;
    for (struct evkeyval *kv = params.tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcmp(kv->key, name) != 0)
            continue;
        /* one value, printable ASCII, fits: a repeated or odd parameter is refused, not
         * picked from (parameter pollution) */
        if (++n > 1 || strlen(kv->value) >= size || !bw_text_visible(kv->value, strlen(kv->value)))
            ok = 0;
        if (ok)
            snprintf(out, size, "%s", kv->value);
    }
    evhttp_clear_headers(&params);
    if (n == 0)
        return 0;
    if (!ok)
        out[0] = 0;
    return ok ? 1 : -1;
}

int sso_cookie(struct evhttp_request *req, const char *name, char *out, size_t size) {
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    size_t nl = strlen(name);
    int found = 0;
    out[0] = 0;
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t v = len - nl - 1;
            if (found++ || v == 0 || v >= size)
                return 0; /* two cookies of our name: neither is trusted */
            memcpy(out, p + nl + 1, v);
            out[v] = 0;
        }
        p += len;
    }
    return found == 1;
}
