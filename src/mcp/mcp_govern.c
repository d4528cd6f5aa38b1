/* mcp_govern.c: what the policy engine decides about MCP messages (docs/POLICY.md "MCP"). */
#include <string.h>

#include "config/config.h"
#include "mcp/mcp.h"
#include "policy/engine.h"

int bw_mcp_servers_from_config(const struct bw_config *cfg, const char *name,
                               struct bw_mcp_server *out) {
    for (size_t i = 0; cfg && i < cfg->n_mcp_servers; i++) {
        if (strcmp(cfg->mcp_servers[i].name, name) != 0)
            continue;
        out->name = cfg->mcp_servers[i].name;
        out->url = cfg->mcp_servers[i].url;
        return 1;
    }
    return 0;
}

/* Could a call of this tool be allowed? The engine decides it as a declared tool: a rule with
 * argument constraints matches only when its effect is allow, i.e. the constraints are taken as
 * satisfiable (some arguments could pass; each real call is decided with its own). */
static int could_allow(const struct bw_policy *p, const struct bw_policy_input *base,
                       const char *name) {
    struct bw_policy_tool t = {name, NULL};
    struct bw_policy_input in = *base;
    in.route = "mcp.tools_call";
    in.tools = &t;
    in.n_tools = 1;
    in.texts = NULL;
    in.n_texts = 0;
    struct bw_policy_decision d; /* the tool alone, as its call is decided (mcp_decide.c) */
    if (bw_policy_decide_tools(p, &in, &t, 1, &d) != BW_OK)
        return 0;
    return d.effect != BW_POLICY_DENY && d.effect != BW_POLICY_STRIP; /* strip: never callable */
}

int bw_mcp_filter_tools(const struct bw_policy *p, const struct bw_policy_input *base,
                        json_t *result) {
    json_t *tools = json_object_get(result, "tools");
    if (!json_is_object(result) || !json_is_array(tools))
        return -1;
    int removed = 0;
    for (size_t i = json_array_size(tools); i-- > 0;) {
        json_t *t = json_array_get(tools, i);
        json_t *name = json_object_get(t, "name");
        int keep = json_is_object(t) && json_is_string(name) && p &&
                   bw_policy_tool_name_ok(json_string_value(name), json_string_length(name)) &&
                   could_allow(p, base, json_string_value(name));
        if (keep)
            continue;
        if (json_array_remove(tools, i) != 0)
            return -1;
        removed++;
    }
    return removed;
}
