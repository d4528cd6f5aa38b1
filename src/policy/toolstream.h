/* toolstream.h: holds back streamed tool calls until each is complete and decided.
 *
 * Feed it OpenAI chat.completion.chunk objects in order. Every chunk is first checked against
 * the answer profile (answer_shape.h): a chunk with a member the governor does not know that
 * could hold a structure (an array `content`, an unknown delta member carrying an object, a
 * `message` in a stream) breaks the stream (BW_E_INVALID): it is never passed on, and any
 * call-like object it held is reported as refused. Text (delta role, content, refusal,
 * reasoning, annotations, audio; usage; an upstream's error record) is emitted at once;
 * unknown scalar members are dropped. Tool-call deltas (`tool_calls`, function or custom, and
 * the legacy `function_call`) are buffered per (choice, index) until the call is complete,
 * which is when the same choice starts the next index or reports a finish_reason; then the
 * call is decided (bw_policy_decide_call, then bw_policy_call_approve with approved_rule) and,
 * only if allowed, emitted as one chunk carrying the whole call (a legacy call as one
 * function_call delta). Refused calls never reach emit: their name and arguments are not in
 * any emitted chunk. Emitted calls are renumbered 0, 1, .. per choice so the client sees no
 * gap; a choice whose calls were all refused has finish_reason "tool_calls"/"function_call"
 * rewritten to "stop". Every decision (allowed or not, and every call dropped because the
 * stream broke or ended early) is reported to on_verdict, for receipts.
 *
 * Bounds: arguments over max_args_bytes make the call a deny (TOOL_ARGS_TOO_LARGE, the excess
 * is discarded, not buffered); at most BW_POLICY_MAX_TOOLS calls per stream (more:
 * BW_E_TOO_LARGE, TOOL_CALLS_TOO_MANY) and BW_TOOLSTREAM_MAX_CHOICES choices. One owner, not
 * thread-safe. */
#ifndef BW_POLICY_TOOLSTREAM_H
#define BW_POLICY_TOOLSTREAM_H

#include <jansson.h>
#include <stdint.h>
#include "util/err.h"

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
    const char *approved_rule; /* borrowed; the approval this request spent, or NULL */
};

/* Errors: BW_E_INVALID (no emit or policy), BW_E_NOMEM. */
bw_err bw_toolstream_new(const struct bw_toolstream_config *cfg,
                         struct bw_toolstream **out) BW_MUST_CHECK;
void bw_toolstream_free(struct bw_toolstream *s);

/* Feeds one parsed chunk (borrowed) received at now_ms (any monotonic clock). Errors:
 * BW_E_INVALID (not a chunk, a shape outside the profile, malformed tool_calls, a duplicate
 * tool call id, a delta for a call already completed, too many choices), BW_E_TOO_LARGE (too
 * many calls), BW_E_NOMEM, or emit's error. After an error the stream is broken: the calls
 * still open are reported dropped (with bw_toolstream_fail_reason), every later call returns
 * BW_E_INVALID, and the caller must end the client's stream with an error event. */
bw_err bw_toolstream_feed(struct bw_toolstream *s, const json_t *chunk,
                          int64_t now_ms) BW_MUST_CHECK;

/* The timeout hook: drops every open call whose last delta is older than call_timeout_ms at
 * now_ms, reporting TOOL_CALL_INCOMPLETE for it. Returns BW_E_TIMEOUT if it dropped any (the
 * caller ends the stream), else BW_OK. */
bw_err bw_toolstream_expire(struct bw_toolstream *s, int64_t now_ms) BW_MUST_CHECK;

/* End of the upstream stream. Calls still open (no finish_reason, no next index) are dropped
 * with TOOL_CALL_INCOMPLETE and BW_E_UPSTREAM is returned; else BW_OK. */
bw_err bw_toolstream_finish(struct bw_toolstream *s) BW_MUST_CHECK;

/* Calls open now (started, not yet decided). */
int bw_toolstream_open_calls(const struct bw_toolstream *s) BW_MUST_CHECK;

/* Why the stream broke or ended with calls dropped (a static reason code:
 * TOOL_STREAM_INVALID, TOOL_CALLS_TOO_MANY, TOOL_CALL_INCOMPLETE), or NULL. */
const char *bw_toolstream_fail_reason(const struct bw_toolstream *s);

#endif
