/* egress.h: the egress guard. Every outbound request Bulwark makes (upstreams, webhooks, vault
 * connections) goes through this module, so no agent or configuration can make the gateway talk
 * to loopback, private networks, link-local cloud metadata services or other special-purpose
 * address space (SSRF). docs/EGRESS.md has the rules and their sources.
 *
 * Three checkpoints:
 *   save time     bw_egress_check_url: parse + name rules + resolve; every A/AAAA must be allowed.
 *                 Blocking (getaddrinfo): call it from the admin path, never on an event worker.
 *   dispatch time bw_egress_check_url_static (parse + name rules + literal addresses, no DNS) and
 *                 bw_egress_curl_apply, which installs the connect-time hook.
 *   connect time  bw_egress_check_addr, called by the hook on the address libcurl actually
 *                 connects to, for every attempt. This is what defeats DNS rebinding: the
 *                 save-time answer is never trusted at connect time.
 * Redirects are never followed by libcurl; callers use bw_egress_redirect on each Location.
 *
 * All functions are thread-safe: a policy is immutable after bw_egress_policy_new. Reasons
 * written to `why` are one line of printable ASCII, never contain a URL's path, query or
 * userinfo (they may carry secrets), and are truncated to why_size. */
#ifndef BW_EGRESS_EGRESS_H
#define BW_EGRESS_EGRESS_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/err.h"

#define BW_EGRESS_URL_MAX 4096  /* longer URLs are refused (BW_E_TOO_LARGE) */
#define BW_EGRESS_HOST_MAX 256  /* RFC 1035 2.3.4: 253 octets of name, plus brackets/NUL */
#define BW_EGRESS_ADDRS_MAX 32  /* more A/AAAA records than this: block */
#define BW_EGRESS_ALLOW_MAX 256 /* allowlist entries */
#define BW_EGRESS_WHY_SIZE 192  /* a comfortable size for `why` buffers */

/* An operator allowlist (immutable once built). NULL everywhere means "empty allowlist". */
struct bw_egress_policy;

/* What a URL names, after normalisation. `url` is what libcurl must be given: it is libcurl's
 * own serialisation of the parsed URL with the host replaced by its normalised ASCII form, so
 * the client connects to exactly what the guard checked. */
struct bw_egress_target {
    char url[BW_EGRESS_URL_MAX];
    char scheme[8];                /* "http" or "https" */
    char host[BW_EGRESS_HOST_MAX]; /* lowercase A-label name, dotted IPv4, or IPv6 (RFC 5952,
                                      no brackets) */
    int literal;                   /* 0 for a name, 4 or 6 for an address literal */
    uint8_t addr[16];              /* the literal's bytes (4 used for IPv4) */
    uint16_t port;                 /* explicit or the scheme's default */
    int allowlisted;               /* 1 if a HOST:PORT allowlist entry matched (see EGRESS.md) */
};

/* Builds a policy from allowlist entries, each "A.B.C.D/N", "IPV6/N", "HOST:PORT" or
 * "[IPV6]:PORT" (HOST a DNS name or canonical dotted IPv4). CIDRs must have no host bits set.
 * n may be 0 (entries may then be NULL). On success *out owns a new policy (free with
 * bw_egress_policy_free). Errors: BW_E_INVALID (why names the bad entry's index), BW_E_TOO_LARGE
 * (more than BW_EGRESS_ALLOW_MAX entries), BW_E_NOMEM. */
bw_err bw_egress_policy_new(const char *const *entries, size_t n, struct bw_egress_policy **out,
                            char *why, size_t why_size) BW_MUST_CHECK;
void bw_egress_policy_free(struct bw_egress_policy *p);

/* Save-time check: bw_egress_check_url_static, then (unless a HOST:PORT entry matched or the
 * host is a literal) resolves the name with the system resolver and requires every returned
 * address to pass bw_egress_check_addr (mixed answers block). BLOCKS on DNS.
 * Returns BW_OK (allow; *out filled), BW_E_DENIED (a rule said no), BW_E_INVALID (malformed),
 * BW_E_TOO_LARGE (URL or answer over a cap), BW_E_UNAVAILABLE (resolver failure). Any non-OK
 * result means block; `why` says why. */
bw_err bw_egress_check_url(const struct bw_egress_policy *p, const char *url,
                           struct bw_egress_target *out, char *why, size_t why_size) BW_MUST_CHECK;

/* The same without DNS: URL syntax rules, name rules, and classification of address literals.
 * Never blocks; safe for fuzzing and event workers. Same errors as bw_egress_check_url except
 * BW_E_UNAVAILABLE. A name that passes here may still resolve to a blocked address: use it only
 * together with the connect-time hook (bw_egress_curl_apply). */
bw_err bw_egress_check_url_static(const struct bw_egress_policy *p, const char *url,
                                  struct bw_egress_target *out, char *why,
                                  size_t why_size) BW_MUST_CHECK;
/* The same judgement, not counted in bulwark_egress_blocks_total: for the gateway's own
 * self-tests of the guard (security readiness probes a metadata and a loopback URL every
 * refresh), which are not blocked traffic. */
bw_err bw_egress_probe_url_static(const struct bw_egress_policy *p, const char *url,
                                  struct bw_egress_target *out, char *why, size_t ws) BW_MUST_CHECK;

/* Connect-time check of one socket address (AF_INET or AF_INET6; anything else blocks).
 * Allowed if the operator allowlist has a CIDR containing it or an address HOST:PORT entry equal
 * to it, or if it is in neither bw_egress_classify_v4's nor _v6's blocked space.
 * Returns BW_OK or BW_E_DENIED. */
bw_err bw_egress_check_addr(const struct bw_egress_policy *p, const struct sockaddr *sa,
                            socklen_t len, char *why, size_t why_size) BW_MUST_CHECK;

/* Classifiers over the built-in blocked space (no allowlist). Return NULL if the address is
 * allowed, else a static one-line reason citing its registry entry. v4 is in host byte order;
 * v6 is 16 network-order bytes. IPv4-mapped and NAT64 well-known-prefix addresses are decoded
 * and judged by their embedded IPv4 address. */
const char *bw_egress_classify_v4(uint32_t v4);
const char *bw_egress_classify_v6(const uint8_t v6[16]);

/* Redirect helper: resolves `location` (a Location header value, absolute or relative) against
 * `base_url` with libcurl's URL API (RFC 3986 5.2), then runs bw_egress_check_url_static on the
 * result. Same returns as bw_egress_check_url_static. The next hop must again go through
 * bw_egress_curl_apply, whose hook checks the addresses. */
bw_err bw_egress_redirect(const struct bw_egress_policy *p, const char *base_url,
                          const char *location, struct bw_egress_target *out, char *why,
                          size_t why_size) BW_MUST_CHECK;

/* Caps for one transfer. Zero fields take the defaults in brackets. */
struct bw_egress_limits {
    long connect_timeout_ms;       /* [10000] CURLOPT_CONNECTTIMEOUT_MS */
    long total_timeout_ms;         /* [60000] CURLOPT_TIMEOUT_MS */
    curl_off_t max_response_bytes; /* [16 MiB] body cap, enforced twice (see apply) */
};

/* Receives response body bytes; returns 0 to continue, non-zero to abort the transfer. */
typedef int (*bw_egress_sink_fn)(void *ctx, const char *data, size_t len);

/* Per-transfer state for the hook and the write cap. Caller-owned; must stay at a fixed address
 * and outlive the transfer. Read `blocked`/`why` after a failed transfer to tell a guard refusal
 * from a network error, `too_large` for the size cap. */
struct bw_egress_conn {
    const struct bw_egress_policy *policy; /* borrowed */
    struct bw_egress_target target;
    bw_egress_sink_fn sink; /* may be NULL: body discarded (still counted against the cap) */
    void *sink_ctx;
    curl_off_t received;
    curl_off_t max_bytes;
    int blocked;   /* the hook refused at least one address */
    int too_large; /* the body exceeded max_bytes */
    char why[BW_EGRESS_WHY_SIZE];
};

/* Prepares `easy` for one request to `target` (which the caller got from a check above; it is
 * copied into conn). Sets: CURLOPT_URL = target->url; CURLOPT_OPENSOCKETFUNCTION (every socket
 * libcurl opens is checked with bw_egress_check_addr, or allowed by target's HOST:PORT entry);
 * CURLOPT_PROTOCOLS_STR and REDIR_PROTOCOLS_STR "http,https"; CURLOPT_FOLLOWLOCATION 0;
 * CURLOPT_PROXY "" and CURLOPT_NOPROXY "*" (proxy environment variables are ignored);
 * CURLOPT_MAXFILESIZE_LARGE and a capped CURLOPT_WRITEFUNCTION forwarding to conn->sink;
 * connect and total timeouts; CURLOPT_NOSIGNAL. Alt-Svc and HSTS stay off.
 * WARNING: the caller must not override any of these options afterwards, nor set
 * CURLOPT_RESOLVE, CURLOPT_CONNECT_TO, CURLOPT_CURLU or a proxy. Returns BW_OK or BW_E_INTERNAL
 * (libcurl refused an option). */
bw_err bw_egress_curl_apply(CURL *easy, const struct bw_egress_policy *p,
                            const struct bw_egress_target *target,
                            const struct bw_egress_limits *limits, bw_egress_sink_fn sink,
                            void *sink_ctx, struct bw_egress_conn *conn) BW_MUST_CHECK;

#endif
