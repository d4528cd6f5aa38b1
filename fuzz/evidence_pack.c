/* evidence_pack.c: libFuzzer target for the evidence-pack reader and verifier (tar container,
 * member layout, manifest, statement, checkpoints, proofs, receipts) on arbitrary bytes. The
 * trusted key is the golden test key; seeds are real packs (signed by other keys, so every
 * check past the signatures still runs: the verifier reports all checks).
 * Build: make fuzz; run: build/fuzz/evidence_pack fuzz/corpus/evidence_pack */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/pack.h"

/* tests/unit/ledger/golden/checkpoint.vkey */
#define VKEY "example.com/bulwark/test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_note_verifier v;
    static struct bw_evidence_report rep;
    static int ready;
    if (!ready) {
        if (bw_note_verifier_parse(VKEY, strlen(VKEY), &v) != BW_OK)
            abort();
        ready = 1;
    }
    bw_err e = bw_evidence_verify(data, size, &v, NULL, &rep);
    if (e == BW_OK && !rep.ok)
        abort();
    struct bw_evidence_tar_reader r;
    struct bw_evidence_tar_entry ent;
    bw_evidence_tar_reader_init(&r, data, size);
    while (bw_evidence_tar_next(&r, 1u << 20, &ent) == BW_OK)
        if (!bw_evidence_tar_name_ok(ent.name) || ent.data.ptr + ent.data.len > data + size)
            abort();
    return 0;
}
