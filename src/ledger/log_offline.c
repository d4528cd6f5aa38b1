/* log_offline.c: what evidence export needs from a ledger directory besides the log file: the
 * key (loaded without the writer lock) and statement signing with domain separation. */
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "ledger/log_internal.h"

const char *bw_ledger_dir(const struct bw_ledger *l) {
    return l->dir;
}

bw_err bw_ledger_load_signer(const char *dir, struct bw_note_signer **out) {
    BW_ENSURE(dir && out, BW_E_INVALID);
    BW_ENSURE(sodium_init() >= 0, BW_E_CRYPTO); /* the key goes into sodium_malloc memory */
    char origin[BW_NOTE_NAME_MAX + 1];
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    BW_ENSURE(dfd >= 0, BW_E_IO);
    bw_err e = bw_ledger_load_origin_at(dfd, origin);
    if (e == BW_OK)
        e = bw_ledger_load_signer_at(dfd, origin, out);
    close(dfd);
    return e;
}

bw_err bw_ledger_sign_statement(const struct bw_note_signer *s, const char *text, size_t len,
                                struct bw_buf *out) {
    struct bw_checkpoint cp;
    /* C2SP tlog-checkpoint: line 2 is the decimal size. A statement whose text parses as a
     * checkpoint could be presented as a tree head the log never committed: refuse it. */
    BW_ENSURE(bw_note_checkpoint_parse(text, len, &cp) != BW_OK, BW_E_INVALID);
    return bw_note_sign(s, text, len, out);
}

bw_err bw_ledger_sign_manifest(const struct bw_ledger *l, const char *text, size_t len,
                               struct bw_buf *out) {
    return bw_ledger_sign_statement(l->signer, text, len, out);
}
