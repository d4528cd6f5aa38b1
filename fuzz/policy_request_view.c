/* libFuzzer: the normalized request view (src/policy/request_view.c) over any body the HTTP
 * step accepts. Invariants: a refusal leaves the view empty; an accepted view names only tools
 * in the alphabet, each once (case-insensitively), every place points at one of them, and a
 * policy decides it without reading past the view. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/engine.h"
#include "util/json.h"

static struct bw_policy *policy;

static void load_policy(void) {
    static const char text[] = "version: 1\n"
                               "global:\n"
                               "  - {id: g, match: {tool: 'shell*'}, effect: deny}\n"
                               "  - {id: s, match: {tool: 'web_*'}, effect: strip}\n"
                               "  - {id: c, match: {content: 'XYZZY'}, effect: deny}\n"
                               "rules:\n"
                               "  - {id: a, effect: allow}\n";
    char err[256];
    if (bw_policy_parse(text, sizeof text - 1, "fuzz.yaml", &policy, err, sizeof err) != BW_OK)
        __builtin_trap();
}

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int same(const char *a, const char *b) {
    for (; *a && lower(*a) == lower(*b); a++, b++)
        ;
    return lower(*a) == lower(*b);
}

static void check(const struct bw_policy_request_view *v) {
    for (size_t i = 0; i < v->n_tools; i++) {
        if (!bw_policy_tool_name_ok(v->tools[i].name, strlen(v->tools[i].name)))
            __builtin_trap();
        for (size_t j = 0; j < i; j++)
            if (same(v->tools[i].name, v->tools[j].name))
                __builtin_trap();
    }
    for (size_t i = 0; i < v->n_refs; i++)
        if (v->refs[i].tool >= v->n_tools)
            __builtin_trap();
    if (v->n_texts > BW_POLICY_MAX_TEXTS || v->n_tools > BW_POLICY_MAX_TOOLS)
        __builtin_trap();
    struct bw_policy_input in = {"o",           NULL, NULL,     "chat",     v->model,
                                 v->max_tokens, 0.0,  v->tools, v->n_tools, v->texts,
                                 v->n_texts,    0,    NULL,     NULL,       NULL};
    struct bw_policy_decision d;
    (void)bw_policy_eval(policy, &in, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!policy)
        load_policy();
    json_t *j = NULL;
    char why[200];
    if (bw_json_parse((const char *)data, size, 32, &j, why, sizeof why) != BW_OK)
        return 0;
    for (int kind = BW_POLICY_BODY_CHAT; kind <= BW_POLICY_BODY_EMBEDDINGS; kind++) {
        struct bw_policy_request_view v;
        const char *reason = NULL;
        if (bw_policy_request_view_build(&v, j, (enum bw_policy_body_kind)kind, &reason, why,
                                         sizeof why) == BW_OK)
            check(&v);
        else if (v.n_tools || v.n_texts || v.n_refs || !reason)
            __builtin_trap();
        bw_policy_request_view_cleanup(&v);
    }
    json_decref(j);
    return 0;
}
