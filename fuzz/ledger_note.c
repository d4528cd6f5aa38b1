/* ledger_note.c: libFuzzer target for the signed-note, verifier-key and checkpoint parsers
 * (note_verify.c) on arbitrary text. The verifier is the golden test key, so the seed corpus
 * (a valid checkpoint note and variants) starts from a note that verifies.
 * Build: make fuzz; run: build/fuzz/ledger_note fuzz/corpus/ledger_note */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/note.h"

/* tests/unit/ledger/golden/checkpoint.vkey */
#define VKEY "example.com/bulwark/test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_note_verifier v;
    static int ready;
    if (!ready) {
        if (bw_note_verifier_parse(VKEY, strlen(VKEY), &v) != BW_OK)
            abort();
        ready = 1;
    }
    const char *text = (const char *)data;
    size_t text_len = 0;
    if (bw_note_verify(&v, text, size, &text_len) == BW_OK) {
        if (text_len == 0 || text_len > size || text[text_len - 1] != '\n')
            abort();
        struct bw_checkpoint cp;
        (void)bw_note_checkpoint_parse(text, text_len, &cp);
    }
    struct bw_checkpoint cp2;
    if (bw_note_checkpoint_parse(text, size, &cp2) == BW_OK && strlen(cp2.origin) == 0)
        abort();
    struct bw_note_verifier other;
    if (bw_note_verifier_parse(text, size, &other) == BW_OK && !bw_note_name_ok(other.name))
        abort();
    return 0;
}
