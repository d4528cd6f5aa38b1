/* ledger_dsse.c: libFuzzer target for the DSSE envelope parser (ledger/dsse.h) on arbitrary
 * bytes. Whatever parses must re-encode to exactly the input (one encoding per signature) and
 * then go through verification under a fixed key without crashing.
 * Build: make fuzz; run: build/fuzz/ledger_dsse fuzz/corpus/ledger_dsse */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/dsse.h"

/* tests/unit/ledger/golden/checkpoint.vkey */
#define VKEY "example.com/bulwark/test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_note_verifier v;
    static struct bw_dsse_envelope env;
    static int ready;
    if (!ready) {
        if (bw_note_verifier_parse(VKEY, strlen(VKEY), &v) != BW_OK)
            abort();
        ready = 1;
    }
    if (bw_dsse_envelope_parse(data, size, &env) != BW_OK)
        return 0;
    struct bw_buf again;
    bw_buf_init(&again, BW_DSSE_ENVELOPE_MAX);
    if (bw_dsse_envelope_encode(env.payload, env.payload_len, env.key_id, env.sig, &again) !=
            BW_OK ||
        again.len != size || memcmp(again.ptr, data, size) != 0)
        abort();
    bw_buf_cleanup(&again);
    bw_err e = bw_dsse_verify(&v, env.payload, env.payload_len, env.sig);
    if (e != BW_OK && e != BW_E_CRYPTO && e != BW_E_INVALID)
        abort();
    return 0;
}
