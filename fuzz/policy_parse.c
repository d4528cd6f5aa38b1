/* libFuzzer: the policy loader (YAML -> compiled rules) on arbitrary text; a policy that
 * compiles is then evaluated once, so the compiled form is exercised too. */
#include <stddef.h>
#include <stdint.h>

#include "policy/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bw_policy *p = NULL;
    char err[512];
    if (bw_policy_parse((const char *)data, size, "fuzz.yaml", &p, err, sizeof err) != BW_OK)
        return 0;
    json_t *args = json_pack("{s:s,s:i,s:[s]}", "path", "/data/x", "n", 5, "tags", "a");
    struct bw_policy_tool tools[2] = {{"read_file", NULL}, {"shell", args}};
    struct bw_slice text = bw_slice_of(data, size); /* the input itself, as message text */
    struct bw_policy_input in = {"acme", "bot", "agent", "chat",     "gpt-4o", 100,  0.5, tools,
                                 2,      &text, 1,       1700000000, NULL,     NULL, NULL};
    struct bw_policy_decision d;
    (void)bw_policy_eval(p, &in, &d);
    json_decref(args);
    bw_policy_unref(p);
    return 0;
}
