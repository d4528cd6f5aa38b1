/* detail.h: what a reviewer needs to decide, as stored with a review item (review_store.h,
 * `detail`) and shown by GET /api/v1/reviews/{id} to the org's reviewers only (never put in a
 * receipt: receipts hold only the request's hash).
 *
 * Chat: {"model", "tools": [{"name", "description", "parameters"}], "tool_calls": [{"name",
 * "arguments"}]} from the request's `tools` (and legacy `functions`) and every assistant
 * message's `tool_calls` (and legacy `function_call`); arguments that are a JSON text are
 * parsed so they pretty-print, else kept as the string. MCP: {"server", "tool", "arguments"}.
 * At most BW_REVIEW_DETAIL_MAX bytes: a larger one keeps the names only, with "truncated": true.
 * Returns malloc'd JSON text (the caller frees) or NULL (out of memory). Thread-safe. */
#ifndef BW_REVIEW_DETAIL_H
#define BW_REVIEW_DETAIL_H

#include "util/err.h"

/* body: the parsed chat request (a json_t *, borrowed). */
char *bw_review_detail_chat(const void *body, const char *model) BW_MUST_CHECK;
/* arguments: the tools/call params.arguments (a json_t *, borrowed; may be NULL). */
char *bw_review_detail_mcp(const char *server, const char *tool,
                           const void *arguments) BW_MUST_CHECK;

#endif
