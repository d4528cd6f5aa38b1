/* api_mcp_pins.c: the org's MCP tool pins (docs/MCP.md "Tool pinning", docs/API.md).
 *
 *   GET  /api/v1/mcp/pins[?server=S][&state=pinned|changed|pending][&tool=T][&after=T]
 *        admin, reviewer: the org's pins (at most 200, by server then tool; has_more; after:
 *        the next page of one server's, from the last tool seen), each
 *        with both hashes and both definitions (the server's text: JSON data, shown as is)
 *   POST /api/v1/mcp/pins/{server}/{tool}/approve   body {"sha256": "<the pending hash>"}
 *        admin: the pending definition becomes the pinned one, if and only if its hash is the
 *        one given (an admin approves what they looked at, never a newer one). Receipt first.
 *
 * Path segments are percent-decoded strictly: %XX with two hex digits, and every byte, raw or
 * decoded, one of [A-Za-z0-9_.-]; anything else is 404. */
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "mcp/mcp_pin.h"
#include "reason/reasons.h"
#include "store/mcp_pins.h"
#include "util/codec.h"
#include "util/time.h"

#define LIST_MAX 200

static json_t *hex_or_null(int has, const uint8_t h[32]) {
    char hex[65];
    if (!has || bw_hex_encode(h, 32, hex, sizeof hex) != BW_OK)
        return json_null();
    return json_string(hex);
}

/* A stored canonical text back as JSON ("" = not kept: null). */
static json_t *definition(const char *text) {
    if (!text || !text[0])
        return json_null();
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    return v ? v : json_null();
}

struct listing {
    json_t *data;
    size_t n;
};

static int list_row(void *arg, const struct bw_mcp_pin *p) {
    struct listing *l = arg;
    if (++l->n > LIST_MAX)
        return 0; /* the extra row only says there is more */
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:s}", "server",
                  p->server, "tool", p->tool, "state", bw_mcp_pin_state_name(p->state),
                  "pinned_sha256", hex_or_null(p->has_pinned, p->pinned_sha256), "pending_sha256",
                  hex_or_null(p->has_pending, p->pending_sha256), "pinned_definition",
                  definition(p->pinned_def), "pending_definition", definition(p->pending_def),
                  "first_seen_ms", (json_int_t)p->first_seen_ms, "last_seen_ms",
                  (json_int_t)p->last_seen_ms, "changed_ms", (json_int_t)p->changed_ms,
                  "approved_ms", (json_int_t)p->approved_ms, "approved_by", p->approved_by);
    return !o || json_array_append_new(l->data, o) != 0;
}

static void list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                 const struct bw_key_record *caller) {
    (void)rest;
    char server[80] = "", state[16] = "", tool[160] = "", after[160] = "";
    int bad =
        (bw_api_query(req, "server", server, sizeof server) && !bw_config_mcp_name_ok(server)) ||
        (bw_api_query(req, "state", state, sizeof state) && strcmp(state, "pinned") != 0 &&
         strcmp(state, "changed") != 0 && strcmp(state, "pending") != 0) ||
        (bw_api_query(req, "tool", tool, sizeof tool) &&
         !bw_mcp_pin_tool_name_ok(tool, strlen(tool))) ||
        (bw_api_query(req, "after", after, sizeof after) &&
         (!server[0] || !bw_mcp_pin_tool_name_ok(after, strlen(after))));
    if (bad) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "server: a server name; state: pinned, changed or pending; tool and "
                            "after: tool names (after needs server)",
                            NULL, NULL);
        return;
    }
    struct listing l = {json_array(), 0};
    if (!l.data) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    struct bw_mcp_pin_filter f = {server[0] ? server : NULL, state[0] ? state : NULL,
                                  tool[0] ? tool : NULL, after[0] ? after : NULL};
    bw_err e =
        bw_store_mcp_pins_each(ctx->store, caller->org_id, &f, 1, LIST_MAX + 1, list_row, &l);
    if (e != BW_OK) {
        json_decref(l.data);
        bw_api_reply_store_error(req, e, "pin");
        return;
    }
    bw_api_reply(
        req, 200,
        json_pack("{s:s, s:o, s:b}", "object", "list", "data", l.data, "has_more", l.n > LIST_MAX));
}

/* ---- approve ---- */

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes [s, end) into out (size bytes): 0, or -1 (a bad escape, a byte outside
 * [A-Za-z0-9_.-] raw or decoded, empty, or too long). */
static int segment(const char *s, const char *end, char *out, size_t size) {
    size_t n = 0;
    while (s < end) {
        char ch = *s++;
        if (ch == '%') {
            int hi = end - s >= 2 ? hexval(s[0]) : -1, lo = hi >= 0 ? hexval(s[1]) : -1;
            if (lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            s += 2;
        }
        if (n + 1 >= size || !bw_mcp_pin_tool_name_ok(&ch, 1))
            return -1;
        out[n++] = ch;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

struct approval {
    struct evhttp_request *req;
    struct bw_store *store;
    char org_id[BW_ID_SIZE];
    char by[BW_ID_SIZE];
    char server[80];
    char tool[BW_MCP_PIN_TOOL_MAX + 1];
    uint8_t sha256[32];
};

static void mismatch(struct evhttp_request *req) {
    bw_http_reply_error(req, 409, BW_R_MCP_PIN_MISMATCH,
                        "no definition with this hash waits for approval: read the pins again",
                        NULL, NULL);
}

static void apply(void *arg, bw_err err, const char *rid) {
    struct approval *a = arg;
    bw_err e = err == BW_OK ? bw_store_mcp_pin_approve(a->store, a->org_id, a->server, a->tool,
                                                       a->sha256, a->by, bw_now_ms())
                            : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(a->req);
    } else if (e == BW_E_EXISTS) {
        mismatch(a->req); /* another definition arrived since the check */
    } else if (e != BW_OK) {
        bw_api_reply_store_error(a->req, e, "pin");
    } else {
        bw_mcp_pin_invalidate(a->org_id, a->server);
        bw_http_add_receipt_headers(a->req, rid, NULL);
        bw_api_reply(a->req, 200,
                     json_pack("{s:s, s:s, s:s, s:o, s:s}", "server", a->server, "tool", a->tool,
                               "state", "pinned", "pinned_sha256", hex_or_null(1, a->sha256),
                               "receipt_id", rid));
    }
    free(a);
}

/* "{server}/{tool}/approve" into a. 0 if the path names no pin the API could hold. */
static int parse_path(const char *rest, struct approval *a) {
    const char *slash = strchr(rest, '/');
    const char *last = strrchr(rest, '/');
    if (!slash || last == slash || strcmp(last, "/approve") != 0)
        return 0;
    if (segment(rest, slash, a->server, sizeof a->server) != 0 || !bw_config_mcp_name_ok(a->server))
        return 0;
    return segment(slash + 1, last, a->tool, sizeof a->tool) == 0;
}

/* The body's sha256: 64 lowercase hex digits, and nothing else in the body. 0 after replying. */
static int body_hash(const struct bw_api_ctx *ctx, struct evhttp_request *req, uint8_t out[32]) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return 0;
    json_t *h = json_object_get(body, "sha256");
    const char *s = json_string_value(h);
    int ok = json_object_size(body) == 1 && s && strlen(s) == 64;
    for (size_t i = 0; ok && i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        ok = hi >= 0 && lo >= 0 && !(s[2 * i] >= 'A' && s[2 * i] <= 'F') &&
             !(s[2 * i + 1] >= 'A' && s[2 * i + 1] <= 'F');
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    json_decref(body);
    if (!ok)
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "the body must be {\"sha256\": \"<64 lowercase hex digits>\"}", NULL,
                            NULL);
    return ok;
}

static void approve(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    struct approval *a = calloc(1, sizeof *a);
    if (!a) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    if (!parse_path(rest, a)) {
        free(a);
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such pin", NULL, NULL);
        return;
    }
    if (!body_hash(ctx, req, a->sha256)) {
        free(a);
        return;
    }
    /* Checked before the receipt so a stale or wrong hash records nothing; the update is
     * conditional on the same hash, so a change in between is still refused. */
    struct bw_mcp_pin p;
    bw_err e = bw_store_mcp_pin_get(ctx->store, caller->org_id, a->server, a->tool, &p);
    if (e != BW_OK || p.state == BW_PIN_PINNED || !p.has_pending ||
        memcmp(p.pending_sha256, a->sha256, 32) != 0) {
        free(a);
        if (e != BW_OK)
            bw_api_reply_store_error(req, e, "pin");
        else
            mismatch(req);
        return;
    }
    a->req = req;
    a->store = ctx->store;
    snprintf(a->org_id, sizeof a->org_id, "%s", caller->org_id);
    snprintf(a->by, sizeof a->by, "%s", caller->id);
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "mcp.pin.approve",
                         strlen(a->tool) < sizeof r.rule ? a->tool : "", BW_R_ADMIN_CHANGE, NULL,
                         0);
    snprintf(r.model, sizeof r.model, "%s", a->server);
    memcpy(r.request_sha256, a->sha256, 32); /* the subject: the definition approved */
    bw_api_record(ctx, &r, apply, a);
}

const struct bw_api_route bw_api_routes_mcp_pins[] = {
    {EVHTTP_REQ_GET, "/api/v1/mcp/pins", BW_API_REVIEW, list},
    {EVHTTP_REQ_POST, "/api/v1/mcp/pins/", BW_API_ADMIN, approve},
    {0, NULL, 0, NULL},
};
