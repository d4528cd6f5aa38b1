/* deliver_post: a test driver for src/deliver/ (not part of the product binary). It formats one
 * event for a connection kind and delivers it with bw_deliver_post, then prints the result as
 * one JSON line, so tests/integration/deliver_*.test.mjs can drive the real delivery client
 * against a receiver it controls.
 *
 *   deliver_post --kind webhook|slack|discord --url URL [--allow CIDR|HOST:PORT]...
 *                [--type T] [--text S] [--data JSON] [--msg-id ID] [--timestamp S]
 *                [--max-redirects N] [--timeout-ms N] [--max-response N]
 *
 * The webhook signing secret comes from the environment (DELIVER_TEST_SECRET, "whsec_..."),
 * never from argv (visible to every user in ps). Prints
 *   {"result":"ok|<bw_err>","status":N,"hops":N,"blocked":B,"retryable":B,"why":"...",
 *    "msg_id":"..."}
 * and exits 0 whatever the delivery's outcome; 2 on misuse, 1 if setup fails. */
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver.h"
#include "egress/egress.h"
#include "util/time.h"
#include "webhook/webhook_sign.h"

static int usage(const char *why) {
    fprintf(stderr, "deliver_post: %s\n", why);
    return 2;
}

int main(int argc, char **argv) {
    const char *kind_s = NULL, *url = NULL, *type = "test.ping", *text = "Bulwark test delivery";
    const char *data_s = NULL, *msg_id = NULL;
    const char *allow[BW_EGRESS_ALLOW_MAX];
    size_t nallow = 0;
    long long ts = -1;
    struct bw_deliver_options o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage("option without a value");
        i++;
        if (strcmp(a, "--kind") == 0)
            kind_s = v;
        else if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--allow") == 0 && nallow < BW_EGRESS_ALLOW_MAX)
            allow[nallow++] = v;
        else if (strcmp(a, "--type") == 0)
            type = v;
        else if (strcmp(a, "--text") == 0)
            text = v;
        else if (strcmp(a, "--data") == 0)
            data_s = v;
        else if (strcmp(a, "--msg-id") == 0)
            msg_id = v;
        else if (strcmp(a, "--timestamp") == 0)
            ts = strtoll(v, NULL, 10);
        else if (strcmp(a, "--max-redirects") == 0)
            o.max_redirects = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--timeout-ms") == 0)
            o.total_timeout_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--max-response") == 0)
            o.max_response_bytes = (curl_off_t)strtoll(v, NULL, 10);
        else
            return usage("unknown option");
    }
    if (!kind_s || !url)
        return usage("--kind and --url are required");
    struct bw_deliver_target t = {.url = url};
    if (strcmp(kind_s, "webhook") == 0)
        t.kind = BW_DELIVER_WEBHOOK;
    else if (strcmp(kind_s, "slack") == 0)
        t.kind = BW_DELIVER_SLACK;
    else if (strcmp(kind_s, "discord") == 0)
        t.kind = BW_DELIVER_DISCORD;
    else
        return usage("unknown kind");
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;

    char why[BW_EGRESS_WHY_SIZE];
    struct bw_egress_policy *policy = NULL;
    if (bw_egress_policy_new(allow, nallow, &policy, why, sizeof why) != BW_OK)
        return usage("bad --allow entry");
    o.policy = policy;
    struct bw_webhook_keys *keys = NULL;
    const char *secret = getenv("DELIVER_TEST_SECRET");
    if (t.kind == BW_DELIVER_WEBHOOK) {
        if (!secret ||
            bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, secret, strlen(secret), &keys) != BW_OK)
            return usage("DELIVER_TEST_SECRET missing or malformed");
        t.keys = keys;
    }
    json_t *data = NULL;
    if (data_s && !(data = json_loads(data_s, JSON_REJECT_DUPLICATES, NULL)))
        return usage("--data is not JSON");

    char id[BW_WEBHOOK_MSG_ID_SIZE];
    if (!msg_id) {
        bw_webhook_msg_id_new(id);
        msg_id = id;
    }
    int64_t now_ms = bw_now_ms();
    struct bw_deliver_event ev = {type, text, data, now_ms};
    struct bw_buf body;
    bw_buf_init(&body, BW_DELIVER_BODY_MAX);
    struct bw_deliver_result res;
    memset(&res, 0, sizeof res);
    bw_err e = bw_deliver_format(t.kind, &ev, &body);
    if (e == BW_OK)
        e = bw_deliver_post(&o, &t, msg_id, ts >= 0 ? ts : now_ms / 1000, body.ptr, body.len, &res);
    else
        snprintf(res.why, sizeof res.why, "format failed");
    json_t *out = json_pack("{s:s, s:I, s:i, s:b, s:b, s:s, s:s}", "result",
                            e == BW_OK ? "ok" : bw_err_str(e), "status", (json_int_t)res.status,
                            "hops", res.hops, "blocked", res.blocked, "retryable", res.retryable,
                            "why", res.why, "msg_id", msg_id);
    char *line = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (!line)
        return 1;
    printf("%s\n", line);
    free(line);
    json_decref(out);
    json_decref(data);
    bw_buf_cleanup(&body);
    bw_webhook_keys_free(keys);
    bw_egress_policy_free(policy);
    curl_global_cleanup();
    return 0;
}
