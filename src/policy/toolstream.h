/* toolstream.h: holds back streamed tool calls until each is complete and decided.
 *
 * Feed it OpenAI chat.completion.chunk objects in order. Text (delta role, content, refusal;
 * usage) is emitted at once; any other delta key (e.g. the legacy function_call) is dropped.
 * Tool-call deltas are buffered per (choice, index) until the call is complete, which is when the
 * same choice starts the next index or reports a finish_reason; then the call is decided
 * (bw_policy_decide_call) and, only if allowed, emitted as one chunk carrying the whole call.
 * Refused calls never reach emit: their name and arguments are not in any emitted chunk. Emitted
 * calls are renumbered 0, 1, .. per choice so the client sees no gap; a choice whose calls were all
 * refused has finish_reason "tool_calls" rewritten to "stop". Every decision (allowed or not) is
 * reported to on_verdict, for receipts.
 *
 * Bounds: arguments over max_args_bytes make the call a deny (TOOL_ARGS_TOO_LARGE, the excess
 * is discarded, not buffered); at most BW_POLICY_MAX_TOOLS calls per stream and
 * BW_TOOLSTREAM_MAX_CHOICES choices. One owner, not thread-safe. */
#ifndef BW_POLICY_TOOLSTREAM_H
#define BW_POLICY_TOOLSTREAM_H

#include <jansson.h>
#include <stdint.h>

#include "policy/engine.h"

#define BW_TOOLSTREAM_MAX_CHOICES 16

struct bw_toolstream;

struct bw_toolstream_config {
    const struct bw_policy *policy;    /* borrowed; the caller holds a reference throughout */
    const struct bw_policy_input *ctx; /* borrowed; the request the stream answers */
    size_t max_args_bytes;             /* 0: BW_POLICY_MAX_ARGS_BYTES */
    int64_t call_timeout_ms;           /* 0: no timeout; see bw_toolstream_expire */
    /* Called with each chunk to send to the client (borrowed for the call). A non-OK return
     * stops the stream: feed returns it. */
    bw_err (*emit)(void *arg, const json_t *chunk);
    /* Optional: each call's verdict, in completion order (borrowed for the call). */
    void (*on_verdict)(void *arg, const struct bw_policy_call_verdict *v);
    void *arg;
};

/* Errors: BW_E_INVALID (no emit or policy), BW_E_NOMEM. */
bw_err bw_toolstream_new(const struct bw_toolstream_config *cfg,
                         struct bw_toolstream **out) BW_MUST_CHECK;
void bw_toolstream_free(struct bw_toolstream *s);

/* Feeds one parsed chunk (borrowed) received at now_ms (any monotonic clock). Errors:
 * BW_E_INVALID (not a chunk, malformed tool_calls, a duplicate tool call id, a delta for a call
 * already completed), BW_E_TOO_LARGE (too many calls or choices), BW_E_NOMEM, or emit's
 * error. After an error the stream is broken: every later call returns BW_E_INVALID, and the
 * caller must end the client's stream with an error event. */
bw_err bw_toolstream_feed(struct bw_toolstream *s, const json_t *chunk,
                          int64_t now_ms) BW_MUST_CHECK;

/* The timeout hook: drops every open call whose last delta is older than call_timeout_ms at
 * now_ms, reporting TOOL_CALL_INCOMPLETE for it. Returns BW_E_TIMEOUT if it dropped any (the
 * caller ends the stream), else BW_OK. */
bw_err bw_toolstream_expire(struct bw_toolstream *s, int64_t now_ms) BW_MUST_CHECK;

/* End of the upstream stream. Calls still open (no finish_reason, no next index) are dropped
 * with TOOL_CALL_INCOMPLETE and BW_E_UPSTREAM is returned; else BW_OK. */
bw_err bw_toolstream_finish(struct bw_toolstream *s) BW_MUST_CHECK;

#endif
