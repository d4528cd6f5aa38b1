#include "vault/master.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

struct bw_master {
    uint8_t *key; /* sodium_malloc'd, PROT_READ except while loading */
};

bw_err bw_master_create(const char *path) {
    uint8_t key[BW_MASTER_KEY_BYTES];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? BW_E_EXISTS : BW_E_IO;
    randombytes_buf(key, sizeof key);
    ssize_t w = write(fd, key, sizeof key);
    sodium_memzero(key, sizeof key);
    int ok = w == (ssize_t)sizeof key && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return BW_E_IO;
    }
    return BW_OK;
}

static bw_err read_file(const char *path, uint8_t *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? BW_E_NOT_FOUND : BW_E_IO;
    struct stat st;
    bw_err result = BW_OK;
    if (fstat(fd, &st) != 0) {
        result = BW_E_IO;
    } else if ((st.st_mode & 077) != 0 || !S_ISREG(st.st_mode)) {
        result = BW_E_DENIED; /* readable by others: refuse rather than trust it */
    } else if (st.st_size != BW_MASTER_KEY_BYTES ||
               read(fd, out, BW_MASTER_KEY_BYTES) != BW_MASTER_KEY_BYTES) {
        result = BW_E_INVALID;
    }
    close(fd);
    return result;
}

static bw_err read_env(const char *b64, uint8_t *out) {
    size_t len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, BW_MASTER_KEY_BYTES, b64, strlen(b64), NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != BW_MASTER_KEY_BYTES || *end != 0)
        return BW_E_INVALID;
    return BW_OK;
}

static bw_err load(const char *path, int env_first, struct bw_master **out) {
    if (sodium_init() < 0)
        return BW_E_CRYPTO;
    struct bw_master *m = calloc(1, sizeof *m);
    if (!m)
        return BW_E_NOMEM;
    m->key = sodium_malloc(BW_MASTER_KEY_BYTES);
    if (!m->key) {
        free(m);
        return BW_E_NOMEM;
    }
    const char *env = env_first ? getenv(BW_MASTER_ENV) : NULL;
    bw_err result = env && *env ? read_env(env, m->key) : read_file(path, m->key);
    if (result != BW_OK) {
        bw_master_free(m);
        return result;
    }
    sodium_mprotect_readonly(m->key);
    *out = m;
    return BW_OK;
}

bw_err bw_master_load(const char *path, struct bw_master **out) {
    return load(path, 1, out);
}

bw_err bw_master_load_file(const char *path, struct bw_master **out) {
    return load(path, 0, out);
}

bw_err bw_master_install(const char *path, const char *dest) {
    if (sodium_init() < 0)
        return BW_E_CRYPTO;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", dest) >= (int)sizeof tmp)
        return BW_E_INVALID;
    uint8_t *key = sodium_malloc(BW_MASTER_KEY_BYTES);
    if (!key)
        return BW_E_NOMEM;
    bw_err result = read_file(path, key);
    if (result == BW_OK) {
        unlink(tmp); /* a temporary left by a crash: never a live key file */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            result = BW_E_IO;
        } else {
            int ok = write(fd, key, BW_MASTER_KEY_BYTES) == BW_MASTER_KEY_BYTES && fsync(fd) == 0;
            close(fd);
            if (!ok || rename(tmp, dest) != 0) {
                unlink(tmp);
                result = BW_E_IO;
            } else {
                result = bw_file_fsync_parent(dest);
            }
        }
    }
    sodium_free(key); /* wipes */
    return result;
}

void bw_master_free(struct bw_master *m) {
    if (!m)
        return;
    sodium_free(m->key); /* sodium_free wipes before unmapping */
    free(m);
}

bw_err bw_master_derive(const struct bw_master *m, uint64_t id, const char context[8],
                        uint8_t out[32]) {
    return crypto_kdf_derive_from_key(out, 32, id, context, m->key) == 0 ? BW_OK : BW_E_CRYPTO;
}
