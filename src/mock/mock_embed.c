/* mock_embed.c: POST /v1/embeddings with deterministic unit vectors.
 *
 * Component j of an input's vector comes from block j/8 of a SHA-256 chain: seed =
 * SHA-256(input bytes), block b = SHA-256(seed || b as 4 bytes little-endian), read as eight
 * little-endian uint32 mapped to [-1, 1]; the vector is then scaled to unit length. A token
 * array input is hashed as its compact JSON text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_internal.h"
#include "util/codec.h"
#include "util/json.h"

#define DEFAULT_DIMS 8
#define MAX_DIMS 4096
#define MAX_INPUTS 2048
#define MAX_COMPONENTS ((size_t)1 << 20) /* inputs x dimensions per request */

struct embed {
    const char *model;
    int base64;
    size_t dims;
    const json_t *inputs; /* an array of inputs (a string, or an array of integers) */
    json_t *owned;        /* inputs when we had to wrap the request's "input" */
    size_t tokens;
};

static bw_err invalid(char *why, size_t why_size, const char *msg) {
    snprintf(why, why_size, "%s", msg);
    return BW_E_INVALID;
}

static int is_token_array(const json_t *v) {
    size_t i;
    const json_t *t;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    json_array_foreach(v, i, t) {
        if (!json_is_integer(t))
            return 0;
    }
    return 1;
}

static bw_err parse_inputs(const json_t *input, struct embed *e, char *why, size_t why_size) {
    if (json_is_string(input) || is_token_array(input)) {
        e->owned = json_pack("[O]", input);
        BW_ENSURE(e->owned, BW_E_NOMEM);
        e->inputs = e->owned;
    } else if (json_is_array(input) && json_array_size(input) > 0) {
        e->inputs = input;
    } else {
        return invalid(why, why_size, "input must be a string or a non-empty array");
    }
    if (json_array_size(e->inputs) > MAX_INPUTS)
        return invalid(why, why_size, "at most 2048 inputs per request");
    size_t i;
    const json_t *in;
    json_array_foreach(e->inputs, i, in) {
        if (json_is_string(in))
            e->tokens +=
                bw_mock_tokens(bw_mock_chars(json_string_value(in), json_string_length(in)));
        else if (is_token_array(in))
            e->tokens += json_array_size(in);
        else
            return invalid(why, why_size, "each input must be a string or an array of tokens");
    }
    return BW_OK;
}

static bw_err parse_embed(const json_t *req, struct embed *e, char *why, size_t why_size) {
    e->model = bw_json_str(req, "model");
    if (!e->model || !*e->model || strlen(e->model) > BW_MOCK_MAX_MODEL)
        return invalid(why, why_size, "you must provide a model parameter");
    const json_t *fmt = json_object_get(req, "encoding_format");
    if (json_is_string(fmt) && strcmp(json_string_value(fmt), "base64") == 0)
        e->base64 = 1;
    else if (fmt && !json_is_null(fmt) &&
             !(json_is_string(fmt) && strcmp(json_string_value(fmt), "float") == 0))
        return invalid(why, why_size, "encoding_format must be \"float\" or \"base64\"");
    const json_t *dims = json_object_get(req, "dimensions");
    e->dims = DEFAULT_DIMS;
    if (dims && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1 ||
            json_integer_value(dims) > MAX_DIMS)
            return invalid(why, why_size, "dimensions must be an integer from 1 to 4096");
        e->dims = (size_t)json_integer_value(dims);
    }
    BW_TRY(parse_inputs(json_object_get(req, "input"), e, why, why_size));
    if (json_array_size(e->inputs) * e->dims > MAX_COMPONENTS)
        return invalid(why, why_size, "inputs x dimensions exceeds what the mock serves");
    return BW_OK;
}

static int dump_to_buf(const char *p, size_t n, void *arg) {
    return bw_buf_append(arg, p, n) == BW_OK ? 0 : -1;
}

static bw_err vector_of(const json_t *in, size_t dims, float *out) {
    uint8_t seed[36], block[32];
    if (json_is_string(in)) {
        bw_sha256(json_string_value(in), json_string_length(in), seed);
    } else {
        struct bw_buf text;
        bw_buf_init(&text, BW_MOCK_MAX_BODY);
        int rc = json_dump_callback(in, dump_to_buf, &text, JSON_COMPACT);
        if (rc == 0)
            bw_sha256(text.ptr, text.len, seed);
        bw_buf_cleanup(&text);
        BW_ENSURE(rc == 0, BW_E_NOMEM);
    }
    double norm = 0;
    for (size_t j = 0; j < dims; j++) {
        if (j % 8 == 0) {
            uint32_t b = (uint32_t)(j / 8);
            for (int k = 0; k < 4; k++)
                seed[32 + k] = (uint8_t)(b >> (8 * k));
            bw_sha256(seed, sizeof seed, block);
        }
        const uint8_t *p = block + 4 * (j % 8);
        uint32_t u =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        double x = (double)u / 4294967295.0 * 2.0 - 1.0;
        out[j] = (float)x;
        norm += x * x;
    }
    norm = sqrt(norm);
    for (size_t j = 0; j < dims && norm > 0; j++)
        out[j] = (float)(out[j] / norm);
    return BW_OK;
}

static json_t *floats_json(const float *v, size_t dims) {
    json_t *arr = json_array();
    for (size_t j = 0; arr && j < dims; j++) {
        if (json_array_append_new(arr, json_real(v[j])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* OpenAI's base64 encoding: the raw little-endian float32 array. */
static json_t *base64_json(const float *v, size_t dims) {
    size_t n = dims * 4, out_size = 4 * ((n + 2) / 3) + 1;
    uint8_t *raw = malloc(n);
    char *text = malloc(out_size);
    json_t *s = NULL;
    if (raw && text) {
        for (size_t j = 0; j < dims; j++) {
            uint32_t u;
            memcpy(&u, &v[j], 4);
            for (int k = 0; k < 4; k++)
                raw[4 * j + (size_t)k] = (uint8_t)(u >> (8 * k));
        }
        if (bw_b64_encode(raw, n, text, out_size) == BW_OK)
            s = json_string(text);
    }
    free(raw);
    free(text);
    return s;
}

static bw_err append_vectors(const struct embed *e, json_t *data) {
    float *vec = calloc(e->dims, sizeof *vec);
    BW_ENSURE(vec, BW_E_NOMEM);
    bw_err result = BW_OK;
    size_t i;
    const json_t *in;
    json_array_foreach(e->inputs, i, in) {
        BW_GOTO(vector_of(in, e->dims, vec));
        json_t *emb = e->base64 ? base64_json(vec, e->dims) : floats_json(vec, e->dims);
        json_t *item = json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)i,
                                 "embedding", emb);
        BW_GOTO_IF(!item || json_array_append_new(data, item) != 0, BW_E_NOMEM);
    }
out:
    free(vec);
    return result;
}

bw_err bw_mock_embed_answer(const json_t *req, struct bw_mock_reply *out, char *why,
                            size_t why_size) {
    struct embed e;
    memset(&e, 0, sizeof e);
    json_t *data = NULL, *v = NULL;
    bw_err result;
    BW_GOTO(parse_embed(req, &e, why, why_size));
    data = json_array();
    BW_GOTO_IF(!data, BW_E_NOMEM);
    BW_GOTO(append_vectors(&e, data));
    v = json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", e.model,
                  "usage", "prompt_tokens", (json_int_t)e.tokens, "total_tokens",
                  (json_int_t)e.tokens);
    BW_GOTO_IF(!v, BW_E_NOMEM);
    BW_GOTO(bw_mock_reply_json(out, 200, v));
out:
    json_decref(v);
    json_decref(data);
    json_decref(e.owned);
    return result;
}
