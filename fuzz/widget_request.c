/* libFuzzer: the widget's request body parser and CORS checks on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/widget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bw_widget_request r;
    const char *reason = NULL;
    char why[200];
    if (bw_widget_request_parse(data, size, 64, &r, &reason, why, sizeof why) == BW_OK) {
        if (r.message_len == 0 || r.message_len > 64 ||
            !bw_widget_utf8_ok(r.message, r.message_len))
            abort(); /* the parser's promises */
        bw_widget_request_cleanup(&r);
    }
    /* The same bytes as an Origin, an origin list, and preflight headers. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    (void)bw_widget_origin_allowed(s, s);
    (void)bw_widget_origin_allowed("https://a.example https://b.example", s);
    (void)bw_widget_preflight_ok("POST", s);
    char key[BW_WIDGET_KEY_SIZE];
    if (bw_widget_path_key(s, key))
        (void)bw_widget_key_shape_ok(key, strlen(key));
    free(s);
    return 0;
}
