#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Set by the main thread at start, before any other thread exists (bw_log_set_level); read by
 * every thread after that. Atomic (relaxed) so a later change cannot tear a read. */
static _Atomic enum bw_log_level min_level = BW_LOG_INFO;

void bw_log_set_level(enum bw_log_level lvl) {
    min_level = lvl;
}

void bw_log(enum bw_log_level lvl, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level || (unsigned)lvl > (unsigned)BW_LOG_ERROR)
        return;
    char raw[BW_LOG_MAX_MESSAGE + 64];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (m < 0)
        raw[0] = 0;
    /* Everything a call site formatted passes the redaction filter before any sink sees it. */
    char msg[BW_LOG_MAX_MESSAGE + 32];
    /* NOLINTNEXTLINE(readability-suspicious-call-argument): raw is the input, msg the output */
    bw_log_redact(raw, msg, sizeof msg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[BW_LOG_MAX_LINE];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[lvl], msg);
    if (n < 0)
        return;
    bw_log_sink_line(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
