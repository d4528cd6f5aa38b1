/* egress_resolve.c: the address checks. bw_egress_check_addr is the connect-time rule; the
 * save-time check resolves a name with the system resolver and applies the same rule to every
 * answer, so a name with one private record among public ones is refused (an attacker who
 * controls a zone picks which record a client uses). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "egress/egress_internal.h"
#include "metrics/metrics.h"

bw_err bw_egress_check_addr(const struct bw_egress_policy *p, const struct sockaddr *sa,
                            socklen_t len, char *why, size_t why_size) {
    char text[INET6_ADDRSTRLEN] = "?";
    const char *no = NULL;
    if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        const uint8_t *a = (const uint8_t *)&in->sin_addr;
        if (bw_egress_policy_has_addr(p, 4, a, ntohs(in->sin_port)))
            return BW_OK;
        no = bw_egress_classify_v4(ntohl(in->sin_addr.s_addr));
        inet_ntop(AF_INET, a, text, sizeof text);
    } else if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = in6->sin6_addr.s6_addr;
        if (bw_egress_policy_has_addr(p, 6, a, ntohs(in6->sin6_port)))
            return BW_OK;
        no = bw_egress_classify_v6(a);
        inet_ntop(AF_INET6, a, text, sizeof text);
    } else {
        bw_egress_why(why, why_size, "not an IPv4 or IPv6 socket address");
        return BW_E_DENIED;
    }
    if (!no)
        return BW_OK;
    bw_egress_why(why, why_size, "%s is %s", text, no);
    return BW_E_DENIED;
}

static bw_err resolve_error(int rc, const char *host, char *why, size_t ws) {
    switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        bw_egress_why(why, ws, "%s does not resolve", host);
        return BW_E_DENIED;
    case EAI_MEMORY:
        return BW_E_NOMEM;
    default:
        bw_egress_why(why, ws, "cannot resolve %s: %s", host, gai_strerror(rc));
        return BW_E_UNAVAILABLE;
    }
}

static bw_err check_answers(const struct bw_egress_policy *p, const struct addrinfo *res,
                            const char *host, char *why, size_t ws) {
    size_t count = 0;
    char one[BW_EGRESS_WHY_SIZE];
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (++count > BW_EGRESS_ADDRS_MAX) {
            bw_egress_why(why, ws, "%s has more than %d addresses", host, BW_EGRESS_ADDRS_MAX);
            return BW_E_TOO_LARGE;
        }
        if (bw_egress_check_addr(p, ai->ai_addr, ai->ai_addrlen, one, sizeof one) != BW_OK) {
            bw_egress_why(why, ws, "%s resolves to a blocked address: %s", host, one);
            return BW_E_DENIED;
        }
    }
    if (count == 0) {
        bw_egress_why(why, ws, "%s does not resolve", host);
        return BW_E_DENIED;
    }
    return BW_OK;
}

bw_err bw_egress_check_url(const struct bw_egress_policy *p, const char *url,
                           struct bw_egress_target *out, char *why, size_t why_size) {
    static const struct bw_egress_target zero; /* an all-zero initialiser, never written */
    struct bw_egress_target t = zero;
    BW_TRY(bw_egress_check_url_static(p, url, &t, why, why_size));
    if (!t.allowlisted && !t.literal) {
        /* No AI_ADDRCONFIG: every record is judged, including families this host lacks now. */
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)t.port);
        int rc = getaddrinfo(t.host, port, &hints, &res);
        if (rc != 0)
            return resolve_error(rc, t.host, why, why_size);
        bw_err e = check_answers(p, res, t.host, why, why_size);
        freeaddrinfo(res);
        if (e == BW_E_DENIED) /* a name that resolves to a blocked address */
            bw_metrics_egress_block(BW_METRICS_EGRESS_URL);
        BW_TRY(e);
    }
    *out = t;
    return BW_OK;
}
