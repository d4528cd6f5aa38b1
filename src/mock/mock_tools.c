/* mock_tools.c: when the mock calls a tool, which one, and with what arguments.
 *
 * A tool call is due when the request offers function tools and either tool_choice demands one
 * ("required", or a named function) or, under "auto", the last user message names an offered
 * tool or says "use a tool" or "call". */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_internal.h"
#include "util/json.h"

#define ARG_EXCERPT_CHARS 40
#define MAX_FILLED_PROPS 256

/* The "function" object of an offered function tool with a usable name, else NULL. */
static const json_t *tool_function(const json_t *tool) {
    const char *type = bw_json_str(tool, "type");
    const json_t *fn = json_object_get(tool, "function");
    const char *name = bw_json_str(fn, "name");
    if (!type || strcmp(type, "function") != 0 || !name || !*name)
        return NULL;
    return fn;
}

static const json_t *first_tool(const json_t *tools) {
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = tool_function(tool);
        if (fn)
            return fn;
    }
    return NULL;
}

static const json_t *tool_named(const json_t *tools, const char *name) {
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = tool_function(tool);
        if (fn && name && strcmp(bw_json_str(fn, "name"), name) == 0)
            return fn;
    }
    return NULL;
}

static int contains(const char *hay, size_t n, const char *needle, int fold_case) {
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i <= n - k; i++) {
        size_t j = 0;
        while (j < k && (fold_case ? tolower((unsigned char)hay[i + j]) == needle[j]
                                   : hay[i + j] == needle[j]))
            j++;
        if (j == k)
            return 1;
    }
    return 0;
}

static const json_t *tool_asked_for(const json_t *tools, const char *user, size_t len) {
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = tool_function(tool);
        if (fn && contains(user, len, bw_json_str(fn, "name"), 0))
            return fn;
    }
    if (contains(user, len, "use a tool", 1) || contains(user, len, "call", 1))
        return first_tool(tools);
    return NULL;
}

const json_t *bw_mock_tool_pick(const json_t *req, const char *user, size_t user_len) {
    const json_t *tools = json_object_get(req, "tools");
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return NULL;
    const json_t *choice = json_object_get(req, "tool_choice");
    if (json_is_string(choice)) {
        if (strcmp(json_string_value(choice), "none") == 0)
            return NULL;
        if (strcmp(json_string_value(choice), "required") == 0)
            return first_tool(tools);
    } else if (json_is_object(choice)) {
        return tool_named(tools, bw_json_str(json_object_get(choice, "function"), "name"));
    }
    return user ? tool_asked_for(tools, user, user_len) : NULL;
}

/* The JSON Schema type of a property: "type" as a string, or the first string in an array. */
static const char *schema_type(const json_t *schema) {
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return json_string_value(t);
    size_t i;
    const json_t *alt;
    json_array_foreach(t, i, alt) {
        if (json_is_string(alt) && strcmp(json_string_value(alt), "null") != 0)
            return json_string_value(alt);
    }
    return "string";
}

static json_t *property_value(const json_t *schema, json_t *excerpt) {
    const json_t *choices = json_object_get(schema, "enum");
    if (json_is_array(choices) && json_array_size(choices) > 0)
        return json_deep_copy(json_array_get(choices, 0));
    const char *type = schema_type(schema);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return json_integer(1);
    if (strcmp(type, "boolean") == 0)
        return json_true();
    if (strcmp(type, "array") == 0)
        return json_array();
    if (strcmp(type, "object") == 0)
        return json_object();
    if (strcmp(type, "null") == 0)
        return json_null();
    return json_incref(excerpt);
}

static json_t *build_args(const json_t *fn, json_t *excerpt) {
    const json_t *props = json_object_get(json_object_get(fn, "parameters"), "properties");
    if (!json_is_object(props) || json_object_size(props) == 0)
        return json_pack("{s:O}", "query", excerpt);
    json_t *args = json_object();
    const char *key;
    const json_t *schema;
    size_t filled = 0;
    json_object_foreach((json_t *)props, key, schema) {
        if (!args || filled++ == MAX_FILLED_PROPS)
            break;
        if (json_object_set_new(args, key, property_value(schema, excerpt)) != 0) {
            json_decref(args);
            args = NULL;
        }
    }
    return args;
}

static int dump_to_buf(const char *p, size_t n, void *arg) {
    return bw_buf_append(arg, p, n) == BW_OK ? 0 : -1;
}

bw_err bw_mock_tool_args(const json_t *fn, const char *user, size_t user_len, char **out) {
    size_t n = user ? bw_mock_prefix(user, user_len, ARG_EXCERPT_CHARS) : 0;
    json_t *excerpt = n ? json_stringn(user, n) : json_string("mock");
    json_t *args = excerpt ? build_args(fn, excerpt) : NULL;
    json_decref(excerpt);
    BW_ENSURE(args, BW_E_NOMEM);
    struct bw_buf b;
    bw_buf_init(&b, BW_MOCK_MAX_BODY);
    int rc = json_dump_callback(args, dump_to_buf, &b, JSON_COMPACT);
    json_decref(args);
    if (rc != 0 || !b.ptr) {
        bw_buf_cleanup(&b);
        return BW_E_NOMEM;
    }
    *out = (char *)b.ptr;
    return BW_OK;
}
