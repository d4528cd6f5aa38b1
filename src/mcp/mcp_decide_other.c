/* mcp_decide_other.c: the MCP methods other than tools/call that the policy decides
 * (docs/POLICY.md "MCP", docs/MCP.md "Governance"):
 *
 * - `resources/read` on route mcp.resources_read: the rule's `resource` matcher names the URI
 *   (params.uri, at most BW_MCP_MAX_URI bytes of visible ASCII); content rules see the URI;
 * - `prompts/get` on route mcp.prompts_get: the rule's `prompt` matcher names the prompt
 *   (params.name); `params.arguments` (an object, if present) is hashed into the receipt and
 *   its strings and keys are what content rules see;
 * - each with a decision receipt durable before anything is forwarded, an outcome receipt
 *   after, and require_approval through the review queue, exactly as a tools/call;
 * - the answers to `resources/list` and `prompts/list` filtered: an entry stays only when a
 *   read / get of it could be allowed (the list calls themselves have no route of their own);
 * - a refused `tools/list` (route mcp.tools_list) gets its decision receipt too;
 * - these methods sent as notifications (no id: nothing to answer, nothing decided) are
 *   refused rather than passed through ungoverned. */
#include <stdlib.h>
#include <string.h>

#include "http/reqlog.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "util/log.h"

#define BW_MCP_MAX_URI 4096         /* a resources/read uri longer is refused */
#define BW_MCP_MAX_PROMPT_NAME 1024 /* a prompts/get name longer is refused */

enum other_kind { OTHER_NONE = 0, OTHER_READ, OTHER_PROMPT, OTHER_LIST_RES, OTHER_LIST_PROMPTS };

static enum other_kind kind_of(const char *method) {
    if (!method)
        return OTHER_NONE;
    if (strcmp(method, "resources/read") == 0)
        return OTHER_READ;
    if (strcmp(method, "prompts/get") == 0)
        return OTHER_PROMPT;
    if (strcmp(method, "resources/list") == 0)
        return OTHER_LIST_RES;
    if (strcmp(method, "prompts/list") == 0)
        return OTHER_LIST_PROMPTS;
    return OTHER_NONE;
}

static void set_deny(struct bw_policy_decision *d, const char *reason, int status) {
    memset(d, 0, sizeof *d);
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->layer = "default";
    d->http_status = status;
}

/* A resource URI the policy can name: 1..BW_MCP_MAX_URI bytes, each visible ASCII (0x21..0x7e).
 * RFC 3986 URIs are ASCII; a space, a control byte or raw UTF-8 is refused rather than matched
 * against globs written for the ASCII form. */
static int uri_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > BW_MCP_MAX_URI)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static int prompt_name_ok(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n <= BW_MCP_MAX_PROMPT_NAME;
}

static void decide_with(struct bw_mcp_call *c, enum other_kind k, struct bw_policy_decision *d);

/* The decision of one resources/read or prompts/get into c->decision (a deny on any failure). */
static void decide(struct bw_mcp_call *c, enum other_kind k) {
    struct bw_policy_decision *d = &c->decision;
    int read = k == OTHER_READ;
    c->route = read ? "mcp.resources_read" : "mcp.prompts_get";
    c->no_tool_entry = read; /* a URI is not a tool name: the subject hash covers it */
    if (bw_mcp_canonical_hash(c, read ? "bulwark-mcp-resources-read\n"
                                      : "bulwark-mcp-prompts-get\n") != 0) {
        set_deny(d, BW_R_INTERNAL, 503);
        return;
    }
    /* the policy first: every refusal below names the policy in force in its receipt */
    if (bw_mcp_acquire_policy(c, &c->policy) != 0) {
        set_deny(d, BW_R_POLICY_UNAVAILABLE, 503);
        return;
    }
    if (!c->policy) { /* no policy in force: nothing is allowed by default */
        set_deny(d, BW_R_NO_MATCHING_RULE, 403);
        return;
    }
    uint8_t policy_sha256[32];
    memcpy(policy_sha256, bw_policy_sha256(c->policy), 32);
    decide_with(c, k, d);
    static const uint8_t zero[32];
    if (memcmp(d->policy_sha256, zero, 32) == 0) /* refused before the engine stamped it */
        memcpy(d->policy_sha256, policy_sha256, 32);
}

static void decide_with(struct bw_mcp_call *c, enum other_kind k, struct bw_policy_decision *d) {
    int read = k == OTHER_READ;
    json_t *params = json_object_get(c->msg.msg, "params");
    const json_t *args = read ? NULL : json_object_get(params, "arguments");
    if (read ? !uri_ok(c->msg.name) : !prompt_name_ok(c->msg.name)) {
        set_deny(d, BW_R_MCP_INVALID_MESSAGE, 400);
        return;
    }
    if (args && !json_is_object(args)) {
        set_deny(d, BW_R_MCP_INVALID_MESSAGE, 400);
        return;
    }
    json_t *empty = json_object();
    char *args_text = json_dumps(args ? args : empty, JSON_COMPACT);
    json_decref(empty);
    if (!args_text) {
        set_deny(d, BW_R_INTERNAL, 503);
        return;
    }
    bw_sha256(args_text, strlen(args_text), c->args_sha256);
    size_t args_len = strlen(args_text);
    free(args_text);
    if (args_len > BW_POLICY_MAX_ARGS_BYTES) {
        set_deny(d, BW_R_TOOL_ARGS_TOO_LARGE, 400);
        return;
    }
    int texts = 0;
    if (read) { /* content rules over the URI: a regex can say what a glob cannot (`\.\.`) */
        c->texts = calloc(1, sizeof *c->texts);
        if (c->texts)
            c->texts[c->n_texts++] = bw_slice_of(c->msg.name, strlen(c->msg.name));
        texts = c->texts ? 0 : -2;
    } else if (args) {
        texts = bw_mcp_collect_texts(c, args, BW_POLICY_MAX_TEXTS);
    }
    if (texts != 0) {
        set_deny(d, texts == -1 ? BW_R_TOOL_ARGS_TOO_LARGE : BW_R_INTERNAL,
                 texts == -1 ? 400 : 503);
        return;
    }
    bw_mcp_fill_input(c, c->route);
    c->input.resource = read ? c->msg.name : NULL;
    c->input.prompt = read ? NULL : c->msg.name;
    c->input.texts = c->texts;
    c->input.n_texts = c->n_texts;
    if (bw_policy_eval(c->policy, &c->input, d) != BW_OK && d->effect == BW_POLICY_ALLOW)
        set_deny(d, BW_R_INTERNAL, 500);
}

/* resources/list, prompts/list: the policy the answer will be filtered with, taken now (the
 * org's policy may need the store: never on the answer path). 0, or -1 after refusing. */
static int prepare_listing(struct bw_mcp_call *c) {
    if (bw_mcp_acquire_policy(c, &c->policy) == 0)
        return 0;
    bw_reqlog_set_decision(c->req, "deny", BW_R_POLICY_UNAVAILABLE, NULL);
    bw_mcp_fail(c, 503, BW_MCP_RPC_DENIED, BW_R_POLICY_UNAVAILABLE,
                "the policy is unavailable; nothing was listed");
    return -1;
}

int bw_mcp_govern_other(struct bw_mcp_call *c) {
    enum other_kind k = kind_of(c->msg.method);
    if (k == OTHER_NONE && (!c->msg.method || strcmp(c->msg.method, "tools/list") != 0))
        return 0;
    if (c->msg.kind != BW_MCP_REQUEST) {
        /* a notification named like a governed request would go on undecided */
        bw_mcp_fail(c, 400, BW_MCP_RPC_INVALID_REQUEST, BW_R_MCP_INVALID_MESSAGE,
                    "this method must be a request (with an id)");
        return 1;
    }
    switch (k) {
    case OTHER_READ:
    case OTHER_PROMPT:
        decide(c, k);
        bw_mcp_review_gate(c); /* records the decision, after spending an approval if sent */
        return 1;
    case OTHER_LIST_RES:
    case OTHER_LIST_PROMPTS:
        if (prepare_listing(c) != 0)
            return 1;
        bw_mcp_forward(c);
        return 1;
    case OTHER_NONE: /* tools/list: mcp_gateway.c decides it */
    default:
        return 0;
    }
}

void bw_mcp_refuse_list(struct bw_mcp_call *c, const struct bw_policy_decision *d) {
    c->decision = *d;
    c->route = "mcp.tools_list";
    c->no_tool_entry = 1;
    if (bw_mcp_canonical_hash(c, "bulwark-mcp-tools-list\n") != 0) {
        bw_mcp_fail(c, 503, BW_MCP_RPC_INTERNAL, BW_R_INTERNAL, "out of memory");
        return;
    }
    c->review_create = 0;
    bw_mcp_record_decision(c); /* durable, then the -32001 error with its receipt id */
}

/* Could a read of uri / a get of the prompt name be allowed? Decided as the real request would
 * be, without its texts (content rules see nothing here; the real request is decided again). */
static int could_allow(struct bw_mcp_call *c, int resources, const char *name) {
    if (!c->policy || !(resources ? uri_ok(name) : prompt_name_ok(name)))
        return 0;
    struct bw_policy_input in;
    bw_mcp_fill_input(c, resources ? "mcp.resources_read" : "mcp.prompts_get");
    in = c->input;
    in.resource = resources ? name : NULL;
    in.prompt = resources ? NULL : name;
    struct bw_policy_decision d;
    if (bw_policy_eval(c->policy, &in, &d) != BW_OK)
        return 0;
    return d.effect != BW_POLICY_DENY;
}

static int filter_list(struct bw_mcp_call *c, json_t *list, int resources) {
    const char *key = resources ? "uri" : "name";
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *e = json_array_get(list, i);
        json_t *v = json_object_get(e, key);
        int keep = json_is_object(e) && json_is_string(v) &&
                   strlen(json_string_value(v)) == json_string_length(v) &&
                   could_allow(c, resources, json_string_value(v));
        if (!keep && json_array_remove(list, i) != 0)
            return -1;
    }
    return 0;
}

int bw_mcp_filter_listing(struct bw_mcp_call *c, json_t *answer, int mine) {
    enum other_kind k = kind_of(c->msg.method);
    if (k != OTHER_LIST_RES && k != OTHER_LIST_PROMPTS)
        return 1;
    json_t *result = json_object_get(answer, "result");
    if (!result)
        return 0; /* an error, a notification or a server request: not a listing */
    int resources = k == OTHER_LIST_RES;
    json_t *list = json_object_get(result, resources ? "resources" : "prompts");
    if (!json_is_array(list)) /* the answer to this request must be the listing */
        return mine ? -1 : 0;
    return filter_list(c, list, resources);
}
