/* time.c: clocks and the month label (time.h). */
#include "util/time.h"

#include <stdio.h>
#include <time.h>

int64_t bw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bw_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bw_month_label(int64_t month, char out[BW_MONTH_LABEL_SIZE]) {
    snprintf(out, BW_MONTH_LABEL_SIZE, "%04d-%02d", (int)(month / 12), (int)(month % 12 + 1));
}
