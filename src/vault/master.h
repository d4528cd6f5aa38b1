/* master.h: the master key, from which per-purpose keys are derived (libsodium crypto_kdf).
 *
 * The master key comes from the environment (BULWARK_MASTER_KEY, standard base64 of 32 bytes)
 * or from DIR/master.key (32 raw bytes, mode 0600 required: a group- or world-readable file is
 * refused). It never comes from the database or the config file. It lives in sodium_malloc'd,
 * read-only-protected memory and is wiped on free. Never printed or logged. */
#ifndef BW_VAULT_MASTER_H
#define BW_VAULT_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_MASTER_KEY_BYTES 32
#define BW_MASTER_ENV "BULWARK_MASTER_KEY"

struct bw_master;

/* Creates path with a fresh random key (O_EXCL, mode 0600). BW_E_EXISTS if present. */
bw_err bw_master_create(const char *path) BW_MUST_CHECK;

/* Loads the key from the environment if set, else from path. Errors: BW_E_NOT_FOUND (no file),
 * BW_E_DENIED (file mode not 0600 or 0400), BW_E_INVALID (wrong length or encoding). */
bw_err bw_master_load(const char *path, struct bw_master **out) BW_MUST_CHECK;
/* Loads the key from path only, even when BULWARK_MASTER_KEY is set (the next and previous
 * keys of a rotation, and `--new-key FILE`, are always files). Same errors. */
bw_err bw_master_load_file(const char *path, struct bw_master **out) BW_MUST_CHECK;
/* Copies the key at path (checked as bw_master_load_file) to dest: a temporary file in dest's
 * folder (O_EXCL, 0600), fsync'd, renamed over dest, then the folder fsync'd. The key passes
 * only through sodium_malloc'd memory. */
bw_err bw_master_install(const char *path, const char *dest) BW_MUST_CHECK;
void bw_master_free(struct bw_master *m); /* wipes; NULL is a no-op */

/* Derives a 32-byte subkey for a purpose: context is exactly 8 characters (crypto_kdf). */
bw_err bw_master_derive(const struct bw_master *m, uint64_t id, const char context[8],
                        uint8_t out[32]) BW_MUST_CHECK;

#endif
