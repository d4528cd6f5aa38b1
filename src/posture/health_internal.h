/* health_internal.h: what the prober (health_probe.c) and the registry (health.c) share. Not a
 * public contract. */
#ifndef BW_POSTURE_HEALTH_INTERNAL_H
#define BW_POSTURE_HEALTH_INTERNAL_H

#include "posture/health.h"
#include "util/err.h"

/* The prober's result for d this round (replaces the previous round's). */
void bw_health_probed(enum bw_health_dep d, enum bw_health_status st, enum bw_health_class c,
                      int64_t latency_us);

/* on = 1 once the first round is in; 0 forgets every entry (bw_health_stop). */
void bw_health_monitoring(int on);

/* The host and port the prober connects to for an upstream base URL: "http[s]://[userinfo@]
 * host[:port][/...]", host may be "[v6]"; the scheme's port if none. 0, or -1 if the URL is not
 * of that shape (host too long for host_size, port not 1..5 digits). Exposed for tests. */
int bw_health_split_url(const char *url, char *host, size_t host_size, char port[8]) BW_MUST_CHECK;

#endif
