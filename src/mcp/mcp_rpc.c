/* mcp_rpc.c: one client JSON-RPC 2.0 message, parsed strictly (mcp.h). No I/O. */
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp.h"
#include "policy/engine.h"
#include "reason/reasons.h"
#include "util/json.h"

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

int bw_mcp_version_ok(const char *v) {
    for (size_t i = 0; v && i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

void bw_mcp_msg_cleanup(struct bw_mcp_msg *m) {
    json_decref(m->msg);
    memset(m, 0, sizeof *m);
}

/* The members a message may carry (JSON-RPC 2.0 section 4 and 5): anything else is refused, so
 * nothing unread reaches the server. */
static int member_known(const char *k) {
    static const char *const known[] = {"jsonrpc", "id", "method", "params", "result", "error"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i]) == 0)
            return 1;
    return 0;
}

/* A request id: a string or an integer (no null, no fraction: MCP forbids null ids). */
static int id_ok(const json_t *id) {
    return json_is_string(id) || json_is_integer(id);
}

/* tools/call, prompts/get, resources/read: the name the decision (and Mcp-Name) is about. */
static const char *read_name(struct bw_mcp_msg *m, json_t *params, const char **why) {
    if (strcmp(m->method, "tools/call") == 0) {
        json_t *name = json_object_get(params, "name");
        json_t *args = json_object_get(params, "arguments");
        if (!json_is_string(name) ||
            !bw_policy_tool_name_ok(json_string_value(name), json_string_length(name))) {
            *why = "tools/call: params.name must be 1..64 of [A-Za-z0-9_.-]";
            return NULL;
        }
        if (args && !json_is_object(args)) {
            *why = "tools/call: params.arguments must be an object";
            return NULL;
        }
        m->arguments = args;
        return json_string_value(name);
    }
    const char *key = strcmp(m->method, "prompts/get") == 0      ? "name"
                      : strcmp(m->method, "resources/read") == 0 ? "uri"
                                                                 : NULL;
    if (!key)
        return "";
    json_t *v = json_object_get(params, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *why = "params.name / params.uri must be a string";
        return NULL;
    }
    return json_string_value(v);
}

static bw_err classify(struct bw_mcp_msg *m, const char **why) {
    json_t *o = m->msg;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!member_known(k)) {
            *why = "unknown member in the JSON-RPC message";
            return BW_E_INVALID;
        }
    }
    if (!json_is_string(json_object_get(o, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(o, "jsonrpc")), "2.0") != 0) {
        *why = "\"jsonrpc\" must be \"2.0\"";
        return BW_E_INVALID;
    }
    json_t *id = json_object_get(o, "id");
    json_t *method = json_object_get(o, "method");
    json_t *params = json_object_get(o, "params");
    if (id && !id_ok(id)) {
        *why = "\"id\" must be a string or an integer";
        return BW_E_INVALID;
    }
    if (!method) { /* the client answering a server's request (sampling, elicitation, roots) */
        int has_result = json_object_get(o, "result") != NULL;
        int has_error = json_is_object(json_object_get(o, "error"));
        if (!id || has_result == has_error || params) {
            *why = "a response needs an id and exactly one of result and error";
            return BW_E_INVALID;
        }
        m->kind = BW_MCP_RESPONSE;
        m->id = id;
        return BW_OK;
    }
    if (!json_is_string(method) || json_string_length(method) == 0 ||
        strlen(json_string_value(method)) != json_string_length(method) ||
        json_object_get(o, "result") || json_object_get(o, "error")) {
        *why = "\"method\" must be a non-empty string, without result or error";
        return BW_E_INVALID;
    }
    if (params && !json_is_object(params)) {
        *why = "\"params\" must be an object";
        return BW_E_INVALID;
    }
    m->method = json_string_value(method);
    m->id = id;
    m->kind = id ? BW_MCP_REQUEST : BW_MCP_NOTIFICATION;
    if (strcmp(m->method, "tools/call") == 0 && !id) {
        *why = "tools/call must be a request (with an id)";
        return BW_E_INVALID;
    }
    m->name = read_name(m, params, why);
    return m->name ? BW_OK : BW_E_INVALID;
}

bw_err bw_mcp_msg_parse(const char *body, size_t len, size_t max_depth, struct bw_mcp_msg *out,
                        int *rpc_code, const char **reason, const char **why) {
    memset(out, 0, sizeof *out);
    *rpc_code = BW_MCP_RPC_INVALID_REQUEST;
    *reason = BW_R_MCP_INVALID_MESSAGE;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i < len && body[i] == '[') { /* removed from MCP in 2025-06-18: no element goes on */
        *reason = BW_R_MCP_BATCH_REFUSED;
        *why = "JSON-RPC batches are not accepted";
        return BW_E_INVALID;
    }
    char buf[160];
    bw_err e = bw_json_parse(body, len, max_depth, &out->msg, buf, sizeof buf);
    if (e != BW_OK) {
        *rpc_code = BW_MCP_RPC_PARSE_ERROR;
        *reason = e == BW_E_TOO_LARGE ? BW_R_JSON_TOO_DEEP : BW_R_INVALID_JSON;
        *why = "the body is not one JSON object (syntax, duplicate key, depth or UTF-8)";
        return BW_E_INVALID;
    }
    e = classify(out, why);
    if (e != BW_OK)
        bw_mcp_msg_cleanup(out);
    return e;
}

int bw_mcp_headers_agree(const struct bw_mcp_msg *m, const char *h_method, const char *h_name) {
    if (h_method && (!m->method || strcmp(h_method, m->method) != 0))
        return -1;
    if (h_name && (!m->name || !m->name[0] || strcmp(h_name, m->name) != 0))
        return -1;
    return 0;
}

char *bw_mcp_rpc_error(const json_t *id, int code, const char *message, const char *reason,
                       const char *receipt_id, const char *review_id) {
    json_t *data = json_pack("{ss}", "code", reason ? reason : BW_R_INTERNAL);
    if (data && receipt_id && receipt_id[0])
        json_object_set_new(data, "receipt_id", json_string(receipt_id));
    if (data && review_id && review_id[0])
        json_object_set_new(data, "review_id", json_string(review_id));
    json_t *o =
        data ? json_pack("{sssOs{sissso}}", "jsonrpc", "2.0", "id", id ? (json_t *)id : json_null(),
                         "error", "code", code, "message", message, "data", data)
             : NULL;
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
