/* Unit tests: deliver/ without the network: body formats per kind (escaping, truncation,
 * limits), argument checks, and dispatch-time refusals by the egress guard (no socket is ever
 * opened for a refused URL). The network paths are in
 * tests/integration/deliver_webhook.test.mjs. */
#include <curl/curl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/deliver.h"
#include "webhook/webhook.h"

#define SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static char *format(enum bw_deliver_kind kind, const char *type, const char *text,
                    const json_t *data, int64_t ms, bw_err expect) {
    static struct bw_buf b;
    bw_buf_cleanup(&b);
    bw_buf_init(&b, BW_DELIVER_BODY_MAX);
    struct bw_deliver_event ev = {type, text, data, ms};
    assert_int_equal(bw_deliver_format(kind, &ev, &b), expect);
    return b.ptr ? (char *)b.ptr : (char *)"";
}

static void webhook_body(void **state) {
    (void)state;
    json_t *data = json_pack("{s:s, s:i}", "review_id", "rev_1", "n", 2);
    assert_string_equal(
        format(BW_DELIVER_WEBHOOK, "review.created", NULL, data, 1700000000123, BW_OK),
        "{\"type\":\"review.created\",\"timestamp\":\"2023-11-14T22:13:20.123Z\","
        "\"data\":{\"review_id\":\"rev_1\",\"n\":2}}");
    /* the caller's data is copied, not consumed */
    assert_int_equal(data->refcount, 1);
    assert_string_equal(format(BW_DELIVER_WEBHOOK, "key.revoked", NULL, NULL, 0, BW_OK),
                        "{\"type\":\"key.revoked\",\"timestamp\":\"1970-01-01T00:00:00.000Z\","
                        "\"data\":{}}");
    json_t *arr = json_array();
    format(BW_DELIVER_WEBHOOK, "x", NULL, arr, 0, BW_E_INVALID); /* data must be an object */
    json_decref(arr);
    json_decref(data);
    /* event types: [a-z0-9._-], 1..64 */
    const char *bad_types[] = {NULL, "", "Review", "a b", "a/b", "é"};
    for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++)
        format(BW_DELIVER_WEBHOOK, bad_types[i], NULL, NULL, 0, BW_E_INVALID);
    char t65[66];
    memset(t65, 'a', 65);
    t65[65] = 0;
    format(BW_DELIVER_WEBHOOK, t65, NULL, NULL, 0, BW_E_INVALID);
    t65[64] = 0;
    format(BW_DELIVER_WEBHOOK, t65, NULL, NULL, 0, BW_OK);
    format(BW_DELIVER_WEBHOOK, "x", NULL, NULL, -1, BW_E_INVALID);
}

static void slack_body(void **state) {
    (void)state;
    /* Slack's three control characters are escaped; quotes and newlines are JSON's business */
    assert_string_equal(
        format(BW_DELIVER_SLACK, "x", "<!channel> & <https://e.example|x> \"q\"\n", NULL, 0, BW_OK),
        "{\"text\":\"&lt;!channel&gt; &amp; &lt;https://e.example|x&gt; "
        "\\\"q\\\"\\n\"}");
    /* already-escaped text is escaped again (it is text, not markup) */
    assert_string_equal(format(BW_DELIVER_SLACK, "x", "&amp;", NULL, 0, BW_OK),
                        "{\"text\":\"&amp;amp;\"}");
    format(BW_DELIVER_SLACK, "x", NULL, NULL, 0, BW_E_INVALID);
    format(BW_DELIVER_SLACK, "x", "", NULL, 0, BW_E_INVALID);
    format(BW_DELIVER_SLACK, "x", "bad \xff utf-8", NULL, 0, BW_E_INVALID);
    format(BW_DELIVER_SLACK, "x", "overlong \xc0\xaf", NULL, 0, BW_E_INVALID);
    /* the text cap, and the worst-case expansion (every byte escaped) at the cap */
    static char big[BW_DELIVER_TEXT_MAX + 2];
    memset(big, '&', BW_DELIVER_TEXT_MAX + 1);
    big[BW_DELIVER_TEXT_MAX + 1] = 0;
    format(BW_DELIVER_SLACK, "x", big, NULL, 0, BW_E_TOO_LARGE);
    big[BW_DELIVER_TEXT_MAX] = 0;
    char *s = format(BW_DELIVER_SLACK, "x", big, NULL, 0, BW_OK);
    assert_int_equal(strlen(s), strlen("{\"text\":\"\"}") + 5 * BW_DELIVER_TEXT_MAX);
}

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void discord_body(void **state) {
    (void)state;
    assert_string_equal(
        format(BW_DELIVER_DISCORD, "x", "@everyone <@123> hi", NULL, 0, BW_OK),
        "{\"content\":\"@everyone <@123> hi\",\"allowed_mentions\":{\"parse\":[]}}");
    /* 2000 code points pass as they are; 2001 are cut to 1999 + "…", never inside a character */
    static char text[BW_DELIVER_TEXT_MAX + 1];
    for (size_t i = 0; i < 1000; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2); /* é: 2 bytes, 1 code point */
    memset(text + 2000, 'a', 1000);
    text[3000] = 0; /* 2000 code points */
    json_error_t err;
    json_t *j = json_loads(format(BW_DELIVER_DISCORD, "x", text, NULL, 0, BW_OK), 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "content")), text);
    json_decref(j);
    text[3000] = 'b';
    text[3001] = 0; /* 2001 code points */
    j = json_loads(format(BW_DELIVER_DISCORD, "x", text, NULL, 0, BW_OK), 0, &err);
    const char *c = json_string_value(json_object_get(j, "content"));
    assert_int_equal(code_points(c), BW_DELIVER_DISCORD_CONTENT_MAX);
    assert_memory_equal(c, text, strlen(c) - 3);
    assert_string_equal(c + strlen(c) - 3, "\xe2\x80\xa6");
    json_decref(j);
    /* cut right after a multi-byte character: nothing split */
    for (size_t i = 0; i < 1500; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[3000] = 0; /* 1500 code points */
    format(BW_DELIVER_DISCORD, "x", text, NULL, 0, BW_OK);
    assert_string_equal(bw_deliver_kind_name(BW_DELIVER_DISCORD), "discord");
    assert_string_equal(bw_deliver_kind_name(BW_DELIVER_SLACK), "slack");
    assert_string_equal(bw_deliver_kind_name(BW_DELIVER_WEBHOOK), "webhook");
    assert_string_equal(bw_deliver_kind_name((enum bw_deliver_kind)99), "unknown");
    format((enum bw_deliver_kind)99, "x", "t", NULL, 0, BW_E_INVALID);
}

static bw_err post(const char *url, enum bw_deliver_kind kind, const struct bw_webhook_keys *k,
                   const char *body, struct bw_deliver_result *res) {
    struct bw_deliver_options o;
    memset(&o, 0, sizeof o);
    struct bw_deliver_target t = {kind, url, k};
    return bw_deliver_post(&o, &t, "msg_1", 1700000000, (const uint8_t *)body,
                           body ? strlen(body) : 0, res);
}

static void refused_before_any_connection(void **state) {
    (void)state;
    struct bw_webhook_keys *k = NULL;
    assert_int_equal(bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, SECRET, strlen(SECRET), &k), BW_OK);
    struct bw_deliver_result res;
    /* the guard, with the empty default allowlist, at dispatch time: literals and names */
    const char *blocked[] = {
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://metadata.google.internal/",
        "http://0x7f.1/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://user:pass@example.com/",
        "https://hooks.slack.com\\@127.0.0.1/",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++) {
        assert_int_equal(post(blocked[i], BW_DELIVER_WEBHOOK, k, "{}", &res), BW_E_DENIED);
        assert_int_equal(res.blocked, 1);
        assert_int_equal(res.hops, 0);
        assert_int_equal(res.retryable, 0);
        assert_memory_equal(res.why, "blocked: ", 9);
        /* the reason never carries the URL's userinfo */
        assert_null(strstr(res.why, "pass"));
    }
    /* a token in the path (Slack, Discord) never appears in the reason */
    assert_int_equal(post("http://10.0.0.1/services/T0/B0/SECRETTOKEN", BW_DELIVER_SLACK, NULL,
                          "{\"text\":\"x\"}", &res),
                     BW_E_DENIED);
    assert_null(strstr(res.why, "SECRETTOKEN"));
    assert_null(strstr(res.why, "services"));

    /* arguments */
    assert_int_equal(post("https://example.com/", BW_DELIVER_WEBHOOK, NULL, "{}", &res),
                     BW_E_INVALID); /* a webhook without keys is never sent unsigned */
    assert_int_equal(post("https://example.com/", BW_DELIVER_SLACK, k, "{}", &res),
                     BW_E_INVALID); /* keys go nowhere they are not for */
    assert_int_equal(post("https://example.com/", BW_DELIVER_WEBHOOK, k, "", &res), BW_E_INVALID);
    assert_int_equal(post("https://example.com/", BW_DELIVER_WEBHOOK, k, NULL, &res), BW_E_INVALID);
    assert_int_equal(post(NULL, BW_DELIVER_WEBHOOK, k, "{}", &res), BW_E_INVALID);
    static char big[BW_DELIVER_BODY_MAX + 2];
    memset(big, ' ', BW_DELIVER_BODY_MAX + 1);
    assert_int_equal(post("https://example.com/", BW_DELIVER_WEBHOOK, k, big, &res), BW_E_INVALID);
    struct bw_deliver_options o;
    memset(&o, 0, sizeof o);
    o.max_redirects = BW_DELIVER_REDIRECTS_MAX + 1;
    struct bw_deliver_target t = {BW_DELIVER_WEBHOOK, "https://example.com/", k};
    assert_int_equal(bw_deliver_post(&o, &t, "msg_1", 1, (const uint8_t *)"{}", 2, &res),
                     BW_E_INVALID);
    /* a message id the signer refuses */
    o.max_redirects = 0;
    assert_int_equal(bw_deliver_post(&o, &t, "msg 1", 1, (const uint8_t *)"{}", 2, &res),
                     BW_E_INVALID);
    assert_int_equal(bw_deliver_post(&o, &t, "msg_1", 1, (const uint8_t *)"{}", 2, NULL),
                     BW_E_INVALID);
    bw_webhook_keys_free(k);
}

int main(void) {
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(webhook_body),
        cmocka_unit_test(slack_body),
        cmocka_unit_test(discord_body),
        cmocka_unit_test(refused_before_any_connection),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
