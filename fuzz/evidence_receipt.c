/* evidence_receipt.c: libFuzzer target for the canonical receipt check (receipt_check.h): any
 * input it accepts must be printable ASCII and re-parse to the same fields; the verifier's
 * profile check accepts only what the parse accepts, with the same fields.
 * Build: make fuzz; run: build/fuzz/evidence_receipt fuzz/corpus/evidence_receipt */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/receipt_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bw_evidence_receipt a, b;
    const char *why = NULL;
    if (bw_evidence_receipt_parse(data, size, &a, &why) != BW_OK) {
        if (!why || bw_evidence_receipt_check(data, size, &b, NULL) == BW_OK)
            abort();
        return 0;
    }
    for (size_t i = 0; i < size; i++)
        if (data[i] < 0x20 || data[i] > 0x7e)
            abort();
    if (bw_evidence_receipt_parse(data, size, &b, NULL) != BW_OK || a.index != b.index ||
        a.kind != b.kind || strcmp(a.org_id, b.org_id) != 0)
        abort();
    if (bw_evidence_receipt_check(data, size, &b, &why) == BW_OK &&
        (a.index != b.index || a.kind != b.kind || strcmp(a.org_id, b.org_id) != 0))
        abort();
    return 0;
}
