/* review_detail.c: the review item's detail (detail.h). */
#include "review/detail.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "review/review.h"

#define MAX_TOOLS 128 /* entries of each list; more are counted, not listed */

/* A tool call's arguments: OpenAI sends them as a JSON text; parse it for display when it is
 * one (bounded depth, no duplicate keys), else keep the string as sent. */
static json_t *arguments_of(json_t *v) {
    if (!json_is_string(v))
        return v ? json_deep_copy(v) : json_null();
    json_error_t err;
    json_t *parsed = json_loadb(json_string_value(v), json_string_length(v),
                                JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    return parsed ? parsed : json_copy(v);
}

static void add_tool(json_t *list, json_t *fn, int names_only) {
    if (!json_is_object(fn) || json_array_size(list) >= MAX_TOOLS)
        return;
    json_t *o = json_object();
    json_t *name = json_object_get(fn, "name");
    json_object_set_new(o, "name", json_is_string(name) ? json_copy(name) : json_string(""));
    if (!names_only) {
        json_t *d = json_object_get(fn, "description");
        if (json_is_string(d))
            json_object_set_new(o, "description", json_copy(d));
        json_t *p = json_object_get(fn, "parameters");
        if (p)
            json_object_set_new(o, "parameters", json_deep_copy(p));
    }
    json_array_append_new(list, o);
}

static void add_call(json_t *list, json_t *fn, int names_only) {
    if (!json_is_object(fn) || json_array_size(list) >= MAX_TOOLS)
        return;
    json_t *o = json_object();
    json_t *name = json_object_get(fn, "name");
    json_object_set_new(o, "name", json_is_string(name) ? json_copy(name) : json_string(""));
    if (!names_only)
        json_object_set_new(o, "arguments", arguments_of(json_object_get(fn, "arguments")));
    json_array_append_new(list, o);
}

static json_t *chat_detail(json_t *body, const char *model, int names_only) {
    json_t *tools = json_array(), *calls = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "tools"), i, v) {
        add_tool(tools, json_object_get(v, "function"), names_only);
    }
    json_array_foreach(json_object_get(body, "functions"), i, v) {
        add_tool(tools, v, names_only);
    }
    json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m) {
        size_t j;
        json_t *tc;
        json_array_foreach(json_object_get(m, "tool_calls"), j, tc) {
            add_call(calls, json_object_get(tc, "function"), names_only);
        }
        add_call(calls, json_object_get(m, "function_call"), names_only);
    }
    json_t *o = json_pack("{s:s, s:o, s:o}", "model", model ? model : "", "tools", tools,
                          "tool_calls", calls);
    if (o && names_only)
        json_object_set_new(o, "truncated", json_true());
    return o;
}

/* Dumps o (stolen); NULL if it does not fit. */
static char *dump_capped(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s && strlen(s) > BW_REVIEW_DETAIL_MAX) {
        free(s);
        return NULL;
    }
    return s;
}

char *bw_review_detail_chat(const void *body, const char *model) {
    json_t *b = (json_t *)body;
    char *s = dump_capped(chat_detail(b, model, 0));
    return s ? s : dump_capped(chat_detail(b, model, 1));
}

char *bw_review_detail_mcp(const char *server, const char *tool, const void *arguments) {
    json_t *args = arguments ? json_deep_copy((json_t *)arguments) : json_null();
    char *s = dump_capped(json_pack("{s:s, s:s, s:o}", "server", server ? server : "", "tool",
                                    tool ? tool : "", "arguments", args));
    if (s)
        return s;
    return dump_capped(json_pack("{s:s, s:s, s:b}", "server", server ? server : "", "tool",
                                 tool ? tool : "", "truncated", 1));
}
