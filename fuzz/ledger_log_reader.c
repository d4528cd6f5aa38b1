/* ledger_log_reader.c: libFuzzer target for the ledger's recovery scan (log_frame.h) on
 * arbitrary bytes, as if they were the log file found at open. Checks that the scan never
 * reads out of bounds and that its result is self-consistent: the kept prefix is within the
 * input and re-scanning it yields the same tree with nothing left to truncate.
 *
 * The key is fixed (seed bytes 0..31, origin below) so seeds written by a real ledger with that
 * key reach deep states. Build: make fuzz; run: build/fuzz/ledger_log_reader
 * fuzz/corpus/ledger_log_reader */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/log_frame.h"
#include "ledger/note.h"

#define ORIGIN "fuzz.bulwark.dev/log/00000000"

static struct bw_note_verifier verifier;
static uint64_t leaves_seen;

static void init_once(void) {
    static int done;
    if (done)
        return;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    struct bw_note_signer *s = NULL;
    char vkey[BW_NOTE_VKEY_MAX];
    if (bw_note_signer_new(ORIGIN, seed, &s) != BW_OK ||
        bw_note_signer_vkey(s, vkey, sizeof vkey) != BW_OK ||
        bw_note_verifier_parse(vkey, strlen(vkey), &verifier) != BW_OK)
        abort();
    bw_note_signer_free(s);
    done = 1;
}

static bw_err on_leaf(void *ctx, uint64_t index, uint64_t offset, const uint8_t leaf[32]) {
    (void)ctx;
    (void)offset;
    (void)leaf;
    if (index != leaves_seen)
        abort(); /* indices must be dense and in order */
    leaves_seen++;
    return BW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    leaves_seen = 0;
    struct bw_ledger_scan a, b;
    if (bw_ledger_scan(data, size, ORIGIN, &verifier, on_leaf, NULL, &a) != BW_OK)
        abort();
    if (a.keep_len > size || a.leaves > leaves_seen || a.frontier.size != a.leaves)
        abort();
    if (a.has_checkpoint && a.checkpoint_off + a.checkpoint_len > a.keep_len)
        abort();
    if (a.frozen)
        return 0;
    /* What recovery keeps must itself be a clean log. */
    leaves_seen = 0;
    if (bw_ledger_scan(data, (size_t)a.keep_len, ORIGIN, &verifier, on_leaf, NULL, &b) != BW_OK)
        abort();
    if (b.frozen || b.keep_len != a.keep_len || b.leaves != a.leaves ||
        memcmp(&b.frontier, &a.frontier, sizeof a.frontier) != 0)
        abort();
    return 0;
}
