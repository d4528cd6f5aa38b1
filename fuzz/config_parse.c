/* libFuzzer: the YAML configuration loader on arbitrary text. */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bw_config c;
    char err[512];
    if (bw_config_parse((const char *)data, size, "fuzz.yaml", &c, err, sizeof err) == BW_OK)
        bw_config_cleanup(&c);
    return 0;
}
