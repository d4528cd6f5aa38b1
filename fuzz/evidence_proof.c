/* evidence_proof.c: libFuzzer target for the proof text decoders (C2SP tlog-proof and hash
 * lists): decode, re-encode, and require the same bytes back when no extra line was present.
 * Build: make fuzz; run: build/fuzz/evidence_proof fuzz/corpus/evidence_proof */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_evidence_proof p;
    const char *text = (const char *)data;
    if (bw_evidence_proof_decode(text, size, &p) == BW_OK) {
        if (p.n > BW_EVIDENCE_MAX_PROOF || p.note.len == 0 ||
            p.note.ptr + p.note.len != data + size)
            abort();
        struct bw_buf b;
        bw_buf_init(&b, size + 64);
        if (bw_evidence_proof_encode(p.index, (const uint8_t(*)[32])p.hashes, p.n,
                                     (const char *)p.note.ptr, p.note.len, &b) != BW_OK)
            abort();
        int has_extra = size > 29 && memcmp(text + 23, "extra ", 6) == 0;
        if (!has_extra && (b.len != size || memcmp(b.ptr, data, size) != 0))
            abort();
        bw_buf_cleanup(&b);
    }
    uint8_t hashes[BW_EVIDENCE_MAX_PROOF][32];
    size_t n = 0;
    if (bw_evidence_hashes_decode(text, size, hashes, BW_EVIDENCE_MAX_PROOF, &n) == BW_OK &&
        size != n * 45)
        abort();
    return 0;
}
