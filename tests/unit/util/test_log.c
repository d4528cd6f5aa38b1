/* Unit tests: util/log (the redaction filter, the sink's queue and file) and http/reqlog's line
 * format (typed fields only; a field that is not what it claims becomes null). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <cmocka.h>

#include "http/reqlog.h"
#include "util/log.h"

static const char *redact(const char *in) {
    static char out[BW_LOG_MAX_MESSAGE + 32];
    bw_log_redact(in, out, sizeof out);
    return out;
}

/* `secret` must not survive in the redacted form of `msg`, nor its first 12 characters. */
static void assert_masked(const char *msg, const char *secret) {
    const char *r = redact(msg);
    if (strstr(r, secret))
        fail_msg("not masked: \"%s\" -> \"%s\"", msg, r);
    char head[13];
    snprintf(head, sizeof head, "%s", secret);
    if (strlen(secret) > 12 && strstr(r, head))
        fail_msg("a prefix survived: \"%s\" -> \"%s\"", msg, r);
}

static void redact_masks_credentials(void **state) {
    (void)state;
    const char *bwk = "bwk_ztMC2Y7lsUqwKxcwsev0mx5bXFJtSNL9PSEA8i-gxBI";
    const char *bwp = "bwp_8Y4jaUnqC2OfBe08YVPsm1ls2Zi_bGaGUX8HE7nNcAk";
    char m[600];
    snprintf(m, sizeof m, "key %s rejected", bwk);
    assert_masked(m, bwk + 4);
    snprintf(m, sizeof m, "widget=%s", bwp);
    assert_masked(m, bwp + 4);
    assert_masked("upstream said: invalid key sk-proj-abcdefghijklmnop1234567890",
                  "abcdefghijklmnop");
    assert_masked("stripe sk_live_51Habcdefghijklmnopqrstuvwxyz", "51Habcdefghijk");
    assert_masked("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw and more", "MfKQ9r8GKYqrTwjUPD8I");
    assert_masked("gh token ghp_CANARY0123456789abcdef", "CANARY0123456789");
    assert_masked("sent Authorization: Bearer abc.def.ghi-jkl_mno", "abc.def.ghi");
    assert_masked("{\"authorization\":\"Basic dXNlcjpwYXNzd29yZA==\"}", "dXNlcjpwYXNzd29yZA");
    assert_masked("header authorization=opaque-token-value, next", "opaque-token-value");
    assert_masked("got bearer   eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9");
    assert_masked("password=hunter2hunter2 user=x", "hunter2hunter2");
    assert_masked("\"api_key\": \"0123456789abcdef0123\"", "0123456789abcdef0123");
    /* URLs: userinfo and query strings go, the host and path stay */
    const char *r =
        redact("cannot reach postgres://bulwark:s3cr3tpw@db.internal:5432/bw?sslmode=x");
    assert_null(strstr(r, "s3cr3tpw"));
    assert_null(strstr(r, "sslmode"));
    assert_non_null(strstr(r, "db.internal:5432/bw"));
    r = redact("POST https://hooks.example/path/x?token=CANARY123456&sig=abc failed");
    assert_null(strstr(r, "CANARY123456"));
    assert_non_null(strstr(r, "https://hooks.example/path/x?"));
    assert_non_null(strstr(r, " failed"));
    /* a sealed record (or anything long and opaque) in base64 or hex */
    char sealed[400];
    for (int i = 0; i < 200; i++)
        sealed[i] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_"[(i * 37) % 64];
    sealed[200] = 0;
    snprintf(m, sizeof m, "record %s", sealed);
    assert_masked(m, sealed + 20);
}

/* Every name and scheme in any case, every prefix as written: the redactor skips a table entry
 * on its first byte before comparing the rest, so each must still be reached. */
static void redact_every_name_scheme_and_prefix(void **state) {
    (void)state;
    static const char *const names[] = {"authorization", "proxy-authorization",
                                        "x-api-key",     "api-key",
                                        "api_key",       "apikey",
                                        "password",      "passwd",
                                        "secret",        "token",
                                        "cookie",        "set-cookie"};
    static const char *const prefixes[] = {
        "bwk_", "bwp_", "bwc_", "sk-",         "sk_",     "rk_",  "whsec_", "ghp_",  "gho_",
        "ghs_", "ghu_", "ghr_", "github_pat_", "secret_", "ntn_", "xoxb-",  "xoxp-", "AKIA"};
    char m[200], name[40];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int form = 0; form < 3; form++) { /* lower, UPPER, Capitalized */
            size_t n = strlen(names[i]);
            for (size_t k = 0; k <= n; k++)
                name[k] = form == 1 || (form == 2 && k == 0)
                              ? (char)(names[i][k] >= 'a' && names[i][k] <= 'z' ? names[i][k] - 32
                                                                                : names[i][k])
                              : names[i][k];
            snprintf(m, sizeof m, "sent %s: CANARYvalue42 then", name);
            assert_masked(m, "CANARYvalue42");
        }
    assert_masked("auth BEARER CANARYtoken1234", "CANARYtoken1234");
    assert_masked("auth Basic CANARYtoken1234", "CANARYtoken1234");
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(m, sizeof m, "saw %sCANARY0123456789 here", prefixes[i]);
        assert_masked(m, "CANARY0123456789");
    }
}

static void redact_keeps_ordinary_text(void **state) {
    (void)state;
    const char *plain[] = {
        "ledger bulwark/724d23a4: opened at size 0",
        "bulwark listening on 127.0.0.1:41913 (workers=2, ledger bulwark/724d23a4)",
        "policy /tmp/bw-it-data-x/data/policy.yaml loaded: 5 rules, sha256 "
        "7c2a020ad6c1f0d8428b9d7e6af91937ada00d83add1aeac02ecb9fc89ace75e",
        "proxy: tool call 0: allow (ALLOWED, rule chat)",
        "policy "
        "/tmp/bw-it-data-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"
        "cccccccccccccccccccccccccccccccccccccccccccccccccccc/policy.yaml: line 3", /* long path */
        "a valid Bearer token is required; the task-runner asked", /* prose, not credentials */
        "outbox: event evt_1 to connection con_2: attempt 3 failed (HTTP_500)",
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        assert_string_equal(redact(plain[i]), plain[i]);
}

static void redact_bounds_and_control_bytes(void **state) {
    (void)state;
    /* a newline would let a message forge a second (request) line */
    assert_string_equal(redact("a\nb\r{\"x\":1}\x1b[31m\xc3\xa9"), "a?b?{\"x\":1}?[31m??");
    char big[4000];
    memset(big, 'a', sizeof big - 1);
    for (size_t i = 0; i < sizeof big - 1; i += 10)
        big[i] = ' ';
    big[sizeof big - 1] = 0;
    const char *r = redact(big);
    assert_true(strlen(r) <= BW_LOG_MAX_MESSAGE);
    assert_non_null(strstr(r, "...[cut]"));
    char small[16];
    size_t got = bw_log_redact("sk-abcdefghijklmnopqrstu", small, sizeof small);
    assert_int_equal(got, strlen(small));
    assert_null(strstr(small, "abcdefgh"));
    assert_int_equal(bw_log_redact(NULL, small, sizeof small), 0);
    char tiny[4] = "xyz";
    assert_int_equal(bw_log_redact("hello", tiny, sizeof tiny), 0);
    assert_string_equal(tiny, "");
}

static size_t format(const struct bw_reqlog_fields *f, int text, char *out, size_t n) {
    return bw_reqlog_format(f, text, out, n);
}

static void reqlog_line_is_typed(void **state) {
    (void)state;
    struct bw_reqlog_fields f = {
        .time_ms = 1700000000123,
        .latency_us = 12345,
        .request_id = "0123456789abcdef",
        .method = "POST",
        .route = "chat",
        .org_id = "org_1",
        .agent = "support-bot",
        .key_id = "key_2",
        .decision = "deny",
        .reason = "MODEL_TOO_COSTLY",
        .receipt_id = "abcd1234.7",
        .http_status = 403,
        .upstream_status = 0,
    };
    char out[1024];
    size_t n = format(&f, 0, out, sizeof out);
    assert_true(n > 0);
    assert_int_equal(strlen(out), n);
    json_error_t e;
    json_t *j = json_loadb(out, n, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "reason_code")), "MODEL_TOO_COSTLY");
    assert_string_equal(json_string_value(json_object_get(j, "receipt_id")), "abcd1234.7");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 403);
    assert_true(json_is_null(json_object_get(j, "upstream_status")));
    assert_true(json_real_value(json_object_get(j, "latency_ms")) > 12.2);
    assert_int_equal(json_object_size(j), 14);
    json_decref(j);
    /* fields that are not what they claim to be are null: a key, free text, a path */
    f.agent = "bwk_ztMC2Y7lsUqwKxcwsev0mx5bXFJtSNL9PSEA8i-gxBI";
    f.reason = "the upstream said: Bearer sk-abc";
    f.route = "/v1/chat?token=x";
    f.org_id = "org 1\n{\"x\":1}";
    f.receipt_id = "not-a-receipt";
    f.decision = "DENY";
    n = format(&f, 0, out, sizeof out);
    assert_int_equal(strlen(out), n); /* one whole line: no NUL inside (JSON parsers skip it) */
    j = json_loadb(out, n, 0, &e);
    assert_non_null(j);
    const char *nulls[] = {"agent", "reason_code", "route", "org", "receipt_id", "decision"};
    for (size_t i = 0; i < 6; i++)
        assert_true(json_is_null(json_object_get(j, nulls[i])));
    assert_null(strstr(out, "ztMC2Y7l"));
    json_decref(j);
    /* text format, and a line that does not fit is not written */
    f.agent = "bot";
    n = format(&f, 1, out, sizeof out);
    assert_non_null(strstr(out, " request request_id=0123456789abcdef method=POST route=- "));
    assert_non_null(strstr(out, "agent=bot "));
    assert_int_equal(format(&f, 0, out, 40), 0);
}

static void sink_writes_file_and_reopens(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-log-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], moved[256];
    snprintf(path, sizeof path, "%s/a.log", dir);
    snprintf(moved, sizeof moved, "%s/a.log.1", dir);
    assert_int_equal(bw_log_sink_start(path, 4), BW_OK);
    assert_int_equal(bw_log_sink_start(path, 4), BW_E_INVALID); /* once */
    bw_log(BW_LOG_WARN, "first sk-secretsecretsecret1234");
    bw_log_sink_line("{\"line\":2}", 10);
    for (int i = 0; i < 2000; i++) /* far more than the queue holds: dropped, never blocking */
        bw_log_sink_line("x", 1);
    usleep(100000);
    assert_int_equal(rename(path, moved), 0);
    bw_log_sink_reopen();
    usleep(100000);
    bw_log(BW_LOG_ERROR, "after the reopen");
    bw_log_sink_stop();
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char buf[8192] = "";
    FILE *f = fopen(moved, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_non_null(strstr(buf, " warn first sk-[REDACTED]\n"));
    assert_non_null(strstr(buf, "{\"line\":2}\n"));
    assert_null(strstr(buf, "secretsecret"));
    assert_true(bw_log_sink_dropped() > 0);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_non_null(strstr(buf, " error after the reopen\n"));
    unlink(path);
    unlink(moved);
    /* a symlink where the log goes is refused */
    assert_int_equal(symlink(moved, path), 0);
    assert_int_equal(bw_log_sink_start(path, 4), BW_E_IO);
    assert_int_equal(access(moved, F_OK), -1); /* nothing created through it */
    unlink(path);
    rmdir(dir);
}

struct sink_writer {
    int id;
};

static void *sink_lines(void *arg) {
    const struct sink_writer *w = arg;
    char line[64];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(line, sizeof line, "{\"w\":%d,\"i\":%04d,\"pad\":\"%0*d\"}", w->id, i,
                         20 + i % 17, 0);
        bw_log_sink_line(line, (size_t)n);
        if (i % 64 == 0)
            usleep(300); /* some lines alone, some in batches */
    }
    return NULL;
}

/* Lines from two threads leave in batches (one write per batch, or per PIPE_BUF on a pipe):
 * every line arrives whole, once, and each thread's lines in order. */
static void check_lines(const char *buf) {
    int next[2] = {0, 0};
    for (const char *p = buf; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        int w = -1, i = -1;
        assert_int_equal(sscanf(p, "{\"w\":%d,\"i\":%d,", &w, &i), 2);
        assert_true(w == 0 || w == 1);
        assert_int_equal(i, next[w]);
        assert_int_equal(nl[-1], '}');
        next[w]++;
        p = nl + 1;
    }
    assert_int_equal(next[0], 3000);
    assert_int_equal(next[1], 3000);
}

static void sink_batches_whole_lines(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-log-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/b.log", dir);
    assert_int_equal(bw_log_sink_start(path, 8192), BW_OK);
    pthread_t t[2];
    struct sink_writer w[2] = {{0}, {1}};
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&t[k], NULL, sink_lines, &w[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    bw_log_sink_stop(); /* drains the queue first */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    check_lines(buf);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redact_masks_credentials),
        cmocka_unit_test(redact_every_name_scheme_and_prefix),
        cmocka_unit_test(redact_keeps_ordinary_text),
        cmocka_unit_test(redact_bounds_and_control_bytes),
        cmocka_unit_test(reqlog_line_is_typed),
        cmocka_unit_test(sink_writes_file_and_reopens),
        cmocka_unit_test(sink_batches_whole_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
