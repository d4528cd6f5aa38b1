/* test_mock.c: the deterministic OpenAI-compatible mock, driven over HTTP with libcurl against
 * a mock on an ephemeral port whose event base runs in a thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "mock/mock.h"
#include "mock/mock_internal.h"
#include "util/codec.h"

struct server {
    struct event_base *base;
    struct bw_mock *mock;
    pthread_t thread;
    int port;
};

struct resp {
    long status;
    char ctype[128];
    char *body;
    size_t len;
    double seconds;
};

static struct server main_srv;

static void *loop(void *arg) {
    struct server *s = arg;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void server_start(struct server *s, int latency_ms) {
    memset(s, 0, sizeof *s);
    s->base = event_base_new();
    assert_non_null(s->base);
    assert_int_equal(bw_mock_start(s->base, "127.0.0.1", 0, latency_ms, &s->mock, &s->port), BW_OK);
    assert_true(s->port > 0);
    assert_int_equal(pthread_create(&s->thread, NULL, loop, s), 0);
}

static void server_stop(struct server *s) {
    event_base_loopbreak(s->base);
    pthread_join(s->thread, NULL);
    bw_mock_free(s->mock);
    event_base_free(s->base);
}

static int group_setup(void **state) {
    (void)state;
    if (evthread_use_pthreads() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    server_start(&main_srv, 0);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    server_stop(&main_srv);
    curl_global_cleanup();
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    struct resp *r = arg;
    size_t k = size * n;
    char *b = realloc(r->body, r->len + k + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, k);
    r->body = b;
    r->len += k;
    b[r->len] = 0;
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    struct resp *r = arg;
    size_t k = size * n;
    if (k > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
        size_t m = k - 14;
        while (m && (p[14 + m - 1] == '\r' || p[14 + m - 1] == '\n'))
            m--;
        snprintf(r->ctype, sizeof r->ctype, "%.*s", (int)m, p + 14);
    }
    return k;
}

/* One request on a fresh handle (or on `reuse`, to test keep-alive). Returns the curl code. */
static CURLcode http_on(CURL *c, int port, const char *method, const char *path, const char *body,
                        size_t body_len, const char *auth, long timeout_ms, struct resp *r) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(r, 0, sizeof *r);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)body_len : -1L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, body ? 0L : 1L);
    if (!body)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    curl_slist_free_all(h);
    return rc;
}

static CURLcode http_full(int port, const char *method, const char *path, const char *body,
                          const char *auth, long timeout_ms, struct resp *r) {
    CURL *c = curl_easy_init();
    assert_non_null(c);
    CURLcode rc =
        http_on(c, port, method, path, body, body ? strlen(body) : 0, auth, timeout_ms, r);
    curl_easy_cleanup(c);
    return rc;
}

static void http(const char *method, const char *path, const char *body, struct resp *r) {
    assert_int_equal(http_full(main_srv.port, method, path, body, NULL, 5000, r), CURLE_OK);
}

static json_t *json_of(const struct resp *r) {
    json_error_t e;
    json_t *v = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &e);
    if (!v)
        fail_msg("not JSON (%s): %.200s", e.text, r->body ? r->body : "");
    return v;
}

static json_int_t int_at(json_t *v, const char *k1, const char *k2) {
    json_t *o = json_object_get(v, k1);
    if (k2)
        o = json_object_get(o, k2);
    assert_true(json_is_integer(o));
    return json_integer_value(o);
}

static json_t *choice0(json_t *v) {
    return json_array_get(json_object_get(v, "choices"), 0);
}

static const char *content_of(json_t *v) {
    return json_string_value(json_object_get(json_object_get(choice0(v), "message"), "content"));
}

static const char *CHAT_LIGHTHOUSES = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                                      "\"content\":\"Tell me about lighthouses.\"}]}";

static const char *TOOLS =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"description\":\"Weather for a city\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}},"
    "\"required\":[\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"search\"}}]";

/* ---- SSE ---- */

struct sse {
    json_t *chunks[512];
    size_t n;
    int done;
};

static void sse_parse(const struct resp *r, struct sse *s) {
    memset(s, 0, sizeof *s);
    const char *p = r->body, *end = r->body + r->len;
    assert_non_null(p);
    while (p < end) {
        const char *sep = strstr(p, "\n\n");
        assert_non_null(sep);
        assert_memory_equal(p, "data: ", 6);
        assert_false(s->done); /* nothing after [DONE] */
        if ((size_t)(sep - p) == 12 && memcmp(p + 6, "[DONE]", 6) == 0) {
            s->done = 1;
        } else {
            json_error_t e;
            json_t *v = json_loadb(p + 6, (size_t)(sep - p - 6), 0, &e);
            assert_non_null(v);
            assert_true(s->n < 512);
            s->chunks[s->n++] = v;
        }
        p = sep + 2;
    }
    assert_true(s->done);
}

static void sse_free(struct sse *s) {
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->chunks[i]);
}

static void resp_free(struct resp *r) {
    free(r->body);
    r->body = NULL;
}

/* ---- helpers' own tests ---- */

static void test_text_helpers(void **state) {
    (void)state;
    assert_int_equal(bw_mock_tokens(0), 0);
    assert_int_equal(bw_mock_tokens(1), 1);
    assert_int_equal(bw_mock_tokens(4), 1);
    assert_int_equal(bw_mock_tokens(5), 2);
    const char *s = "h\xc3\xa9llo"; /* "héllo": 5 code points, 6 bytes */
    assert_int_equal(bw_mock_chars(s, 6), 5);
    assert_int_equal(bw_mock_prefix(s, 6, 2), 3); /* never splits é */
    assert_int_equal(bw_mock_prefix(s, 6, 1), 1);
    assert_int_equal(bw_mock_prefix(s, 6, 9), 6);
    assert_int_equal(bw_mock_next_word("ab  cd", 6, 0), 4);
    assert_int_equal(bw_mock_next_word("ab  cd", 6, 4), 6);
}

/* ---- endpoints ---- */

static void test_models(void **state) {
    (void)state;
    struct resp r;
    http("GET", "/v1/models", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    json_t *v = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(v, "object")), "list");
    const char *want[] = {"gpt-4o-mini",  "gpt-4o",     "text-embedding-3-small", "mock-hang",
                          "mock-garbage", "mock-error", "mock-slow-stream",       "mock-runaway"};
    json_t *data = json_object_get(v, "data");
    assert_int_equal(json_array_size(data), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *m = json_array_get(data, i);
        assert_string_equal(json_string_value(json_object_get(m, "id")), want[i]);
        assert_string_equal(json_string_value(json_object_get(m, "object")), "model");
        assert_int_equal(int_at(m, "created", NULL), 1700000000);
        assert_string_equal(json_string_value(json_object_get(m, "owned_by")), "bulwark-mock");
    }
    json_decref(v);
    resp_free(&r);
}

static void test_chat_plain(void **state) {
    (void)state;
    struct resp r;
    http("POST", "/v1/chat/completions", CHAT_LIGHTHOUSES, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    json_t *v = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(v, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(v, "model")), "gpt-4o-mini");
    assert_string_equal(json_string_value(json_object_get(v, "system_fingerprint")), "fp_mock");
    assert_int_equal(int_at(v, "created", NULL), 1700000000);
    const char *id = json_string_value(json_object_get(v, "id"));
    assert_int_equal(strlen(id), strlen("chatcmpl-mock-") + 16);
    assert_memory_equal(id, "chatcmpl-mock-", 14);
    json_t *c = choice0(v);
    assert_int_equal(int_at(c, "index", NULL), 0);
    assert_true(json_is_null(json_object_get(c, "logprobs")));
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "stop");
    json_t *msg = json_object_get(c, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_true(json_is_null(json_object_get(msg, "refusal")));
    const char *content = content_of(v);
    assert_non_null(strstr(content, "This is a mock reply to: Tell me about lighthouses"));
    /* 26 characters in one message: ceil(26 / 4) + 4. */
    assert_int_equal(int_at(v, "usage", "prompt_tokens"), 7 + 4);
    assert_int_equal(int_at(v, "usage", "completion_tokens"),
                     (json_int_t)bw_mock_tokens(strlen(content)));
    assert_int_equal(int_at(v, "usage", "total_tokens"),
                     int_at(v, "usage", "prompt_tokens") + int_at(v, "usage", "completion_tokens"));
    json_decref(v);
    resp_free(&r);
}

static void test_chat_parts_and_usage(void **state) {
    (void)state;
    struct resp r;
    http("POST", "/v1/chat/completions",
         "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"abcd\"},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello \"},"
         "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\","
         "\"text\":\"w\\u00f6rld\"}]}]}",
         &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_of(&r);
    assert_non_null(strstr(content_of(v), "reply to: Hello w\xc3\xb6rld."));
    /* 4 + 6 + 5 characters = 15 -> 4 tokens, + 4 per message. */
    assert_int_equal(int_at(v, "usage", "prompt_tokens"), 4 + 8);
    json_decref(v);
    resp_free(&r);
}

static void test_chat_deterministic(void **state) {
    (void)state;
    struct resp a, b, other;
    http("POST", "/v1/chat/completions", CHAT_LIGHTHOUSES, &a);
    http("POST", "/v1/chat/completions", CHAT_LIGHTHOUSES, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.body, b.body, a.len);
    http("POST", "/v1/chat/completions",
         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Other\"}]}",
         &other);
    json_t *va = json_of(&a), *vo = json_of(&other);
    assert_string_not_equal(json_string_value(json_object_get(va, "id")),
                            json_string_value(json_object_get(vo, "id")));
    json_decref(va);
    json_decref(vo);
    resp_free(&a);
    resp_free(&b);
    resp_free(&other);
}

static void test_chat_max_tokens(void **state) {
    (void)state;
    const char *keys[] = {"max_tokens", "max_completion_tokens"};
    for (size_t k = 0; k < 2; k++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"gpt-4o\",\"%s\":3,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"Say something long.\"}]}",
                 keys[k]);
        struct resp r;
        http("POST", "/v1/chat/completions", body, &r);
        assert_int_equal(r.status, 200);
        json_t *v = json_of(&r);
        assert_string_equal(json_string_value(json_object_get(choice0(v), "finish_reason")),
                            "length");
        assert_string_equal(content_of(v), "This is a mo"); /* 3 tokens = 12 chars */
        assert_int_equal(int_at(v, "usage", "completion_tokens"), 3);
        json_decref(v);
        resp_free(&r);
    }
    struct resp bad;
    http("POST", "/v1/chat/completions",
         "{\"model\":\"gpt-4o\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &bad);
    assert_int_equal(bad.status, 400);
    resp_free(&bad);
}

static void stream_content(const struct sse *s, char *out, size_t out_size, json_t **usage,
                           const char **finish) {
    out[0] = 0;
    *usage = NULL;
    *finish = NULL;
    for (size_t i = 0; i < s->n; i++) {
        json_t *c = s->chunks[i];
        assert_string_equal(json_string_value(json_object_get(c, "object")),
                            "chat.completion.chunk");
        json_t *ch = choice0(c);
        const char *piece =
            json_string_value(json_object_get(json_object_get(ch, "delta"), "content"));
        if (piece)
            strncat(out, piece, out_size - strlen(out) - 1);
        if (json_is_string(json_object_get(ch, "finish_reason")))
            *finish = json_string_value(json_object_get(ch, "finish_reason"));
        if (json_is_object(json_object_get(c, "usage")))
            *usage = json_object_get(c, "usage");
    }
}

static void test_chat_stream(void **state) {
    (void)state;
    const char *plain_body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                             "\"content\":\"Stream a short poem.\"}]}";
    const char *stream_body =
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Stream a short poem.\"}]}";
    struct resp p, r;
    http("POST", "/v1/chat/completions", plain_body, &p);
    http("POST", "/v1/chat/completions", stream_body, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/event-stream");
    struct sse s;
    sse_parse(&r, &s);
    assert_true(s.n >= 5);
    json_t *first = json_object_get(choice0(s.chunks[0]), "delta");
    assert_string_equal(json_string_value(json_object_get(first, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(first, "content")), "");
    /* The last chunk before [DONE] carries usage and no choices. */
    json_t *last = s.chunks[s.n - 1];
    assert_int_equal(json_array_size(json_object_get(last, "choices")), 0);
    char content[4096];
    json_t *usage;
    const char *finish;
    stream_content(&s, content, sizeof content, &usage, &finish);
    json_t *pv = json_of(&p);
    assert_string_equal(content, content_of(pv));
    assert_string_equal(finish, "stop");
    assert_non_null(usage);
    assert_true(json_equal(usage, json_object_get(pv, "usage")));
    json_decref(pv);
    sse_free(&s);
    resp_free(&p);
    resp_free(&r);

    /* Without include_usage: no usage chunk, still [DONE]. */
    http("POST", "/v1/chat/completions",
         "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &r);
    sse_parse(&r, &s);
    for (size_t i = 0; i < s.n; i++) {
        assert_null(json_object_get(s.chunks[i], "usage"));
        assert_int_equal(json_array_size(json_object_get(s.chunks[i], "choices")), 1);
    }
    sse_free(&s);
    resp_free(&r);
}

static void check_args(const char *args) {
    json_error_t e;
    json_t *a = json_loads(args, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(a);
    assert_true(json_is_string(json_object_get(a, "city")));
    assert_true(json_is_integer(json_object_get(a, "days")));
    json_decref(a);
}

static void test_tool_call_plain(void **state) {
    (void)state;
    const char *asks[] = {"Please call get_weather for Paris.", "Just use a tool.",
                          "What's the weather? get_weather please"};
    for (size_t i = 0; i < 3; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"model\":\"gpt-4o-mini\",%s,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"%s\"}]}",
                 TOOLS, asks[i]);
        struct resp r;
        http("POST", "/v1/chat/completions", body, &r);
        assert_int_equal(r.status, 200);
        json_t *v = json_of(&r);
        json_t *c = choice0(v);
        assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "tool_calls");
        json_t *msg = json_object_get(c, "message");
        assert_true(json_is_null(json_object_get(msg, "content")));
        json_t *call = json_array_get(json_object_get(msg, "tool_calls"), 0);
        assert_memory_equal(json_string_value(json_object_get(call, "id")), "call_", 5);
        assert_string_equal(json_string_value(json_object_get(call, "type")), "function");
        json_t *fn = json_object_get(call, "function");
        assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
        check_args(json_string_value(json_object_get(fn, "arguments")));
        json_decref(v);
        resp_free(&r);
    }
    /* Naming the second tool calls it; its schema has no properties: {"query": ...}. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"m\",%s,\"messages\":[{\"role\":\"user\",\"content\":\"search "
             "for cats\"}]}",
             TOOLS);
    struct resp r;
    http("POST", "/v1/chat/completions", body, &r);
    json_t *v = json_of(&r);
    json_t *fn = json_object_get(
        json_array_get(json_object_get(json_object_get(choice0(v), "message"), "tool_calls"), 0),
        "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "search");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")),
                        "{\"query\":\"search for cats\"}");
    json_decref(v);
    resp_free(&r);
    /* Tools offered, not asked for: plain text. tool_choice "none" wins over asking. */
    snprintf(body, sizeof body,
             "{\"model\":\"m\",%s,\"messages\":[{\"role\":\"user\",\"content\":\"Hello.\"}]}",
             TOOLS);
    http("POST", "/v1/chat/completions", body, &r);
    v = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(choice0(v), "finish_reason")), "stop");
    json_decref(v);
    resp_free(&r);
    snprintf(body, sizeof body,
             "{\"model\":\"m\",%s,\"tool_choice\":\"none\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"use a tool\"}]}",
             TOOLS);
    http("POST", "/v1/chat/completions", body, &r);
    v = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(choice0(v), "finish_reason")), "stop");
    json_decref(v);
    resp_free(&r);
}

static void test_tool_call_stream(void **state) {
    (void)state;
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"gpt-4o-mini\",\"stream\":true,%s,\"messages\":[{\"role\":\"user\","
             "\"content\":\"Please call get_weather for Paris.\"}]}",
             TOOLS);
    struct resp r;
    http("POST", "/v1/chat/completions", body, &r);
    assert_int_equal(r.status, 200);
    struct sse s;
    sse_parse(&r, &s);
    json_t *d0 = json_object_get(choice0(s.chunks[0]), "delta");
    json_t *tc0 = json_array_get(json_object_get(d0, "tool_calls"), 0);
    assert_int_equal(int_at(tc0, "index", NULL), 0);
    assert_memory_equal(json_string_value(json_object_get(tc0, "id")), "call_", 5);
    assert_string_equal(json_string_value(json_object_get(tc0, "type")), "function");
    json_t *fn0 = json_object_get(tc0, "function");
    assert_string_equal(json_string_value(json_object_get(fn0, "name")), "get_weather");
    assert_string_equal(json_string_value(json_object_get(fn0, "arguments")), "");
    char args[1024] = "";
    size_t pieces = 0;
    for (size_t i = 1; i + 1 < s.n; i++) {
        json_t *tc = json_array_get(
            json_object_get(json_object_get(choice0(s.chunks[i]), "delta"), "tool_calls"), 0);
        const char *piece =
            json_string_value(json_object_get(json_object_get(tc, "function"), "arguments"));
        assert_non_null(piece);
        strncat(args, piece, sizeof args - strlen(args) - 1);
        pieces++;
    }
    assert_true(pieces >= 3);
    check_args(args);
    assert_string_equal(
        json_string_value(json_object_get(choice0(s.chunks[s.n - 1]), "finish_reason")),
        "tool_calls");
    sse_free(&s);
    resp_free(&r);
}

static void embedding_of(const char *input_json, const char *extra, json_t **data) {
    char body[512];
    snprintf(body, sizeof body, "{\"model\":\"text-embedding-3-small\",\"input\":%s%s}", input_json,
             extra);
    struct resp r;
    http("POST", "/v1/embeddings", body, &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(v, "object")), "list");
    assert_string_equal(json_string_value(json_object_get(v, "model")), "text-embedding-3-small");
    assert_true(int_at(v, "usage", "prompt_tokens") > 0);
    *data = json_incref(json_object_get(v, "data"));
    json_decref(v);
    resp_free(&r);
}

static void test_embeddings(void **state) {
    (void)state;
    json_t *f, *b, *one, *dims, *tokens;
    embedding_of("[\"alpha\",\"beta\"]", ",\"encoding_format\":\"float\"", &f);
    embedding_of("[\"alpha\",\"beta\"]", ",\"encoding_format\":\"base64\"", &b);
    embedding_of("\"alpha\"", "", &one);
    embedding_of("\"alpha\"", ",\"dimensions\":100", &dims);
    embedding_of("[1,2,3]", "", &tokens);
    assert_int_equal(json_array_size(f), 2);
    assert_int_equal(json_array_size(tokens), 1);
    json_t *a = json_object_get(json_array_get(f, 0), "embedding");
    assert_int_equal(json_array_size(a), 8);
    assert_int_equal(int_at(json_array_get(f, 1), "index", NULL), 1);
    assert_false(json_equal(a, json_object_get(json_array_get(f, 1), "embedding")));
    assert_true(json_equal(a, json_object_get(json_array_get(one, 0), "embedding")));
    assert_int_equal(json_array_size(json_object_get(json_array_get(dims, 0), "embedding")), 100);
    double norm = 0;
    for (size_t i = 0; i < 8; i++)
        norm += pow(json_number_value(json_array_get(a, i)), 2);
    assert_true(fabs(norm - 1.0) < 1e-5);
    /* base64 is the little-endian float32 array of the same vector. */
    const char *text = json_string_value(json_object_get(json_array_get(b, 0), "embedding"));
    uint8_t raw[64];
    size_t n = 0;
    assert_int_equal(bw_b64_decode(text, strlen(text), raw, sizeof raw, &n), BW_OK);
    assert_int_equal(n, 32);
    for (size_t i = 0; i < 8; i++) {
        uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                     (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        float x;
        memcpy(&x, &u, 4);
        assert_true(fabs(x - json_number_value(json_array_get(a, i))) < 1e-6);
    }
    json_decref(f);
    json_decref(b);
    json_decref(one);
    json_decref(dims);
    json_decref(tokens);
}

static void expect_status(const char *method, const char *path, const char *body, long status,
                          const char *type) {
    struct resp r;
    http(method, path, body, &r);
    assert_int_equal(r.status, status);
    json_t *v = json_of(&r);
    json_t *err = json_object_get(v, "error");
    assert_true(json_is_string(json_object_get(err, "message")));
    assert_string_equal(json_string_value(json_object_get(err, "type")), type);
    json_decref(v);
    resp_free(&r);
}

static void test_errors(void **state) {
    (void)state;
    const char *ire = "invalid_request_error";
    expect_status("POST", "/v1/chat/completions", "{bad", 400, ire);
    expect_status("POST", "/v1/chat/completions", "", 400, ire);
    expect_status("POST", "/v1/chat/completions", "[1]", 400, ire);
    expect_status("POST", "/v1/chat/completions", "{\"model\":\"a\",\"model\":\"b\"}", 400, ire);
    expect_status("POST", "/v1/chat/completions", "{\"model\":\"x\",\"messages\":[]}", 400, ire);
    expect_status("POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\"}]}", 400, ire);
    expect_status("POST", "/v1/chat/completions",
                  "{\"model\":\"x\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\"}]}", 400,
                  ire);
    expect_status("POST", "/v1/chat/completions", "{\"model\":\"x\",\"messages\":[\"hi\"]}", 400,
                  ire);
    expect_status("POST", "/v1/embeddings", "{\"model\":\"e\",\"input\":[]}", 400, ire);
    expect_status("POST", "/v1/embeddings", "{\"model\":\"e\",\"input\":[{}]}", 400, ire);
    expect_status("POST", "/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":0}",
                  400, ire);
    expect_status("POST", "/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":4097}",
                  400, ire);
    expect_status("POST", "/v1/embeddings",
                  "{\"model\":\"e\",\"input\":\"x\",\"encoding_format\":\"hex\"}", 400, ire);
    expect_status("GET", "/v1/nope", NULL, 404, ire);
    expect_status("GET", "/", NULL, 404, ire);
    expect_status("GET", "/v1/chat/completions", NULL, 405, ire);
    expect_status("POST", "/v1/models", "{}", 405, ire);
    expect_status("DELETE", "/__mock/stats", NULL, 405, ire);

    /* Deeply nested JSON is refused, not recursed into. */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    char body[600];
    snprintf(body, sizeof body, "{\"model\":\"x\",\"a\":%.400s}", deep);
    expect_status("POST", "/v1/chat/completions", body, 400, ire);
}

static void test_body_limit(void **state) {
    (void)state;
    size_t n = BW_MOCK_MAX_BODY + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    struct resp r;
    CURL *c = curl_easy_init();
    assert_int_equal(
        http_on(c, main_srv.port, "POST", "/v1/chat/completions", big, n, NULL, 5000, &r),
        CURLE_OK);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    /* Exactly at the limit is parsed (and then refused for what it says, not its size). */
    big[n - 2] = '}';
    assert_int_equal(
        http_on(c, main_srv.port, "POST", "/v1/chat/completions", big, n - 1, NULL, 5000, &r),
        CURLE_OK);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    curl_easy_cleanup(c);
    free(big);
}

static json_t *stats(void) {
    struct resp r;
    http("GET", "/__mock/stats", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_of(&r);
    resp_free(&r);
    return v;
}

static void test_stats(void **state) {
    (void)state;
    struct resp r;
    http("POST", "/__mock/reset", "", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    json_t *s = stats();
    assert_int_equal(int_at(s, "requests", NULL), 0);
    assert_true(json_is_null(json_object_get(s, "last_authorization")));
    assert_true(json_is_null(json_object_get(s, "last_path")));
    json_decref(s);
    assert_int_equal(http_full(main_srv.port, "POST", "/v1/chat/completions", CHAT_LIGHTHOUSES,
                               "Authorization: Bearer sk-one", 5000, &r),
                     CURLE_OK);
    resp_free(&r);
    assert_int_equal(http_full(main_srv.port, "POST", "/v1/embeddings",
                               "{\"model\":\"e\",\"input\":\"x\"}", "Authorization: Bearer sk-two",
                               5000, &r),
                     CURLE_OK);
    resp_free(&r);
    http("POST", "/v1/chat/completions", "{bad", &r); /* counted: it reached the upstream */
    resp_free(&r);
    http("GET", "/v1/models", NULL, &r); /* not a POST: not counted */
    resp_free(&r);
    s = stats();
    assert_int_equal(int_at(s, "requests", NULL), 3);
    assert_true(json_is_null(json_object_get(s, "last_authorization")));
    assert_string_equal(json_string_value(json_object_get(s, "last_path")), "/v1/chat/completions");
    json_decref(s);
    assert_int_equal(http_full(main_srv.port, "POST", "/v1/embeddings",
                               "{\"model\":\"e\",\"input\":\"x\"}", "Authorization: Bearer sk-two",
                               5000, &r),
                     CURLE_OK);
    resp_free(&r);
    s = stats();
    assert_int_equal(int_at(s, "requests", NULL), 4);
    assert_string_equal(json_string_value(json_object_get(s, "last_authorization")),
                        "Bearer sk-two");
    assert_string_equal(json_string_value(json_object_get(s, "last_path")), "/v1/embeddings");
    json_decref(s);
    http("POST", "/__mock/reset", "", &r);
    resp_free(&r);
    s = stats();
    assert_int_equal(int_at(s, "requests", NULL), 0);
    json_decref(s);
}

static void test_mock_error_and_garbage(void **state) {
    (void)state;
    struct resp r;
    http("POST", "/v1/chat/completions",
         "{\"model\":\"mock-error\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    assert_int_equal(r.status, 500);
    json_t *v = json_of(&r);
    json_t *err = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")),
                        "mock upstream failure");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "server_error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "mock_error");
    json_decref(v);
    resp_free(&r);

    http("POST", "/v1/chat/completions",
         "{\"model\":\"mock-garbage\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body, "this is not json {{{");
    resp_free(&r);

    http("POST", "/v1/chat/completions",
         "{\"model\":\"mock-garbage\",\"stream\":true,\"messages\":[]}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/event-stream");
    assert_memory_equal(r.body, "data: ", 6);
    json_error_t e;
    assert_null(json_loadb(r.body + 6, r.len - 6, JSON_DISABLE_EOF_CHECK, &e));
    resp_free(&r);
}

static json_int_t held_now(void) {
    json_t *s = stats();
    json_int_t held = int_at(s, "held", NULL);
    json_decref(s);
    return held;
}

static void wait_held(json_int_t want) {
    for (int i = 0; i < 200 && held_now() != want; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(held_now(), want);
}

static void test_mock_hang(void **state) {
    (void)state;
    struct resp r;
    CURLcode rc = http_full(main_srv.port, "POST", "/v1/chat/completions",
                            "{\"model\":\"mock-hang\",\"messages\":[]}", NULL, 300, &r);
    assert_int_equal(rc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.len, 0);
    resp_free(&r);
    /* The client left: the mock lets go of the request. */
    wait_held(0);
}

static void test_slow_stream(void **state) {
    (void)state;
    struct resp r;
    CURLcode rc = http_full(main_srv.port, "POST", "/v1/chat/completions",
                            "{\"model\":\"mock-slow-stream\",\"stream\":true,\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"go\"}]}",
                            NULL, 700, &r);
    assert_int_equal(rc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.status, 200);
    /* A role chunk at once, then one per 200 ms: about 4 in 700 ms. */
    size_t events = 0;
    for (const char *p = r.body; p && (p = strstr(p, "data: ")); p += 6)
        events++;
    assert_true(events >= 3 && events <= 5);
    assert_null(strstr(r.body, "[DONE]"));
    resp_free(&r);
    wait_held(0);
}

static void test_latency(void **state) {
    (void)state;
    struct server slow;
    server_start(&slow, 250);
    struct resp r;
    assert_int_equal(
        http_full(slow.port, "POST", "/v1/chat/completions", CHAT_LIGHTHOUSES, NULL, 5000, &r),
        CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(r.seconds >= 0.24);
    json_t *v = json_of(&r);
    json_decref(v);
    resp_free(&r);
    /* Streams too; and a request still waiting when the mock is freed is released. */
    assert_int_equal(http_full(slow.port, "POST", "/v1/chat/completions",
                               "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":"
                               "\"user\",\"content\":\"x\"}]}",
                               NULL, 5000, &r),
                     CURLE_OK);
    assert_true(r.seconds >= 0.24);
    struct sse s;
    sse_parse(&r, &s);
    sse_free(&s);
    resp_free(&r);
    assert_int_equal(
        http_full(slow.port, "POST", "/v1/chat/completions", CHAT_LIGHTHOUSES, NULL, 100, &r),
        CURLE_OPERATION_TIMEDOUT);
    resp_free(&r);
    server_stop(&slow);
}

/* A raw connection that sends one request and stays open (curl would time out and close). */
static int open_request(int port, const char *body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    return fd;
}

static json_int_t held_on(int port) {
    struct resp r;
    assert_int_equal(http_full(port, "GET", "/__mock/stats", NULL, NULL, 5000, &r), CURLE_OK);
    json_t *v = json_of(&r);
    json_int_t held = int_at(v, "held", NULL);
    json_decref(v);
    resp_free(&r);
    return held;
}

/* Freeing the mock while it holds a hang, a slow stream and a delayed answer releases all. */
static void test_free_while_holding(void **state) {
    (void)state;
    struct server s;
    server_start(&s, 50);
    int fds[3];
    fds[0] = open_request(s.port, "{\"model\":\"mock-hang\",\"messages\":[]}");
    fds[1] = open_request(s.port, "{\"model\":\"mock-slow-stream\",\"stream\":true,"
                                  "\"messages\":[]}");
    fds[2] = open_request(s.port, "{\"model\":\"mock-hang\",\"messages\":[]}");
    for (int i = 0; i < 200 && held_on(s.port) != 3; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(held_on(s.port), 3);
    server_stop(&s);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

static void test_keepalive(void **state) {
    (void)state;
    CURL *c = curl_easy_init();
    for (int i = 0; i < 20; i++) {
        struct resp r;
        const char *body = i % 2 ? CHAT_LIGHTHOUSES : "{\"model\":\"e\",\"input\":\"x\"}";
        const char *path = i % 2 ? "/v1/chat/completions" : "/v1/embeddings";
        assert_int_equal(
            http_on(c, main_srv.port, "POST", path, body, strlen(body), NULL, 5000, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        long connects = -1;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, i == 0 ? 1 : 0);
        resp_free(&r);
    }
    curl_easy_cleanup(c);
}

static void test_start_errors(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct bw_mock *m = NULL;
    int port = 0;
    /* The port is taken (without reuse_port). */
    assert_int_equal(bw_mock_start(base, "127.0.0.1", main_srv.port, 0, &m, &port), BW_E_IO);
    assert_null(m);
    assert_int_equal(bw_mock_start(base, "127.0.0.1", 70000, 0, &m, &port), BW_E_INVALID);
    bw_mock_free(NULL);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_helpers),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_chat_plain),
        cmocka_unit_test(test_chat_parts_and_usage),
        cmocka_unit_test(test_chat_deterministic),
        cmocka_unit_test(test_chat_max_tokens),
        cmocka_unit_test(test_chat_stream),
        cmocka_unit_test(test_tool_call_plain),
        cmocka_unit_test(test_tool_call_stream),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_mock_error_and_garbage),
        cmocka_unit_test(test_mock_hang),
        cmocka_unit_test(test_slow_stream),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_free_while_holding),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_start_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
