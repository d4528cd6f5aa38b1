/* egress_curl.c: applying the guard to a libcurl easy handle. The check that matters is the
 * opensocket hook: libcurl calls it with the exact address of every connection attempt (each
 * A/AAAA record, happy-eyeballs races, retries), after its own DNS lookup. A name that resolved
 * to a public address at save time and to a private one now (DNS rebinding) is refused here. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "egress/egress_internal.h"
#include "metrics/metrics.h"

#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_TOTAL_MS 60000L
#define DEFAULT_MAX_BYTES ((curl_off_t)16 << 20)

static uint16_t sockaddr_port(const struct curl_sockaddr *a) {
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        return ntohs(((const struct sockaddr_in *)&a->addr)->sin_port);
    if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        return ntohs(((const struct sockaddr_in6 *)&a->addr)->sin6_port);
    return 0;
}

static curl_socket_t open_checked(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    struct bw_egress_conn *c = clientp;
    int ok = 0;
    char why[BW_EGRESS_WHY_SIZE] = "not an outbound connection";
    if (purpose == CURLSOCKTYPE_IPCXN) {
        /* A HOST:PORT allowlist entry naming this very host trusts its resolution (EGRESS.md),
         * still only for the entry's port and only for IP sockets. */
        int ip = a->family == AF_INET || a->family == AF_INET6;
        if (c->target.allowlisted && ip && sockaddr_port(a) == c->target.port)
            ok = 1;
        else
            ok = bw_egress_check_addr(c->policy, &a->addr, a->addrlen, why, sizeof why) == BW_OK;
    }
    if (!ok) {
        c->blocked = 1;
        bw_metrics_egress_block(BW_METRICS_EGRESS_CONNECT);
        bw_egress_why(c->why, sizeof c->why, "connect refused: %s", why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* The second size cap: CURLOPT_MAXFILESIZE_LARGE only acts on a declared Content-Length. */
static size_t write_capped(char *data, size_t size, size_t nmemb, void *userp) {
    struct bw_egress_conn *c = userp;
    size_t n = size * nmemb; /* libcurl guarantees size == 1 */
    if ((curl_off_t)n > c->max_bytes - c->received) {
        c->too_large = 1;
        bw_egress_why(c->why, sizeof c->why, "response body exceeds %lld bytes",
                      (long long)c->max_bytes);
        return 0; /* CURLE_WRITE_ERROR */
    }
    c->received += (curl_off_t)n;
    if (c->sink && c->sink(c->sink_ctx, data, n) != 0)
        return 0;
    return n;
}

static CURLcode set_guard_options(CURL *e, struct bw_egress_conn *c, long connect_ms,
                                  long total_ms) {
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_URL, c->target.url);
    rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, 0L);
    /* "" disables proxies even when http_proxy/HTTPS_PROXY/ALL_PROXY are set; NOPROXY "*" makes
     * sure no later proxy setting applies either. */
    rc |= curl_easy_setopt(e, CURLOPT_PROXY, "");
    rc |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    /* Options that would make libcurl dial something other than the checked host. */
    rc |= curl_easy_setopt(e, CURLOPT_RESOLVE, (struct curl_slist *)NULL);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECT_TO, (struct curl_slist *)NULL);
    rc |= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, (char *)NULL);
    rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, c->max_bytes);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_capped);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return rc;
}

bw_err bw_egress_curl_apply(CURL *easy, const struct bw_egress_policy *p,
                            const struct bw_egress_target *target,
                            const struct bw_egress_limits *limits, bw_egress_sink_fn sink,
                            void *sink_ctx, struct bw_egress_conn *conn) {
    BW_ENSURE(easy && target && conn, BW_E_INVALID);
    memset(conn, 0, sizeof *conn);
    conn->policy = p;
    conn->target = *target;
    conn->sink = sink;
    conn->sink_ctx = sink_ctx;
    long connect_ms =
        limits && limits->connect_timeout_ms > 0 ? limits->connect_timeout_ms : DEFAULT_CONNECT_MS;
    long total_ms =
        limits && limits->total_timeout_ms > 0 ? limits->total_timeout_ms : DEFAULT_TOTAL_MS;
    conn->max_bytes =
        limits && limits->max_response_bytes > 0 ? limits->max_response_bytes : DEFAULT_MAX_BYTES;
    /* OR-ing CURLcodes only tells "some option failed", which is all that is needed here. */
    return set_guard_options(easy, conn, connect_ms, total_ms) == CURLE_OK ? BW_OK : BW_E_INTERNAL;
}
