/* time.h: clocks. Wall time for receipts, monotonic for deadlines. Thread-safe. */
#ifndef BW_UTIL_TIME_H
#define BW_UTIL_TIME_H

#include <stdint.h>

int64_t bw_now_ms(void);      /* Unix time in milliseconds (CLOCK_REALTIME) */
int64_t bw_mono_us(void);     /* monotonic microseconds */

#endif
