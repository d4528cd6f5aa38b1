/* sso_idp.c: talking to the org's identity provider: discovery (OpenID Connect Discovery 1.0),
 * the code exchange (RFC 6749 4.1.3 with PKCE, RFC 7636 4.5) and the JWKS, each one request
 * through sso_fetch. Runs on check threads only. Nothing here logs: the caller reports `why`,
 * which never holds a code, token or secret. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sso/sso_internal.h"
#include "util/codec.h"
#include "util/json.h"

static bw_err get_json(const struct sso_net *p, const char *url, const char *form, size_t form_len,
                       const char *auth, json_t **out, long *status, char *why, size_t why_size) {
    struct bw_buf body;
    bw_buf_init(&body, SSO_DOC_MAX);
    bw_err e = sso_fetch(p, url, form, form_len, auth, &body, status, why, why_size);
    char jwhy[96];
    if (e == BW_OK &&
        bw_json_parse((const char *)body.ptr, body.len, 8, out, jwhy, sizeof jwhy) != BW_OK) {
        snprintf(why, why_size, "the answer (HTTP %ld) is not one JSON object", *status);
        e = BW_E_UNAVAILABLE;
    }
    if (body.ptr)
        sodium_memzero(body.ptr, body.len); /* a token response holds tokens */
    bw_buf_cleanup(&body);
    return e;
}

static int copy_endpoint(const json_t *doc, const char *name, char out[SSO_URL_MAX], char *why,
                         size_t why_size) {
    const char *s = json_string_value(json_object_get(doc, name));
    if (!s || !*s || strlen(s) >= SSO_URL_MAX) {
        snprintf(why, why_size, "discovery: %s missing or too long", name);
        return 0;
    }
    memcpy(out, s, strlen(s) + 1);
    return 1;
}

/* Discovery 3: token_endpoint_auth_methods_supported defaults to client_secret_basic. */
static int pick_auth(const json_t *doc, int *post) {
    const json_t *m = json_object_get(doc, "token_endpoint_auth_methods_supported");
    if (!m) {
        *post = 0;
        return 1;
    }
    int basic = 0, form = 0;
    for (size_t i = 0; json_is_array(m) && i < json_array_size(m) && i < 32; i++) {
        const char *s = json_string_value(json_array_get(m, i));
        basic |= s && strcmp(s, "client_secret_basic") == 0;
        form |= s && strcmp(s, "client_secret_post") == 0;
    }
    *post = !basic;
    return basic || form;
}

bw_err sso_discover(const struct sso_net *p, const char *issuer, struct sso_meta *out, char *why,
                    size_t why_size) {
    char url[SSO_URL_MAX];
    size_t n = strlen(issuer);
    while (n > 0 && issuer[n - 1] == '/') /* Discovery 4.1: remove a terminating "/" first */
        n--;
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n, issuer);
    json_t *doc = NULL;
    long status = 0;
    BW_TRY(get_json(p, url, NULL, 0, NULL, &doc, &status, why, why_size));
    struct sso_meta m;
    memset(&m, 0, sizeof m);
    bw_err e = BW_E_UNAVAILABLE;
    const char *iss = json_string_value(json_object_get(doc, "issuer"));
    if (status != 200)
        snprintf(why, why_size, "discovery: HTTP %ld", status);
    else if (!iss || strcmp(iss, issuer) != 0) /* Discovery 4.3: exactly the configured one */
        snprintf(why, why_size, "discovery: the document's issuer is not the configured issuer");
    else if (!copy_endpoint(doc, "authorization_endpoint", m.authorization_endpoint, why,
                            why_size) ||
             !copy_endpoint(doc, "token_endpoint", m.token_endpoint, why, why_size) ||
             !copy_endpoint(doc, "jwks_uri", m.jwks_uri, why, why_size))
        ;
    else if (!pick_auth(doc, &m.auth_post))
        snprintf(why, why_size, "discovery: neither client_secret_basic nor client_secret_post");
    else
        e = BW_OK;
    m.iss_param =
        json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
    json_decref(doc);
    if (e == BW_OK) {
        char ewhy[128];
        char head[SSO_URL_MAX];
        snprintf(head, sizeof head, "%.*s", (int)strcspn(m.authorization_endpoint, "?"),
                 m.authorization_endpoint);
        if (strchr(m.authorization_endpoint, '#') || !bw_sso_issuer_ok(head, ewhy, sizeof ewhy)) {
            snprintf(why, why_size, "discovery: authorization_endpoint: %s", ewhy);
            e = BW_E_UNAVAILABLE;
        } else {
            *out = m;
        }
    }
    return e;
}

/* RFC 6749 2.3.1: client_secret_basic is Base64(form-escaped id ":" form-escaped secret). The
 * result is written into out (sodium memory of the caller). */
static int basic_auth(const char *id, const char *secret, char *out, size_t size) {
    char pair[1400];
    long a = sso_form_escape(id, pair, 700);
    if (a < 0)
        return 0;
    pair[a] = ':';
    long b = sso_form_escape(secret, pair + a + 1, sizeof pair - (size_t)a - 1);
    int ok = b >= 0 && size > 6;
    if (ok) {
        memcpy(out, "Basic ", 6);
        ok = bw_b64_encode((const uint8_t *)pair, (size_t)(a + 1 + b), out + 6, size - 6) == BW_OK;
    }
    sodium_memzero(pair, sizeof pair);
    return ok;
}

/* The form body of the code exchange, into out (sodium memory). */
static int token_form(const struct sso_exchange *x, int post, char *out, size_t size, size_t *len) {
    static const char *const names[] = {"grant_type=",     "&code=",      "&redirect_uri=",
                                        "&code_verifier=", "&client_id=", "&client_secret="};
    const char *vals[] = {"authorization_code", x->code,      x->redirect_uri,
                          x->verifier,          x->client_id, x->secret};
    size_t n = post ? 6 : 5, o = 0; /* basic: client_id also in the body (harmless, common) */
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(names[i]);
        if (o + k >= size)
            return 0;
        memcpy(out + o, names[i], k);
        o += k;
        long w = sso_form_escape(vals[i], out + o, size - o);
        if (w < 0)
            return 0;
        o += (size_t)w;
    }
    *len = o;
    return 1;
}

/* The token response's id_token, copied out (malloc'd; the caller wipes and frees). */
static char *take_id_token(const json_t *doc) {
    const json_t *v = json_object_get(doc, "id_token");
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) > BW_OAUTH_TOKEN_MAX)
        return NULL;
    return strdup(s);
}

static bw_err exchange(const struct sso_net *p, const struct sso_meta *m,
                       const struct sso_exchange *x, char **id_token, char *why, size_t why_size) {
    size_t form_size = 8192, auth_size = 2048, form_len = 0;
    char *form = sodium_malloc(form_size), *auth = sodium_malloc(auth_size);
    json_t *doc = NULL;
    long status = 0;
    bw_err e = BW_E_UNAVAILABLE;
    if (!form || !auth || !token_form(x, m->auth_post, form, form_size, &form_len) ||
        (!m->auth_post && !basic_auth(x->client_id, x->secret, auth, auth_size))) {
        snprintf(why, why_size, "token request: too large or out of memory");
        goto out;
    }
    e = get_json(p, m->token_endpoint, form, form_len, m->auth_post ? NULL : auth, &doc, &status,
                 why, why_size);
    if (e == BW_E_UNAVAILABLE && status >= 400 && status < 500) {
        snprintf(why, why_size, "token endpoint: HTTP %ld", status);
        e = BW_E_DENIED;
    }
    if (e != BW_OK)
        goto out;
    if (status != 200) { /* RFC 6749 5.2: invalid_grant (a used or foreign code), ... */
        const char *err = json_string_value(json_object_get(doc, "error"));
        int safe =
            err && strlen(err) < 40 && strspn(err, "abcdefghijklmnopqrstuvwxyz_") == strlen(err);
        snprintf(why, why_size, "token endpoint: HTTP %ld %s", status, safe ? err : "");
        e = status >= 400 && status < 500 ? BW_E_DENIED : BW_E_UNAVAILABLE;
    } else if (!(*id_token = take_id_token(doc))) {
        snprintf(why, why_size, "token endpoint: no id_token in the answer");
        e = BW_E_DENIED;
    }
out:
    json_decref(doc); /* jansson frees without wiping: the access token lives on in freed heap
                         until reused; it is never logged and grants the IdP's scopes only */
    if (form)
        sodium_free(form);
    if (auth)
        sodium_free(auth);
    return e;
}

static bw_err fetch_keys(const struct sso_net *p, const char *url, struct bw_oauth_jwks **keys,
                         char *why, size_t why_size) {
    struct bw_buf body;
    long status = 0;
    bw_buf_init(&body, SSO_DOC_MAX);
    bw_err e = sso_fetch(p, url, NULL, 0, NULL, &body, &status, why, why_size);
    if (e == BW_OK && status != 200) {
        snprintf(why, why_size, "jwks_uri: HTTP %ld", status);
        e = BW_E_UNAVAILABLE;
    }
    char kwhy[BW_OAUTH_WHY_SIZE];
    if (e == BW_OK &&
        bw_oauth_jwks_parse((const char *)body.ptr, body.len, keys, kwhy, sizeof kwhy) != BW_OK) {
        snprintf(why, why_size, "jwks_uri: %s", kwhy);
        e = BW_E_UNAVAILABLE;
    }
    bw_buf_cleanup(&body);
    return e;
}

bw_err sso_redeem(const struct sso_net *p, const struct sso_meta *m, const struct sso_exchange *x,
                  struct bw_sso_identity *id, enum bw_sso_check *check, char *why,
                  size_t why_size) {
    char *tok = NULL;
    struct bw_oauth_jwks *keys = NULL;
    *check = BW_SSO_OK;
    BW_TRY(exchange(p, m, x, &tok, why, why_size));
    bw_err e = fetch_keys(p, m->jwks_uri, &keys, why, why_size);
    if (e == BW_OK) {
        struct bw_sso_expect want = {x->issuer, x->client_id, x->nonce, x->claim, BW_SSO_LEEWAY_S};
        *check = bw_sso_idtoken_check(keys, &want, tok, strlen(tok), time(NULL), id);
        if (*check != BW_SSO_OK) {
            snprintf(why, why_size, "ID token: %s", bw_sso_check_name(*check));
            e = BW_E_INVALID;
        }
    }
    bw_oauth_jwks_unref(keys);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    return e;
}
