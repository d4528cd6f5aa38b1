/* answer_shape.h: the shape of a chat.completion answer (plain or a streamed chunk) that the
 * answer governor knows, and nothing else (docs/POLICY.md "Answers").
 *
 * Tool calls reach a client in two known places: message/delta `tool_calls` and the legacy
 * `function_call`. Anything else that could carry a structure (an array `content`, an unknown
 * member holding an object or array, a vendor "output" list) is a place the governor does not
 * read, so it is refused, never forwarded unread. These checks are the profile: every member
 * at every level is either known (and of its known type) or an unknown *scalar* (string,
 * number, boolean, null), which cannot hold a call. Known inert structures (usage, logprobs,
 * annotations, audio, Azure content filter results, an upstream error) are checked to be what
 * they claim: records of scalars, no room for a call either.
 *
 * The walkers of the known structural members (choices, message/delta, tool_calls,
 * function_call) are the caller's: these functions check one level each. Pure; thread-safe. */
#ifndef BW_POLICY_ANSWER_SHAPE_H
#define BW_POLICY_ANSWER_SHAPE_H

#include <jansson.h>

#include "util/err.h"

/* One level of an answer. BW_OK or BW_E_INVALID (an unknown structured member, or a known one
 * of the wrong type). `top`: the answer or chunk object (choices: array|null). `choice`: one
 * choice (index: integer >= 0; message/delta: object|null; finish_reason: string|null).
 * `message`: a message or delta (content, refusal, role and reasoning text: string|null;
 * tool_calls: array|null; function_call: object|null). `call`: one tool_calls entry (id, type:
 * string|null; index: integer; function, custom: object|null). `function`: a call's function,
 * custom or legacy function_call object (name, arguments, input: string|null). */
bw_err bw_answer_check_top(const json_t *top) BW_MUST_CHECK;
bw_err bw_answer_check_choice(const json_t *choice) BW_MUST_CHECK;
bw_err bw_answer_check_message(const json_t *message) BW_MUST_CHECK;
bw_err bw_answer_check_call(const json_t *call) BW_MUST_CHECK;
bw_err bw_answer_check_function(const json_t *fn) BW_MUST_CHECK;

/* 1 if name[0..len) is a tool name a call may carry: ^[A-Za-z0-9_.-]{1,64}$ (docs/POLICY.md).
 * Checked with its length: a name with a NUL byte, or any byte outside the set, is not one. */
int bw_answer_name_ok(const char *name, size_t len) BW_MUST_CHECK;

/* 1 if member name k equals word (lowercase ASCII) as Go's encoding/json compares them: ASCII
 * case-insensitively, with U+017F as s and U+212A as k. A client or upstream decoding that way
 * reads "NAME" or "argument\u017f" as the member the gateway decided, so such a spelling,
 * other than the exact one, is refused. */
int bw_answer_key_folds(const char *k, const char *word) BW_MUST_CHECK;

/* The message/delta members that are text or inert structures a client may receive as they
 * are (validated by bw_answer_check_message): role, content, refusal, reasoning_content,
 * reasoning, annotations, audio. NULL-terminated, static. */
extern const char *const bw_answer_text_keys[];

/* Evidence for a refused answer: calls bw_fn for each object in v (depth-first, at most
 * `max` times) that looks like a tool call: it has a string `name` and an `arguments`, `input`
 * or `parameters` member, or a `function`/`custom` object with a string `name`. name is
 * borrowed; args is the arguments text when it is a string, else NULL. Used only to list what
 * an unreadable answer carried in the outcome receipt: nothing found here is ever forwarded. */
void bw_answer_scan_calls(const json_t *v, size_t max,
                          void (*fn)(void *arg, const char *name, const char *args,
                                     size_t args_len),
                          void *arg);

#endif
