/* note.h: C2SP signed notes with Ed25519, and tlog checkpoints (the signed tree heads).
 *
 * Formats (docs/EVIDENCE.md "Checkpoints"):
 *   checkpoint body (C2SP tlog-checkpoint): "<origin>\n<decimal size>\n<base64 root>\n"
 *   signed note (C2SP signed-note): body "\n" then one line per signature
 *     "\xE2\x80\x94 <name> <base64(key_id[4] || ed25519_signature[64])>\n"
 *   key id: first 4 bytes of SHA-256(name || 0x0A || 0x01 || public_key)
 *   verifier key: "<name>+<8 lowercase hex key id>+<base64(0x01 || public_key)>"
 * so Go's golang.org/x/mod/sumdb/note and sigstore's checkpoint code accept them.
 *
 * Profile: this module writes and accepts only printable ASCII note text (plus '\n'); key names
 * are printable ASCII without spaces or '+'. Anything else is rejected (fail closed). */
#ifndef BW_LEDGER_NOTE_H
#define BW_LEDGER_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_NOTE_KEY_ID_LEN 4
#define BW_NOTE_NAME_MAX 255  /* bytes, excluding the NUL */
#define BW_NOTE_MAX_TEXT 8192 /* largest signed note verify will look at */
#define BW_NOTE_MAX_SIGS 100  /* as in Go's sumdb/note */
#define BW_NOTE_VKEY_MAX (BW_NOTE_NAME_MAX + 1 + 8 + 1 + 44 + 1)

/* Holds an Ed25519 secret key in sodium_malloc'd memory (guard pages, wiped and released by
 * bw_note_signer_free). Not thread-safe to free while signing; signing itself is reentrant. */
struct bw_note_signer;

/* Derives the key pair from a 32-byte seed (the seed is not kept). name must be a valid key
 * name. Errors: BW_E_INVALID (name), BW_E_NOMEM, BW_E_CRYPTO. */
bw_err bw_note_signer_new(const char *name, const uint8_t seed[32],
                          struct bw_note_signer **out) BW_MUST_CHECK;
/* Wipes the secret key and frees. NULL is a no-op. */
void bw_note_signer_free(struct bw_note_signer *s);
const char *bw_note_signer_name(const struct bw_note_signer *s);
const uint8_t *bw_note_signer_key_id(const struct bw_note_signer *s);     /* 4 bytes */
const uint8_t *bw_note_signer_public_key(const struct bw_note_signer *s); /* 32 bytes */
/* The verifier key string. BW_E_TOO_LARGE if out_size is too small (BW_NOTE_VKEY_MAX fits). */
bw_err bw_note_signer_vkey(const struct bw_note_signer *s, char *out,
                           size_t out_size) BW_MUST_CHECK;

/* Appends text, the blank line and this signer's signature line to out. text must be a note
 * body: non-empty, ending in '\n', printable ASCII and '\n' only, no empty line. Errors:
 * BW_E_INVALID, BW_E_TOO_LARGE (out's cap), BW_E_CRYPTO. */
bw_err bw_note_sign(const struct bw_note_signer *s, const char *text, size_t len,
                    struct bw_buf *out) BW_MUST_CHECK;

/* Ed25519 signature over a DSSE pre-authentication encoding (ledger/dsse.c only). Refuses
 * (BW_E_INVALID) any message that does not start with "DSSEv1 " or contains '\n': such a
 * message can never be mistaken for a signed-note text or checkpoint body, so this cannot be
 * used to sign a tree head. Errors: BW_E_INVALID, BW_E_CRYPTO. Reentrant. */
bw_err bw_note_signer_sign_pae(const struct bw_note_signer *s, const uint8_t *pae, size_t len,
                               uint8_t sig[64]) BW_MUST_CHECK;

/* 1 if name is a key name this module accepts (1..BW_NOTE_NAME_MAX printable ASCII bytes, no
 * space, no '+'). */
int bw_note_name_ok(const char *name) BW_MUST_CHECK;

/* 1 if text fits the note text profile both the signer and the verifier enforce: non-empty,
 * printable ASCII lines, each ending in '\n', none empty (an empty line would be taken for the
 * text/signature separator). */
int bw_note_text_ok(const char *text, size_t len) BW_MUST_CHECK;

/* C2SP signed-note key id for an Ed25519 key: SHA-256(name || 0x0A || 0x01 || pk)[0:4]. */
void bw_note_key_id(const char *name, const uint8_t public_key[32], uint8_t out[4]);

/* A parsed verifier key. Plain value; holds only public data. */
struct bw_note_verifier {
    char name[BW_NOTE_NAME_MAX + 1];
    uint8_t key_id[BW_NOTE_KEY_ID_LEN];
    uint8_t public_key[32];
};

/* Parses "<name>+<hex key id>+<base64(0x01 || pk)>" and checks that the key id matches the name
 * and key. Errors: BW_E_INVALID. */
bw_err bw_note_verifier_parse(const char *vkey, size_t len,
                              struct bw_note_verifier *out) BW_MUST_CHECK;

/* Checks a signed note: well-formed (C2SP signed-note), and at least one signature line by v
 * that verifies. Lines by other keys are ignored; a line with v's name and key id that does not
 * verify fails the note. On success *text_len is the length of the signed text (the body,
 * including its final '\n'). Errors: BW_E_INVALID (malformed, too large), BW_E_CRYPTO (no valid
 * signature by v). */
bw_err bw_note_verify(const struct bw_note_verifier *v, const char *note, size_t len,
                      size_t *text_len) BW_MUST_CHECK;

/* A parsed tlog checkpoint body. */
struct bw_checkpoint {
    char origin[BW_NOTE_NAME_MAX + 1];
    uint64_t size;
    uint8_t root[32];
};

/* Appends the C2SP tlog-checkpoint body. origin must satisfy bw_note_name_ok. */
bw_err bw_note_checkpoint_body(const char *origin, uint64_t size, const uint8_t root[32],
                               struct bw_buf *out) BW_MUST_CHECK;

/* Parses a checkpoint body (the signed text of a note): origin line, decimal size without
 * leading zeros, base64 of exactly 32 bytes, then optional extension lines (covered by the
 * signature, otherwise ignored). Errors: BW_E_INVALID. */
bw_err bw_note_checkpoint_parse(const char *text, size_t len,
                                struct bw_checkpoint *out) BW_MUST_CHECK;

#endif
