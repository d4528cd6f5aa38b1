/* connect.c: credentials, kind rules, live verification and one delivery (connect.h). */
#include "connect/connect.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver.h"
#include "util/buf.h"
#include "util/text.h"
#include "util/time.h"
#include "util/version.h"
#include "webhook/webhook.h"
#include "webhook/webhook_sign.h"

static const char *const kind_names[] = {"slack", "discord", "webhook", "github", "notion"};

int bw_connect_kind_parse(const char *name, enum bw_connect_kind *out) {
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum bw_connect_kind)i;
            return 1;
        }
    return 0;
}

const char *bw_connect_kind_name(enum bw_connect_kind kind) {
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

int bw_connect_kind_delivers(enum bw_connect_kind kind) {
    return kind == BW_CONNECT_SLACK || kind == BW_CONNECT_DISCORD || kind == BW_CONNECT_WEBHOOK;
}

static int has_url(enum bw_connect_kind k) {
    return bw_connect_kind_delivers(k);
}

static int has_secret(enum bw_connect_kind k) {
    return k == BW_CONNECT_WEBHOOK || k == BW_CONNECT_GITHUB || k == BW_CONNECT_NOTION;
}

__attribute__((format(printf, 3, 4))) static void set(char *out, size_t size, const char *fmt,
                                                      ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

void bw_connect_cred_free(struct bw_connect_cred *c) {
    if (c)
        sodium_free(c); /* sodium_free wipes the whole allocation */
}

/* Fills url/secret from bytes: the split copy after bytes[len], with the webhook's newline
 * turned into a NUL. */
static bw_err split(struct bw_connect_cred *c) {
    char *copy = (char *)c->bytes + c->len + 1;
    memcpy(copy, c->bytes, c->len);
    copy[c->len] = 0;
    c->url = "";
    c->secret = "";
    switch (c->kind) {
    case BW_CONNECT_SLACK:
    case BW_CONNECT_DISCORD:
        c->url = copy;
        BW_ENSURE(strlen(copy) == c->len, BW_E_INVALID);
        return BW_OK;
    case BW_CONNECT_WEBHOOK: {
        char *nl = memchr(copy, '\n', c->len);
        BW_ENSURE(nl && nl > copy && (size_t)(nl - copy) + 1 < c->len, BW_E_INVALID);
        *nl = 0;
        c->url = copy;
        c->secret = nl + 1;
        BW_ENSURE(strlen(c->url) + 1 + strlen(c->secret) == c->len, BW_E_INVALID);
        return BW_OK;
    }
    case BW_CONNECT_GITHUB:
    case BW_CONNECT_NOTION:
        c->secret = copy;
        BW_ENSURE(strlen(copy) == c->len, BW_E_INVALID);
        return BW_OK;
    default:
        return BW_E_INVALID;
    }
}

/* Every part of an opened or new credential is printable ASCII without spaces: a record that
 * opens into anything else is not this kind's (or was written by something else). */
static bw_err split_checked(struct bw_connect_cred *c) {
    BW_TRY(split(c));
    BW_ENSURE(bw_text_visible(c->url, strlen(c->url)) &&
                  bw_text_visible(c->secret, strlen(c->secret)),
              BW_E_INVALID);
    return BW_OK;
}

static bw_err cred_alloc(enum bw_connect_kind kind, size_t len, struct bw_connect_cred **out) {
    BW_ENSURE(len > 0 && len <= BW_VAULT_SECRET_MAX, BW_E_INVALID);
    /* sodium_malloc puts the block at the end of its page: a size that is not a multiple of
     * the alignment gives a misaligned struct, so round up. */
    size_t size = (sizeof(struct bw_connect_cred) + 2 * (len + 1) + 15) & ~(size_t)15;
    struct bw_connect_cred *c = sodium_malloc(size);
    if (!c)
        return BW_E_NOMEM;
    c->kind = kind;
    c->len = len;
    *out = c;
    return BW_OK;
}

bw_err bw_connect_cred_new(enum bw_connect_kind kind, const char *url, const char *secret,
                           struct bw_connect_cred **out, char *why, size_t why_size) {
    url = url && *url ? url : NULL;
    secret = secret && *secret ? secret : NULL;
    if (has_url(kind) != (url != NULL)) {
        set(why, why_size, has_url(kind) ? "url is required for %s" : "url is not used by %s",
            bw_connect_kind_name(kind));
        return BW_E_INVALID;
    }
    if (has_secret(kind) != (secret != NULL)) {
        set(why, why_size,
            has_secret(kind) ? "secret is required for %s"
                             : "secret is not used by %s (the webhook URL is the credential)",
            bw_connect_kind_name(kind));
        return BW_E_INVALID;
    }
    size_t ul = url ? strlen(url) : 0, sl = secret ? strlen(secret) : 0;
    if (url && (ul >= BW_EGRESS_URL_MAX || !bw_text_visible(url, ul))) {
        set(why, why_size, "url must be printable ASCII without spaces, under %d bytes",
            BW_EGRESS_URL_MAX);
        return BW_E_INVALID;
    }
    if (secret && (sl > BW_CONNECT_TOKEN_MAX || !bw_text_visible(secret, sl))) {
        set(why, why_size, "secret must be printable ASCII without spaces, at most %d bytes",
            BW_CONNECT_TOKEN_MAX);
        return BW_E_INVALID;
    }
    if (kind == BW_CONNECT_WEBHOOK) {
        struct bw_webhook_keys *k = NULL;
        if (strncmp(secret, "whsec_", 6) != 0 ||
            bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, secret, sl, &k) != BW_OK) {
            set(why, why_size, "secret must be a Standard Webhooks secret: whsec_ + base64");
            return BW_E_INVALID;
        }
        bw_webhook_keys_free(k);
    }
    size_t len = ul + sl + (url && secret ? 1 : 0);
    struct bw_connect_cred *c = NULL;
    bw_err e = cred_alloc(kind, len, &c);
    if (e != BW_OK) {
        set(why, why_size, e == BW_E_NOMEM ? "out of memory" : "credential too long");
        return e;
    }
    uint8_t *p = c->bytes;
    if (url) {
        memcpy(p, url, ul);
        p += ul;
    }
    if (url && secret)
        *p++ = '\n';
    if (secret)
        memcpy(p, secret, sl);
    c->bytes[len] = 0;
    e = split_checked(c);
    if (e != BW_OK) {
        bw_connect_cred_free(c);
        set(why, why_size, "malformed credential");
        return e;
    }
    *out = c;
    return BW_OK;
}

bw_err bw_connect_cred_open(const struct bw_connect_env *env, enum bw_connect_kind kind,
                            const char *org_id, const char *secret_id, const uint8_t *sealed,
                            size_t sealed_len, struct bw_connect_cred **out) {
    struct bw_vault_secret *s = NULL;
    BW_TRY(bw_keyring_open(env->keys, org_id, secret_id, sealed, sealed_len, &s));
    struct bw_connect_cred *c = NULL;
    bw_err e = cred_alloc(kind, s->len, &c);
    if (e == BW_OK) {
        memcpy(c->bytes, s->bytes, s->len);
        c->bytes[s->len] = 0;
        e = split_checked(c);
    }
    bw_vault_secret_free(s);
    if (e != BW_OK) {
        bw_connect_cred_free(c);
        return e;
    }
    *out = c;
    return BW_OK;
}

bw_err bw_connect_cred_seal(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                            const char *org_id, const char *secret_id, uint8_t *out,
                            size_t out_size, size_t *out_len,
                            uint8_t master_id[BW_VAULT_MASTER_ID_BYTES],
                            char fingerprint[BW_VAULT_FINGERPRINT_SIZE]) {
    size_t n = 0;
    BW_TRY(bw_keyring_seal(env->keys, org_id, secret_id, c->bytes, c->len, out, out_size, &n));
    struct bw_vault_sealed rec;
    BW_TRY(bw_vault_sealed_parse(out, n, &rec));
    memcpy(master_id, rec.master_id, BW_VAULT_MASTER_ID_BYTES);
    /* The fingerprint is of the part a person recognises: the token, the signing secret, or
     * for Slack and Discord the URL (whose tail is the token's). */
    const char *part = c->secret[0] ? c->secret : c->url;
    bw_vault_fingerprint((const uint8_t *)part, strlen(part), fingerprint);
    *out_len = n;
    return BW_OK;
}

/* ---- kind rules ---- */

/* The path of a normalised URL (the guard refused userinfo, so the authority has no '/'). */
static const char *url_path(const char *url) {
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "/";
}

static void display_of(const struct bw_egress_target *t, char *out, size_t size) {
    int dflt = (strcmp(t->scheme, "https") == 0 && t->port == 443) ||
               (strcmp(t->scheme, "http") == 0 && t->port == 80);
    const char *lb = t->literal == 6 ? "[" : "", *rb = t->literal == 6 ? "]" : "";
    if (dflt)
        set(out, size, "%s://%s%s%s", t->scheme, lb, t->host, rb);
    else
        set(out, size, "%s://%s%s%s:%u", t->scheme, lb, t->host, rb, (unsigned)t->port);
}

/* Slack and Discord: https on the provider's webhook hosts and paths only, so a "Slack"
 * connection cannot be pointed at an arbitrary server. Webhooks: https unless the operator
 * allows http (tests). */
static bw_err kind_rules(const struct bw_connect_env *env, enum bw_connect_kind kind,
                         const struct bw_egress_target *t, struct bw_connect_result *res) {
    int https = strcmp(t->scheme, "https") == 0;
    const char *path = url_path(t->url);
    switch (kind) {
    case BW_CONNECT_SLACK:
        if (https && strcmp(t->host, "hooks.slack.com") == 0 && t->port == 443 &&
            strncmp(path, "/services/", 10) == 0)
            return BW_OK;
        set(res->why, sizeof res->why,
            "a Slack connection is an incoming webhook: https://hooks.slack.com/services/...");
        break;
    case BW_CONNECT_DISCORD:
        if (https && t->port == 443 &&
            (strcmp(t->host, "discord.com") == 0 || strcmp(t->host, "discordapp.com") == 0 ||
             strcmp(t->host, "canary.discord.com") == 0 ||
             strcmp(t->host, "ptb.discord.com") == 0) &&
            strncmp(path, "/api/webhooks/", 14) == 0)
            return BW_OK;
        set(res->why, sizeof res->why,
            "a Discord connection is a webhook: https://discord.com/api/webhooks/...");
        break;
    case BW_CONNECT_WEBHOOK:
        if (https || env->allow_http)
            return BW_OK;
        set(res->why, sizeof res->why, "a webhook URL must be https");
        break;
    default:
        return BW_OK;
    }
    set(res->reason, sizeof res->reason, "CONNECTION_URL_REJECTED");
    res->blocked = 1;
    return BW_E_DENIED;
}

/* The kind rules on the URL as written (no DNS: a Slack URL on the wrong host is refused
 * before anything is resolved), then, at save time, the guard's check with DNS (every address
 * allowed). t is the caller's (sodium_malloc'd: it holds the URL). */
static bw_err check_url(const struct bw_connect_env *env, enum bw_connect_kind kind,
                        const char *url, int resolve, struct bw_egress_target *t,
                        struct bw_connect_result *res) {
    char why[BW_EGRESS_WHY_SIZE];
    bw_err e = bw_egress_check_url_static(env->policy, url, t, why, sizeof why);
    if (e == BW_OK) {
        display_of(t, res->display, sizeof res->display);
        BW_TRY(kind_rules(env, kind, t, res));
        if (resolve)
            e = bw_egress_check_url(env->policy, url, t, why, sizeof why);
    }
    if (e == BW_E_NOMEM)
        return e;
    if (e == BW_E_UNAVAILABLE) {
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
        set(res->why, sizeof res->why, "cannot resolve the host: %s", why);
        res->retryable = 1;
        return BW_E_UNAVAILABLE;
    }
    if (e != BW_OK) {
        set(res->reason, sizeof res->reason, "EGRESS_BLOCKED");
        set(res->why, sizeof res->why, "blocked: %s", why);
        res->blocked = 1;
        return BW_E_DENIED;
    }
    return BW_OK;
}

/* ---- the calls ---- */

static enum bw_deliver_kind deliver_kind(enum bw_connect_kind k) {
    return k == BW_CONNECT_SLACK     ? BW_DELIVER_SLACK
           : k == BW_CONNECT_DISCORD ? BW_DELIVER_DISCORD
                                     : BW_DELIVER_WEBHOOK;
}

static bw_err post_event(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                         const struct bw_connect_event *ev, struct bw_connect_result *res) {
    bw_err result = BW_OK;
    struct bw_buf body;
    bw_buf_init(&body, BW_DELIVER_BODY_MAX);
    struct bw_webhook_keys *keys = NULL;
    json_t *data = NULL;
    if (ev->data && *ev->data) {
        data = json_loads(ev->data, JSON_REJECT_DUPLICATES, NULL);
        BW_GOTO_IF(!json_is_object(data), BW_E_INVALID);
    }
    struct bw_deliver_event dev = {ev->type, ev->text, data, ev->event_ms};
    BW_GOTO(bw_deliver_format(deliver_kind(c->kind), &dev, &body));
    if (c->kind == BW_CONNECT_WEBHOOK)
        BW_GOTO(bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, c->secret, strlen(c->secret), &keys));
    struct bw_deliver_target t = {deliver_kind(c->kind), c->url, keys};
    long total = env->timeout_ms > 0 ? env->timeout_ms : 10000;
    struct bw_deliver_options o = {env->policy, 3, total < 5000 ? total : 5000, total, 0};
    struct bw_deliver_result dr;
    result = bw_deliver_post(&o, &t, ev->id, bw_now_ms() / 1000, body.ptr, body.len, &dr);
    res->status = dr.status;
    res->retryable = dr.retryable;
    res->blocked = dr.blocked;
    set(res->why, sizeof res->why, "%s", dr.why);
    if (result == BW_E_DENIED)
        set(res->reason, sizeof res->reason, "EGRESS_BLOCKED");
    else if (result != BW_OK)
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
out:
    if (result == BW_E_INVALID && !res->reason[0]) {
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
        set(res->why, sizeof res->why, "the event or the credential is malformed");
    }
    bw_webhook_keys_free(keys);
    json_decref(data);
    bw_buf_cleanup(&body);
    return result;
}

static int status_retryable(long status) {
    return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

/* Wipes every header line libcurl was given a copy of (the bearer token) before freeing. */
static void headers_free(struct curl_slist *h) {
    for (struct curl_slist *n = h; n; n = n->next)
        sodium_memzero(n->data, strlen(n->data));
    curl_slist_free_all(h);
}

struct probe_state {
    struct bw_egress_target target;
    struct bw_egress_conn conn;
    char url[BW_EGRESS_URL_MAX];
    char auth[BW_CONNECT_TOKEN_MAX + 32];
};

/* GET {base}{path} with the token: the identity call of GitHub and Notion. Redirects are not
 * followed (an identity endpoint does not redirect; a redirect fails the check). */
static bw_err probe(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                    struct bw_connect_result *res) {
    bw_err result = BW_OK;
    struct curl_slist *h = NULL;
    CURL *easy = NULL;
    struct probe_state *st = sodium_malloc(sizeof *st);
    if (!st)
        return BW_E_NOMEM;
    memset(st, 0, sizeof *st);
    int github = c->kind == BW_CONNECT_GITHUB;
    set(st->url, sizeof st->url, "%s%s", github ? env->github_api : env->notion_api,
        github ? "/user" : "/v1/users/me");
    BW_GOTO(check_url(env, c->kind, st->url, 1, &st->target, res));
    set(st->auth, sizeof st->auth, "Authorization: Bearer %s", c->secret);
    const char *lines[] = {st->auth, "User-Agent: Bulwark/" BW_VERSION, "Accept: application/json",
                           github ? "X-GitHub-Api-Version: 2022-11-28"
                                  : "Notion-Version: 2022-06-28"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *n = curl_slist_append(h, lines[i]);
        BW_GOTO_IF(!n, BW_E_NOMEM);
        h = n;
    }
    easy = curl_easy_init();
    BW_GOTO_IF(!easy, BW_E_NOMEM);
    long total = env->timeout_ms > 0 ? env->timeout_ms : 10000;
    struct bw_egress_limits lim = {total < 5000 ? total : 5000, total, 64 * 1024};
    BW_GOTO_IF(bw_egress_curl_apply(easy, env->policy, &st->target, &lim, NULL, NULL, &st->conn) !=
                       BW_OK ||
                   curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
                   curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h) != CURLE_OK,
               BW_E_INTERNAL);
    CURLcode cr = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    if (cr != CURLE_OK && st->conn.blocked) {
        res->blocked = 1;
        set(res->reason, sizeof res->reason, "EGRESS_BLOCKED");
        set(res->why, sizeof res->why, "blocked: %s", st->conn.why);
        result = BW_E_DENIED;
    } else if (cr != CURLE_OK &&
               !(status > 0 && (st->conn.too_large || cr == CURLE_FILESIZE_EXCEEDED))) {
        res->retryable = 1;
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
        set(res->why, sizeof res->why, "transfer failed: %s", curl_easy_strerror(cr));
        result = cr == CURLE_OPERATION_TIMEDOUT ? BW_E_TIMEOUT : BW_E_UNAVAILABLE;
    } else if (status < 200 || status > 299) {
        res->retryable = status_retryable(status);
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
        set(res->why, sizeof res->why, "the identity call answered HTTP %ld%s", status,
            status == 401 || status == 403 ? " (token refused)" : "");
        result = BW_E_UPSTREAM;
    }
out:
    if (easy)
        curl_easy_cleanup(easy);
    headers_free(h);
    sodium_free(st);
    return result;
}

static bw_err fill_failure(bw_err e, struct bw_connect_result *res) {
    if (e != BW_OK && !res->reason[0]) {
        set(res->reason, sizeof res->reason, "CONNECTION_VERIFY_FAILED");
        if (!res->why[0])
            set(res->why, sizeof res->why, "%s", bw_err_str(e));
    }
    return e;
}

bw_err bw_connect_verify(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                         struct bw_connect_result *res) {
    memset(res, 0, sizeof *res);
    if (!bw_connect_kind_delivers(c->kind))
        return fill_failure(probe(env, c, res), res);
    struct bw_egress_target *t = sodium_malloc(sizeof *t);
    if (!t)
        return BW_E_NOMEM;
    bw_err e = check_url(env, c->kind, c->url, 1, t, res);
    sodium_free(t);
    if (e != BW_OK)
        return fill_failure(e, res);
    char id[BW_WEBHOOK_MSG_ID_SIZE];
    bw_webhook_msg_id_new(id);
    struct bw_connect_event ev = {id, "connection.verify",
                                  "Bulwark: this connection is verified and will receive events.",
                                  "{\"test\":true}", bw_now_ms()};
    char display[BW_CONNECT_DISPLAY_SIZE];
    memcpy(display, res->display, sizeof display);
    e = post_event(env, c, &ev, res);
    memcpy(res->display, display, sizeof display);
    return fill_failure(e, res);
}

bw_err bw_connect_deliver(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                          const struct bw_connect_event *ev, struct bw_connect_result *res) {
    memset(res, 0, sizeof *res);
    BW_ENSURE(bw_connect_kind_delivers(c->kind), BW_E_INVALID);
    struct bw_egress_target *t = sodium_malloc(sizeof *t);
    if (!t)
        return BW_E_NOMEM;
    bw_err e = check_url(env, c->kind, c->url, 0, t, res);
    sodium_free(t);
    if (e == BW_OK)
        e = post_event(env, c, ev, res);
    return fill_failure(e, res);
}
