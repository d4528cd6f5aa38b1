/* keyring.h: the master keys a process holds, chosen by the id a sealed record carries.
 *
 * A data directory holds up to three master key files, all 32 raw bytes, mode 0600 (as
 * master.h checks):
 *   master.key       the current key (or BULWARK_MASTER_KEY, which then takes its place: the
 *                    environment always means "the current key", never the next one);
 *   master.key.next  the key a rotation is moving records to (docs/SECURITY.md "Master key
 *                    rotation"); always a file, even when the environment holds the current key;
 *   master.key.prev  the key a finished rotation moved records away from, kept until the
 *                    operator deletes it; used only to open records still wrapped by it.
 * Every sealed record names its master key by id (seal.h), so opening picks the key by id:
 * there is no trial decryption and no guessing. Sealing uses the newest key held: next if
 * loaded, else current, so a record written during a rotation is already in its final form.
 *
 * Thread-safety: after load, every function but bw_keyring_load_next and bw_keyring_free is
 * thread-safe and lock-free. bw_keyring_load_next may run while other threads open and seal
 * (the next slot is published once with an atomic store and never replaced or freed before
 * bw_keyring_free); only one thread may call it. */
#ifndef BW_VAULT_KEYRING_H
#define BW_VAULT_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vault/master.h"
#include "vault/seal.h"

#define BW_KEYRING_FILE "master.key"
#define BW_KEYRING_NEXT_FILE "master.key.next"
#define BW_KEYRING_PREV_FILE "master.key.prev"

struct bw_keyring;

/* Loads dir's keys: the current one (environment, else dir/master.key; required) and, when
 * present, dir/master.key.next and dir/master.key.prev. A key file that exists but fails the
 * checks is an error (never silently skipped). A next or prev file holding the current key is
 * ignored. Errors: those of bw_master_load (BW_E_NOT_FOUND: no current key), BW_E_NOMEM. */
bw_err bw_keyring_load(const char *dir, struct bw_keyring **out) BW_MUST_CHECK;

/* A keyring from keys the caller already loaded; takes all three (any but current may be
 * NULL), also on error. */
bw_err bw_keyring_from(struct bw_master *current, struct bw_master *next, struct bw_master *prev,
                       struct bw_keyring **out) BW_MUST_CHECK;

/* Loads dir/master.key.next if the keyring holds no next key yet (SIGHUP during a rotation).
 * *loaded = 1 if a key was published now. BW_OK with *loaded = 0 if there is no file or it is
 * the key already held; BW_E_EXISTS if a different next key is already loaded (restart to
 * change it). Other errors as bw_keyring_load. */
bw_err bw_keyring_load_next(struct bw_keyring *r, const char *dir, int *loaded) BW_MUST_CHECK;

void bw_keyring_free(struct bw_keyring *r); /* wipes every key; NULL is a no-op */

/* The current key (for derivations tied to it, such as the legacy pepper). Never NULL. */
const struct bw_master *bw_keyring_current(const struct bw_keyring *r);
/* The key new records are sealed with: next if loaded, else current. Never NULL. */
const struct bw_master *bw_keyring_sealer(const struct bw_keyring *r);
/* The key whose id is master_id, or NULL if the keyring holds none. */
const struct bw_master *bw_keyring_find(const struct bw_keyring *r,
                                        const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES]);
/* The ids of the current and sealing keys. */
void bw_keyring_current_id(const struct bw_keyring *r, uint8_t out[BW_VAULT_MASTER_ID_BYTES]);
void bw_keyring_sealer_id(const struct bw_keyring *r, uint8_t out[BW_VAULT_MASTER_ID_BYTES]);

/* bw_vault_open with the key the record names. BW_E_NOT_FOUND if the keyring holds no key of
 * that id; otherwise the errors of bw_vault_open. */
bw_err bw_keyring_open(const struct bw_keyring *r, const char *org_id, const char *record_id,
                       const uint8_t *sealed, size_t sealed_len,
                       struct bw_vault_secret **out) BW_MUST_CHECK;

/* bw_vault_seal with bw_keyring_sealer(r). */
bw_err bw_keyring_seal(const struct bw_keyring *r, const char *org_id, const char *record_id,
                       const uint8_t *secret, size_t secret_len, uint8_t *out, size_t out_size,
                       size_t *out_len) BW_MUST_CHECK;

#endif
