/* sso_fetch.c: the identity provider's documents and token endpoint, fetched through the egress
 * guard (docs/EGRESS.md): DNS checked before, every address checked again at connect time,
 * redirects never followed, bounded size and time. Runs on check threads only. */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sso/sso_internal.h"
#include "util/codec.h"

static int sink(void *ctx, const char *data, size_t len) {
    return bw_buf_append(ctx, data, len) == BW_OK ? 0 : 1;
}

long sso_form_escape(const char *in, char *out, size_t size) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + (keep ? 1 : 3) >= size)
            return -1;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= size)
        return -1;
    out[o] = 0;
    return (long)o;
}

void sso_random_token(char out[SSO_TOKEN_SIZE]) {
    uint8_t r[32];
    randombytes_buf(r, sizeof r);
    if (bw_b64url_encode(r, sizeof r, out, SSO_TOKEN_SIZE) != BW_OK)
        abort(); /* 32 bytes always fit in 44 */
    sodium_memzero(r, sizeof r);
}

void sso_pkce_challenge(const char *verifier, char out[SSO_TOKEN_SIZE]) {
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const uint8_t *)verifier, strlen(verifier));
    if (bw_b64url_encode(h, sizeof h, out, SSO_TOKEN_SIZE) != BW_OK)
        abort();
}

/* Wipes libcurl's copies of our header values (an Authorization header carries the client
 * secret) before they are freed. */
static void slist_wipe_free(struct curl_slist *l) {
    for (struct curl_slist *i = l; i; i = i->next)
        if (i->data)
            sodium_memzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

/* libcurl's progress callback: non-zero aborts the transfer, so SIGTERM does not wait for a
 * slow IdP up to the total timeout. */
static int stop_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    const struct sso_net *n = arg;
    return n->stop && atomic_load(n->stop);
}

static bw_err perform(CURL *easy, struct bw_egress_conn *conn, long *status, char *why,
                      size_t why_size) {
    CURLcode cr = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    if (cr == CURLE_OK)
        return BW_OK;
    if (conn->blocked) {
        snprintf(why, why_size, "refused by the egress guard: %s", conn->why);
        return BW_E_DENIED;
    }
    snprintf(why, why_size, "%s",
             conn->too_large ? "answer over the size cap" : curl_easy_strerror(cr));
    return BW_E_UNAVAILABLE;
}

bw_err sso_fetch(const struct sso_net *p, const char *url, const char *form, size_t form_len,
                 const char *auth, struct bw_buf *body, long *status, char *why, size_t why_size) {
    struct bw_egress_target *t = malloc(sizeof *t);
    struct bw_egress_conn *conn = malloc(sizeof *conn);
    struct curl_slist *hdrs = NULL;
    CURL *easy = NULL;
    char ewhy[BW_EGRESS_WHY_SIZE] = "";
    bw_err e = BW_E_UNAVAILABLE;
    if (!t || !conn) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    /* The issuer's scheme rule (https, http only on loopback) on the part before any query
     * (an endpoint may carry one: some IdPs put a tenant there). */
    char head[SSO_URL_MAX];
    snprintf(head, sizeof head, "%.*s", (int)strcspn(url, "?"), url);
    if (strlen(url) >= SSO_URL_MAX || strchr(url, '#') ||
        !bw_sso_issuer_ok(head, ewhy, sizeof ewhy)) {
        snprintf(why, why_size, "endpoint: %s", ewhy[0] ? ewhy : "too long or has a fragment");
        e = BW_E_DENIED;
        goto out;
    }
    e = p->stop && atomic_load(p->stop) ? BW_E_UNAVAILABLE
                                        : bw_egress_check_url(p->policy, url, t, ewhy, sizeof ewhy);
    if (e != BW_OK) {
        snprintf(why, why_size, "refused by the egress guard: %s", ewhy);
        e = e == BW_E_UNAVAILABLE ? BW_E_UNAVAILABLE : BW_E_DENIED;
        goto out;
    }
    struct bw_egress_limits lim = {SSO_FETCH_CONNECT_MS, SSO_FETCH_TOTAL_MS, SSO_DOC_MAX};
    easy = curl_easy_init();
    hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (hdrs && form)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
    if (hdrs && auth) {
        char line[1200];
        int n = snprintf(line, sizeof line, "Authorization: %s", auth);
        hdrs = n > 0 && (size_t)n < sizeof line ? curl_slist_append(hdrs, line) : NULL;
        sodium_memzero(line, sizeof line);
    }
    e = BW_E_UNAVAILABLE;
    if (!easy || !hdrs ||
        bw_egress_curl_apply(easy, p->policy, t, &lim, sink, body, conn) != BW_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, stop_progress) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, (void *)p) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        (form && (curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)form_len) != CURLE_OK ||
                  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, form) != CURLE_OK))) {
        snprintf(why, why_size, "cannot set up the request");
        goto out;
    }
    e = perform(easy, conn, status, why, why_size);
out:
    if (easy)
        curl_easy_cleanup(easy);
    slist_wipe_free(hdrs);
    free(t);
    free(conn);
    return e;
}
