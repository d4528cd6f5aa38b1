/* dsse.h: per-receipt DSSE signatures (ledger.sign_each). docs/EVIDENCE.md section 11 gives
 * every byte.
 *
 * DSSE v1 (https://github.com/secure-systems-lab/dsse, protocol.md): the signature is Ed25519
 * (RFC 8032, pure) by the log key over
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 * (LEN = ASCII decimal byte count, no leading zeros; SP = one 0x20), type =
 * BW_DSSE_PAYLOAD_TYPE, body = the exact receipt bytes. Envelope, exactly as Bulwark writes it
 * (RFC 8785 canonical JSON, standard padded base64):
 *   {"payload":"<b64 receipt>","payloadType":"application/vnd.bulwark.receipt+json",
 *    "signatures":[{"keyid":"<8 hex C2SP key id>","sig":"<b64 of 64 bytes>"}]}
 * (one line, no whitespace). Domain separation from the log's other signatures: a PAE starts
 * with "DSSEv1 " and, receipts being printable ASCII, contains no '\n', so it is never a
 * signed-note text (which ends in '\n') nor a checkpoint body. Pure and thread-safe; the
 * envelope parser is fuzzed by fuzz/ledger_dsse.c. */
#ifndef BW_LEDGER_DSSE_H
#define BW_LEDGER_DSSE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/note.h"
#include "ledger/receipt.h"
#include "util/buf.h"
#include "util/err.h"

#define BW_DSSE_PAYLOAD_TYPE "application/vnd.bulwark.receipt+json"
#define BW_DSSE_SIG_LEN 64
/* An envelope of a BW_RECEIPT_MAX_BYTES receipt fits (base64 5464 + 185). */
#define BW_DSSE_ENVELOPE_MAX 8192

/* Appends PAE(BW_DSSE_PAYLOAD_TYPE, payload) to out. */
bw_err bw_dsse_pae(const uint8_t *payload, size_t len, struct bw_buf *out) BW_MUST_CHECK;

/* Signs a receipt (1..BW_RECEIPT_MAX_BYTES bytes) with the log key. Errors: BW_E_INVALID
 * (length, or a byte outside printable ASCII: not a receipt), BW_E_NOMEM, BW_E_CRYPTO. */
bw_err bw_dsse_sign(const struct bw_note_signer *s, const uint8_t *payload, size_t len,
                    uint8_t sig[BW_DSSE_SIG_LEN]) BW_MUST_CHECK;

/* BW_OK if sig is v's Ed25519 signature over PAE(type, payload); BW_E_CRYPTO if not;
 * BW_E_INVALID / BW_E_NOMEM as for sign. */
bw_err bw_dsse_verify(const struct bw_note_verifier *v, const uint8_t *payload, size_t len,
                      const uint8_t sig[BW_DSSE_SIG_LEN]) BW_MUST_CHECK;

/* Appends the envelope (the exact form above) to out. */
bw_err bw_dsse_envelope_encode(const uint8_t *payload, size_t len,
                               const uint8_t key_id[BW_NOTE_KEY_ID_LEN],
                               const uint8_t sig[BW_DSSE_SIG_LEN],
                               struct bw_buf *out) BW_MUST_CHECK;

struct bw_dsse_envelope {
    uint8_t payload[BW_RECEIPT_MAX_BYTES];
    size_t payload_len;
    uint8_t key_id[BW_NOTE_KEY_ID_LEN];
    uint8_t sig[BW_DSSE_SIG_LEN];
};

/* Parses an envelope in exactly the form bw_dsse_envelope_encode writes (anything else, even
 * equivalent JSON, is BW_E_INVALID: one encoding per signature). Does not verify. */
bw_err bw_dsse_envelope_parse(const uint8_t *text, size_t len,
                              struct bw_dsse_envelope *out) BW_MUST_CHECK;

#endif
