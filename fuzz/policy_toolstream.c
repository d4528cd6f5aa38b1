/* libFuzzer: the streamed tool-call assembler. The input is split on newlines; each line that
 * parses as JSON is fed as one chunk. Checks the one promise that matters: no emitted chunk
 * ever carries the name of a tool the policy denies (as "name":"evil.. in its bytes, or as a
 * call-like object anywhere in it, found by a scanner that is not the governor's view). */
#include <stdlib.h>
#include <string.h>

#include "policy/answer_shape.h"
#include "policy/toolstream.h"

static const char policy_text[] = "version: 1\nrules:\n"
                                  "  - id: deny-evil\n    match: {tool: 'evil*'}\n"
                                  "    effect: deny\n"
                                  "  - id: rest\n    effect: allow\n";
static struct bw_policy *policy;

static void no_evil(void *arg, const char *name, const char *args, size_t len) {
    (void)arg;
    (void)args;
    (void)len;
    if (strncmp(name, "evil", 4) == 0)
        abort(); /* a call-like object naming a denied tool, anywhere in an emitted chunk */
}

static bw_err emit(void *arg, const json_t *chunk) {
    (void)arg;
    char *s = json_dumps(chunk, JSON_COMPACT);
    if (s && strstr(s, "\"name\":\"evil"))
        abort(); /* a denied call reached the client */
    free(s);
    bw_answer_scan_calls(chunk, 1000, no_evil, NULL);
    return BW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    if (!policy &&
        bw_policy_parse(policy_text, sizeof policy_text - 1, "p", &policy, err, sizeof err))
        abort();
    struct bw_policy_input in = {0};
    in.max_tokens = -1;
    in.estimated_cost = -1;
    struct bw_toolstream_config cfg = {policy, &in, 256, 50, emit, NULL, NULL, NULL};
    struct bw_toolstream *s = NULL;
    if (bw_toolstream_new(&cfg, &s) != BW_OK)
        return 0;
    int64_t now = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
        json_t *chunk = json_loadb((const char *)data + i, n, JSON_REJECT_DUPLICATES, NULL);
        if (chunk) {
            bw_err e = bw_toolstream_feed(s, chunk, now += 10);
            json_decref(chunk);
            if (e != BW_OK)
                break;
        }
        (void)bw_toolstream_expire(s, now);
        i += n + 1;
    }
    (void)bw_toolstream_finish(s);
    bw_toolstream_free(s);
    return 0;
}
