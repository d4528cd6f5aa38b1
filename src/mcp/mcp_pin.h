/* mcp_pin.h: tool pinning, the rug-pull defence (docs/MCP.md "Tool pinning"; issue 14).
 *
 * Every tool definition a tools/list answer carries (the whole tool object: every member, so a
 * new member is a change too) is canonicalized with RFC 8785 (JCS) and hashed with SHA-256, per
 * (org, server, tool). `mcp.pin: auto` pins the first hash seen; `mcp.pin: approve` records it
 * as pending until an admin approves it. A pinned tool seen with another hash is `changed`:
 * hidden from tools/list, its calls denied TOOL_DEFINITION_CHANGED, until an admin approves the
 * new hash (POST /api/v1/mcp/pins/{server}/{tool}/approve, api_mcp_pins.c).
 *
 * The gateway side (mcp_pin.c) keeps a per-(org, server) cache of pin states (BW_MCP_PIN_TTL_MS,
 * dropped at once by bw_mcp_pin_invalidate) shared by every event worker under one mutex held
 * for copies only (never across a store call). It writes only when a hash is new or differs from
 * what is stored. A store failure hides every tool of the answer and denies calls
 * (STORE_UNAVAILABLE): fail closed. */
#ifndef BW_MCP_PIN_H
#define BW_MCP_PIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_MCP_PIN_TTL_MS 2000         /* a cached (org, server) pin set is reread after this */
#define BW_MCP_PIN_MAX_PER_SERVER 1024 /* pins kept per (org, server); more are hidden */
#define BW_MCP_PIN_MAX_WRITES 64       /* new or changed pins recorded per tools/list answer */
#define BW_MCP_PIN_DEF_MAX (64u << 10) /* a canonical definition longer is kept as hash only */
#define BW_MCP_PIN_SEEN_EVERY_MS 60000 /* last_seen_ms is refreshed at most this often */
#define BW_MCP_PIN_TOOL_MAX 128        /* MCP tool names: 1..128 of [A-Za-z0-9_.-] */

/* Appends the RFC 8785 canonical form of v to out: object members sorted by UTF-16 code units
 * of their names, no whitespace, strings escaped as ECMAScript does (\b \t \n \f \r \" \\ and
 * \u00xx lowercase for other controls, everything else as UTF-8), numbers as ECMAScript writes
 * the IEEE 754 double they denote (1.0 -> 1, 1e21 -> 1e+21, -0 -> 0). Errors: BW_E_TOO_LARGE
 * (out's cap), BW_E_INVALID (nesting over 128, a non-finite number), BW_E_NOMEM. Pure. */
bw_err bw_mcp_pin_canon(const json_t *v, struct bw_buf *out) BW_MUST_CHECK;
/* RFC 8785 3.2.3 order of two UTF-8 member names: <0, 0, >0. */
int bw_mcp_pin_key_cmp(const char *a, size_t alen, const char *b, size_t blen) BW_MUST_CHECK;
/* 1 if name is 1..BW_MCP_PIN_TOOL_MAX bytes of [A-Za-z0-9_.-]. */
int bw_mcp_pin_tool_name_ok(const char *name, size_t len) BW_MUST_CHECK;

struct bw_mcp_call;
struct bw_policy_decision;

/* tools/list: checks every tool of one tools/list result against the org's pins (recording new
 * and changed definitions, with a receipt and an `mcp.tool_changed` event for a change) and
 * removes each tool that is not pinned at exactly its hash: changed, pending approval, over the
 * caps, or any tool at all when the store fails. Returns the number removed, or -1 when result
 * is not an object with a tools array. Runs on the event worker. */
int bw_mcp_pin_tools(struct bw_mcp_call *c, json_t *result) BW_MUST_CHECK;

/* tools/call: 0 if the pin of c's tool lets the call go on to the policy's verdict; otherwise
 * turns *d into a deny (TOOL_DEFINITION_CHANGED, TOOL_NOT_APPROVED, STORE_UNAVAILABLE) and
 * returns -1. A tool never seen: allowed in `auto` mode (nothing is pinned), denied
 * TOOL_NOT_APPROVED in `approve` mode. */
int bw_mcp_pin_check_call(struct bw_mcp_call *c, struct bw_policy_decision *d) BW_MUST_CHECK;

/* Drops the cached pins of (org_id, server) (server NULL: every server of the org). Any
 * thread. */
void bw_mcp_pin_invalidate(const char *org_id, const char *server);

#endif
