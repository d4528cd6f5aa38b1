/* log.h: the process's log: free-text lines (bw_log) and typed request lines (http/reqlog.h),
 * both written through one sink.
 *
 * Never pass a secret, a key, a prompt or a completion to these functions: log ids, hashes,
 * reason codes and sizes only. As a second line of defence every free-text message goes through
 * bw_log_redact before the sink (bearer tokens, Bulwark and provider keys, Authorization values,
 * URL userinfo and query strings, long opaque runs such as sealed records are masked; control
 * bytes replaced; the message is truncated), so a careless call site cannot emit them.
 *
 * The sink: until bw_log_sink_start, and after bw_log_sink_stop, each line is one write(2) to
 * stderr (startup errors, CLI commands). While started (bulwark serve), a line is copied into a
 * bounded in-memory queue that one writer thread drains to stderr or the log file; a full queue
 * drops the line and counts it (the writer reports the count), so no caller ever waits on I/O.
 * Thread-safe. */
#ifndef BW_UTIL_LOG_H
#define BW_UTIL_LOG_H

#include <stddef.h>

#include "util/err.h"

enum bw_log_level { BW_LOG_DEBUG, BW_LOG_INFO, BW_LOG_WARN, BW_LOG_ERROR };

void bw_log_set_level(enum bw_log_level lvl);
void bw_log(enum bw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bw_info(...) bw_log(BW_LOG_INFO, __VA_ARGS__)
#define bw_warn(...) bw_log(BW_LOG_WARN, __VA_ARGS__)
#define bw_error(...) bw_log(BW_LOG_ERROR, __VA_ARGS__)
#define bw_debug(...) bw_log(BW_LOG_DEBUG, __VA_ARGS__)

/* The longest free-text message kept (bytes, before the timestamp); longer ones are cut. */
#define BW_LOG_MAX_MESSAGE 480
/* The longest line the sink carries, newline included; a longer line is cut. */
#define BW_LOG_MAX_LINE 1024

/* Copies msg into out (out_size >= 16), masking what may be a secret (see the header comment)
 * and replacing control and non-ASCII bytes with '?'; cuts it to BW_LOG_MAX_MESSAGE bytes and to
 * out_size - 1, always NUL-terminating. Returns the length written. Pure; thread-safe. */
size_t bw_log_redact(const char *msg, char *out, size_t out_size);

/* Starts the writer thread. path: the log file (opened for append, created 0600, a symlink
 * refused), or NULL for stderr. queue_lines: the queue's capacity in lines. Errors: BW_E_IO
 * (the file), BW_E_NOMEM, BW_E_INVALID (already started). Main thread, once. */
bw_err bw_log_sink_start(const char *path, size_t queue_lines) BW_MUST_CHECK;
/* Asks the writer to reopen the log file (SIGHUP, after logrotate moved it). Any thread. */
void bw_log_sink_reopen(void);
/* Writes every queued line, stops and joins the writer, closes the file; later lines go to
 * stderr directly. Main thread; a no-op if not started. */
void bw_log_sink_stop(void);
/* Queues one whole line (no newline; one is added) that the caller built from typed fields
 * only (the request log): it is not redacted. Never blocks on I/O. */
void bw_log_sink_line(const char *line, size_t len);
/* Lines dropped because the queue was full, since start. */
unsigned long long bw_log_sink_dropped(void);

#endif
