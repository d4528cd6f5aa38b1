/* health_internal.h: what the prober (health_probe.c) and the registry (health.c) share. Not a
 * public contract. */
#ifndef BW_POSTURE_HEALTH_INTERNAL_H
#define BW_POSTURE_HEALTH_INTERNAL_H

#include "posture/health.h"

/* The prober's result for d this round (replaces the previous round's). */
void bw_health_probed(enum bw_health_dep d, enum bw_health_status st, enum bw_health_class c,
                      int64_t latency_us);

/* on = 1 once the first round is in; 0 forgets every entry (bw_health_stop). */
void bw_health_monitoring(int on);

#endif
