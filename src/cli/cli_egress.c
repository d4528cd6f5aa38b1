/* bulwark egress: the egress guard from the command line (docs/EGRESS.md).
 *   check URL   the save-time check (parse, name rules, resolve, every A/AAAA allowed)
 *   fetch URL   one GET as a dispatch would do it: name rules, then the connect-time hook on the
 *               address libcurl dials; redirects followed by hand, each hop re-checked. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "egress/egress.h"
#include "util/buf.h"

#define EXIT_BLOCK 3

static const char usage[] =
    "usage: bulwark egress check URL [--allow CIDR|HOST:PORT]...\n"
    "       bulwark egress fetch URL [--allow CIDR|HOST:PORT]... [--max-redirects N]\n"
    "                                [--max-bytes N] [--timeout-ms N]\n"
    "\n"
    "check: applies the save-time egress rules to URL (http/https only, no userinfo, canonical\n"
    "IPv4, IDNA-normalised names, no local or metadata names), resolves it with the system\n"
    "resolver and requires every address to be outside special-purpose space. Prints 'allow'\n"
    "(exit 0) or 'block: <reason>' (exit 3).\n"
    "\n"
    "fetch: GETs URL the way a dispatch does: the URL and name rules, then the connect-time check\n"
    "on every address libcurl connects to (no separate pre-resolution, so DNS rebinding meets the\n"
    "connect-time check). Redirects (at most N, default 5) are followed by hand and re-checked.\n"
    "Prints the final body to stdout and 'HTTP <status>' to stderr (exit 0), or 'block: <reason>'\n"
    "(exit 3). Body cap default 1048576 bytes; total time cap default 10000 ms.\n"
    "\n"
    "--allow adds an operator allowlist entry (repeatable): A.B.C.D/N or IPV6/N, or HOST:PORT /\n"
    "[IPV6]:PORT. Exit 2 on misuse, 1 on other failures.\n";

struct egress_args {
    const char *verb, *url;
    const char *allow[BW_EGRESS_ALLOW_MAX];
    size_t nallow;
    long max_redirects, max_bytes, timeout_ms;
};

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_option(struct egress_args *a, const char *opt, const char *val) {
    if (!val)
        return -1;
    if (strcmp(opt, "--allow") == 0) {
        if (a->nallow >= BW_EGRESS_ALLOW_MAX)
            return -1;
        a->allow[a->nallow++] = val;
        return 0;
    }
    if (strcmp(opt, "--max-redirects") == 0)
        return parse_long(val, 0, 20, &a->max_redirects);
    if (strcmp(opt, "--max-bytes") == 0)
        return parse_long(val, 1, 1L << 30, &a->max_bytes);
    if (strcmp(opt, "--timeout-ms") == 0)
        return parse_long(val, 1, 600000, &a->timeout_ms);
    return -1;
}

static int parse_args(int argc, char **argv, struct egress_args *a) {
    const struct bw_cmd *cmd = &bw_cmd_egress;
    memset(a, 0, sizeof *a);
    a->max_redirects = 5;
    a->max_bytes = 1L << 20;
    a->timeout_ms = 10000;
    if (argc < 2)
        return bw_cli_usage_error(cmd, "expected 'check' or 'fetch'");
    a->verb = argv[1];
    if (strcmp(a->verb, "check") != 0 && strcmp(a->verb, "fetch") != 0)
        return bw_cli_usage_error(cmd, "unknown verb '%.32s'", a->verb);
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            int fetch_only = strcmp(argv[i], "--allow") != 0;
            if ((fetch_only && strcmp(a->verb, "fetch") != 0) ||
                parse_option(a, argv[i], i + 1 < argc ? argv[i + 1] : NULL) != 0)
                return bw_cli_usage_error(cmd, "bad option or value for '%.32s'", argv[i]);
            i++;
        } else if (!a->url) {
            a->url = argv[i];
        } else {
            return bw_cli_usage_error(cmd, "unexpected argument '%.64s'", argv[i]);
        }
    }
    if (!a->url)
        return bw_cli_usage_error(cmd, "URL is required");
    return 0;
}

static int block(const char *why) {
    printf("block: %s\n", why);
    return EXIT_BLOCK;
}

static int body_sink(void *ctx, const char *data, size_t len) {
    return bw_buf_append(ctx, data, len) == BW_OK ? 0 : 1;
}

/* One hop. Returns -1 on success with *status set, else the process exit code. */
static int fetch_once(const struct egress_args *a, const struct bw_egress_policy *p,
                      const struct bw_egress_target *t, struct bw_buf *body, long *status,
                      char *location, size_t location_size) {
    const struct bw_cmd *cmd = &bw_cmd_egress;
    CURL *easy = curl_easy_init();
    if (!easy)
        return bw_cli_fail(cmd, "libcurl initialisation failed");
    static struct bw_egress_conn conn; /* large; fixed address for the callbacks; CLI main thread */
    struct bw_egress_limits lim = {a->timeout_ms, a->timeout_ms, (curl_off_t)a->max_bytes};
    bw_buf_reset(body);
    int rc = -1;
    if (bw_egress_curl_apply(easy, p, t, &lim, body_sink, body, &conn) != BW_OK) {
        rc = bw_cli_fail(cmd, "cannot configure libcurl");
        goto out;
    }
    CURLcode cr = curl_easy_perform(easy);
    if (cr != CURLE_OK) {
        rc = conn.blocked && cr == CURLE_COULDNT_CONNECT ? block(conn.why)
             : conn.too_large || cr == CURLE_FILESIZE_EXCEEDED
                 ? bw_cli_fail(cmd, "response body larger than %ld bytes", a->max_bytes)
                 : bw_cli_fail(cmd, "transfer failed: %s", curl_easy_strerror(cr));
        goto out;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    struct curl_header *h = NULL;
    location[0] = 0;
    if (curl_easy_header(easy, "Location", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        snprintf(location, location_size, "%s", h->value);
out:
    curl_easy_cleanup(easy);
    return rc;
}

static int is_redirect(long status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int fetch(const struct egress_args *a, const struct bw_egress_policy *p) {
    static struct bw_egress_target t, next; /* CLI: main thread only */
    char why[BW_EGRESS_WHY_SIZE], location[BW_EGRESS_URL_MAX];
    if (bw_egress_check_url_static(p, a->url, &t, why, sizeof why) != BW_OK)
        return block(why);
    struct bw_buf body;
    bw_buf_init(&body, (size_t)a->max_bytes);
    long status = 0;
    int rc = -1;
    for (long hop = 0; rc < 0; hop++) {
        rc = fetch_once(a, p, &t, &body, &status, location, sizeof location);
        if (rc >= 0)
            break;
        if (!is_redirect(status) || !location[0])
            break;
        if (hop >= a->max_redirects) {
            rc = bw_cli_fail(&bw_cmd_egress, "more than %ld redirects", a->max_redirects);
        } else if (bw_egress_redirect(p, t.url, location, &next, why, sizeof why) != BW_OK) {
            char msg[BW_EGRESS_WHY_SIZE + 32];
            snprintf(msg, sizeof msg, "redirect refused: %s", why);
            rc = block(msg);
        } else {
            t = next;
        }
    }
    if (rc < 0) {
        size_t put = fwrite(body.ptr ? (const char *)body.ptr : "", 1, body.len, stdout);
        fprintf(stderr, "HTTP %ld\n", status);
        rc = put == body.len ? 0 : 1; /* a body that did not reach stdout fails the command */
    }
    bw_buf_cleanup(&body);
    return rc;
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_egress;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    static struct egress_args a; /* CLI: main thread only */
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    struct bw_egress_policy *p = NULL;
    char why[BW_EGRESS_WHY_SIZE];
    if (bw_egress_policy_new(a.allow, a.nallow, &p, why, sizeof why) != BW_OK)
        return bw_cli_usage_error(cmd, "%s", why);
    if (strcmp(a.verb, "check") == 0) {
        static struct bw_egress_target t; /* CLI: main thread only */
        bw_err e = bw_egress_check_url(p, a.url, &t, why, sizeof why);
        rc = e == BW_OK        ? (printf("allow\n"), 0)
             : e == BW_E_NOMEM ? bw_cli_fail(cmd, "out of memory")
                               : block(why);
    } else if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = bw_cli_fail(cmd, "libcurl initialisation failed");
    } else {
        rc = fetch(&a, p);
        curl_global_cleanup();
    }
    bw_egress_policy_free(p);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1; /* the output did not arrive */
    return rc;
}

const struct bw_cmd bw_cmd_egress = {
    .name = "egress",
    .summary = "check or fetch a URL through the egress guard",
    .usage = usage,
    .run = run,
};
