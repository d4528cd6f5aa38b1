/* libFuzzer: the plain answer governor (policy/answer.h). The input is one JSON answer, governed
 * as a 200 answer and as an error answer. Checks the promise that matters, with a scanner that
 * does not share the governor's view: an answer that is forwarded holds no call-like object
 * (anywhere, in any member) naming a tool the policy denies. */
#include <stdlib.h>
#include <string.h>

#include "policy/answer.h"
#include "policy/answer_shape.h"

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
        abort(); /* a denied call is in what would be forwarded */
}

static void check(json_t *answer, int is_error) {
    struct bw_policy_input in = {0};
    in.max_tokens = -1;
    in.estimated_cost = -1;
    struct bw_policy_answer a;
    bw_err e = is_error ? bw_policy_govern_error_answer(policy, answer, &a)
                        : bw_policy_govern_answer(policy, &in, "rest", answer, &a);
    if (e != BW_OK)
        return;
    if (!a.refused) {
        bw_answer_scan_calls(answer, 1000, no_evil, NULL);
    }
    for (size_t i = 0; i < a.n; i++)
        if (strncmp(a.verdicts[i].name, "evil", 4) == 0 &&
            a.verdicts[i].decision.effect == BW_POLICY_ALLOW)
            abort();
    bw_policy_answer_cleanup(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    if (!policy &&
        bw_policy_parse(policy_text, sizeof policy_text - 1, "p", &policy, err, sizeof err))
        abort();
    for (int is_error = 0; is_error < 2; is_error++) {
        json_t *answer = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!answer)
            return 0;
        check(answer, is_error);
        json_decref(answer);
    }
    return 0;
}
