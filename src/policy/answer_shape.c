/* answer_shape.c: the answer profile (see answer_shape.h). One table per level: a member is
 * either listed with its kind or an unknown scalar. The kinds are the OpenAI chat completion
 * object and chunk (platform.openai.com/docs/api-reference/chat/object and .../streaming),
 * plus fields OpenAI-compatible upstreams add in the same places (reasoning text, Azure's
 * content filter records, vLLM's stop_reason). */
#include "policy/answer_shape.h"

#include <string.h>

enum kind {
    K_TEXT,     /* string or null */
    K_INT,      /* integer >= 0 */
    K_ARRAY,    /* array or null: walked by the caller */
    K_OBJECT,   /* object or null: walked by the caller */
    K_RECORD1,  /* null, or an object of scalars */
    K_RECORD2,  /* null, or an object of scalars / K_RECORD1 */
    K_RECORD3,  /* null, or an object of scalars / K_RECORD2 */
    K_RECORDS2, /* null, or an array of K_RECORD2 */
    K_RECORDS4, /* null, or an array of records of depth 4 (Azure filter results) */
    K_LOGPROBS, /* null, or the logprobs object */
    K_SCALAR,   /* any scalar */
};

struct field {
    const char *key;
    enum kind kind;
};

static int scalar(const json_t *v) {
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

/* Member names that make an object look like a call to some client: never accepted as unknown
 * scalars (a flattened {"name":..,"arguments":..} at the wrong level is refused, not passed). */
static int call_word(const char *k) {
    static const char *const words[] = {"name",          "arguments", "input",
                                        "parameters",    "function",  "custom",
                                        "function_call", "tool_call", "tool_calls"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i], k) == 0)
            return 1;
    return 0;
}

int bw_answer_key_folds(const char *k, const char *word) {
    const unsigned char *p = (const unsigned char *)k;
    for (; *word; word++) {
        char c;
        if (p[0] == 0xC5 && p[1] == 0xBF) {
            c = 's', p += 2;
        } else if (p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0xAA) {
            c = 'k', p += 3;
        } else if (*p) {
            c = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
            p++;
        } else {
            return 0;
        }
        if (c != *word)
            return 0;
    }
    return !*p;
}

/* An unknown member spelled like a known one of its level or a call word (in another case):
 * a case-insensitive reader takes it for that member, which the gateway did not decide. */
static int folded_known(const char *k, const struct field *table, size_t n) {
    static const char *const words[] = {"name",          "arguments", "input",
                                        "parameters",    "function",  "custom",
                                        "function_call", "tool_call", "tool_calls"};
    for (size_t i = 0; i < n; i++)
        if (bw_answer_key_folds(k, table[i].key))
            return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (bw_answer_key_folds(k, words[i]))
            return 1;
    return 0;
}

static int record(const json_t *v, int depth) {
    if (json_is_null(v))
        return 1;
    if (!json_is_object(v) || depth <= 0)
        return 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        if (call_word(k) || (!scalar(m) && !record(m, depth - 1)))
            return 0;
    }
    return 1;
}

static int records(const json_t *v, int depth) {
    if (json_is_null(v))
        return 1;
    if (!json_is_array(v))
        return 0;
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) if (json_is_null(m) || !record(m, depth)) return 0;
    return 1;
}

/* {token, logprob, bytes: [int], top_logprobs: [same without top_logprobs]} */
static int token_list(const json_t *v, int nested) {
    if (json_is_null(v))
        return 1;
    if (!json_is_array(v))
        return 0;
    size_t i, j;
    json_t *t, *b;
    json_array_foreach(v, i, t) {
        if (!json_is_object(t))
            return 0;
        const char *k;
        json_t *m;
        json_object_foreach(t, k, m) {
            if (strcmp(k, "bytes") == 0) {
                if (!json_is_null(m) && !json_is_array(m))
                    return 0;
                json_array_foreach(m, j, b) if (!json_is_integer(b)) return 0;
            } else if (strcmp(k, "top_logprobs") == 0) {
                if (nested || !token_list(m, 1))
                    return 0;
            } else if (!scalar(m) || call_word(k)) {
                return 0;
            }
        }
    }
    return 1;
}

static int logprobs(const json_t *v) {
    if (json_is_null(v))
        return 1;
    if (!json_is_object(v))
        return 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        int ok = strcmp(k, "content") == 0 || strcmp(k, "refusal") == 0
                     ? token_list(m, 0)
                     : scalar(m) && !call_word(k);
        if (!ok)
            return 0;
    }
    return 1;
}

static int kind_ok(enum kind kind, const json_t *v) {
    switch (kind) {
    case K_TEXT:
        return json_is_string(v) || json_is_null(v);
    case K_INT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case K_ARRAY:
        return json_is_array(v) || json_is_null(v);
    case K_OBJECT:
        return json_is_object(v) || json_is_null(v);
    case K_RECORD1:
        return record(v, 1);
    case K_RECORD2:
        return record(v, 2);
    case K_RECORD3:
        return record(v, 3);
    case K_RECORDS2:
        return records(v, 2);
    case K_RECORDS4:
        return records(v, 4);
    case K_LOGPROBS:
        return logprobs(v);
    case K_SCALAR:
        return scalar(v);
    default:
        return 0;
    }
}

static bw_err check(const json_t *obj, const struct field *table, size_t n) {
    BW_ENSURE(json_is_object(obj), BW_E_INVALID);
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)obj, k, m) {
        size_t i = 0;
        while (i < n && strcmp(table[i].key, k) != 0)
            i++;
        /* unknown members: a scalar cannot carry a call; anything structured is unread */
        BW_ENSURE(i < n ? kind_ok(table[i].kind, m)
                        : scalar(m) && !call_word(k) && !folded_known(k, table, n),
                  BW_E_INVALID);
    }
    return BW_OK;
}

#define CHECK(obj, table) check(obj, table, sizeof(table) / sizeof((table)[0]))

static const struct field top_fields[] = {
    {"id", K_SCALAR},      {"object", K_SCALAR},
    {"created", K_SCALAR}, {"model", K_SCALAR},
    {"choices", K_ARRAY},  {"usage", K_RECORD2},
    {"error", K_RECORD3},  {"prompt_filter_results", K_RECORDS4},
};

static const struct field choice_fields[] = {
    {"index", K_INT},          {"message", K_OBJECT},    {"delta", K_OBJECT},
    {"finish_reason", K_TEXT}, {"logprobs", K_LOGPROBS}, {"content_filter_results", K_RECORD3},
};

static const struct field message_fields[] = {
    {"role", K_TEXT},
    {"content", K_TEXT},
    {"refusal", K_TEXT},
    {"reasoning_content", K_TEXT},
    {"reasoning", K_TEXT},
    {"tool_calls", K_ARRAY},
    {"function_call", K_OBJECT},
    {"annotations", K_RECORDS2},
    {"audio", K_RECORD1},
};

static const struct field call_fields[] = {
    {"index", K_INT},       {"id", K_TEXT},       {"type", K_TEXT},
    {"function", K_OBJECT}, {"custom", K_OBJECT},
};

static const struct field function_fields[] = {
    {"name", K_TEXT},
    {"arguments", K_TEXT},
    {"input", K_TEXT},
};

const char *const bw_answer_text_keys[] = {
    "role", "content", "refusal", "reasoning_content", "reasoning", "annotations", "audio", NULL};

bw_err bw_answer_check_top(const json_t *top) {
    return CHECK(top, top_fields);
}

bw_err bw_answer_check_choice(const json_t *choice) {
    BW_TRY(CHECK(choice, choice_fields));
    BW_ENSURE(json_is_integer(json_object_get(choice, "index")), BW_E_INVALID);
    /* a choice is a message or a delta, never both: one of them would go unread */
    BW_ENSURE(!json_object_get(choice, "message") || !json_object_get(choice, "delta"),
              BW_E_INVALID);
    return BW_OK;
}

bw_err bw_answer_check_message(const json_t *message) {
    return CHECK(message, message_fields);
}

bw_err bw_answer_check_call(const json_t *call) {
    BW_TRY(CHECK(call, call_fields));
    /* one call, one place for its name: a function and a custom body would be two */
    BW_ENSURE(!json_object_get(call, "function") || !json_object_get(call, "custom"), BW_E_INVALID);
    const char *type = json_string_value(json_object_get(call, "type"));
    BW_ENSURE(!type || strcmp(type, "function") == 0 || strcmp(type, "custom") == 0, BW_E_INVALID);
    return BW_OK;
}

bw_err bw_answer_check_function(const json_t *fn) {
    BW_TRY(CHECK(fn, function_fields));
    BW_ENSURE(!json_object_get(fn, "arguments") || !json_object_get(fn, "input"), BW_E_INVALID);
    return BW_OK;
}

int bw_answer_name_ok(const char *name, size_t len) {
    if (!name || len == 0 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

struct scan {
    size_t left;
    void (*fn)(void *, const char *, const char *, size_t);
    void *arg;
};

static void report(struct scan *s, const json_t *name, const json_t *args) {
    if (s->left == 0 || !json_is_string(name))
        return;
    s->left--;
    s->fn(s->arg, json_string_value(name), json_is_string(args) ? json_string_value(args) : NULL,
          json_is_string(args) ? json_string_length(args) : 0);
}

static void scan(struct scan *s, const json_t *v, int depth) {
    if (depth <= 0 || s->left == 0)
        return;
    size_t i;
    const char *k;
    json_t *m;
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) scan(s, m, depth - 1);
        return;
    }
    if (!json_is_object(v))
        return;
    const json_t *fn = json_object_get(v, "function");
    if (!json_is_object(fn))
        fn = json_object_get(v, "custom");
    if (json_is_object(fn) && json_is_string(json_object_get(fn, "name"))) {
        const json_t *a = json_object_get(fn, "arguments");
        report(s, json_object_get(fn, "name"), a ? a : json_object_get(fn, "input"));
    } else if (json_is_string(json_object_get(v, "name"))) {
        const json_t *a = json_object_get(v, "arguments");
        if (!a)
            a = json_object_get(v, "input");
        if (a || json_object_get(v, "parameters"))
            report(s, json_object_get(v, "name"), a);
    }
    json_object_foreach((json_t *)v, k, m) {
        if (m != fn)
            scan(s, m, depth - 1);
    }
}

void bw_answer_scan_calls(const json_t *v, size_t max,
                          void (*fn)(void *arg, const char *name, const char *args,
                                     size_t args_len),
                          void *arg) {
    struct scan s = {max, fn, arg};
    scan(&s, v, 64);
}
