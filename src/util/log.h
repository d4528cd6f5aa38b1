/* log.h: one-line structured logs to stderr.
 *
 * Never pass a secret, a key, a prompt or a completion to these functions: log ids, hashes,
 * reason codes and sizes only. Thread-safe (one write(2) per line). */
#ifndef BW_UTIL_LOG_H
#define BW_UTIL_LOG_H

enum bw_log_level { BW_LOG_DEBUG, BW_LOG_INFO, BW_LOG_WARN, BW_LOG_ERROR };

void bw_log_set_level(enum bw_log_level lvl);
void bw_log(enum bw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bw_info(...) bw_log(BW_LOG_INFO, __VA_ARGS__)
#define bw_warn(...) bw_log(BW_LOG_WARN, __VA_ARGS__)
#define bw_error(...) bw_log(BW_LOG_ERROR, __VA_ARGS__)
#define bw_debug(...) bw_log(BW_LOG_DEBUG, __VA_ARGS__)

#endif
