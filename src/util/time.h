/* time.h: clocks. Wall time for receipts, monotonic for deadlines. Thread-safe. */
#ifndef BW_UTIL_TIME_H
#define BW_UTIL_TIME_H

#include <stdint.h>

int64_t bw_now_ms(void);  /* Unix time in milliseconds (CLOCK_REALTIME) */
int64_t bw_mono_us(void); /* monotonic microseconds */

/* A month index (year * 12 + month - 1, as budgets and usage count them) as "YYYY-MM". */
#define BW_MONTH_LABEL_SIZE 16
void bw_month_label(int64_t month, char out[BW_MONTH_LABEL_SIZE]);

#endif
