/* libFuzzer: the bounded request-body JSON decoder (duplicates rejected, depth bounded). */
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = NULL;
    char why[200];
    if (bw_json_parse((const char *)data, size, 32, &j, why, sizeof why) == BW_OK) {
        if (bw_json_depth(j, 32) > 32)
            __builtin_trap();
        json_decref(j);
    }
    return 0;
}
