/* config.h: the gateway's configuration file (YAML, libyaml) and its defaults.
 *
 * Loading is strict: unknown keys, wrong types and out-of-range values are errors that name the
 * file, line and key, so a typo never silently becomes a default. The file holds no secret:
 * the upstream key is named by an environment variable or a file path. Not thread-safe while
 * loading; read-only afterwards. */
#ifndef BW_CONFIG_CONFIG_H
#define BW_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_CONFIG_MAX_ORGS 256
#define BW_CONFIG_MAX_MODELS 256

struct bw_org_config {
    char *name;
    char **allowed_models; /* exact model names */
    size_t n_allowed_models;
};

struct bw_config {
    char listen_host[256];
    int listen_port;
    int workers; /* 0 = one per core */

    char upstream_url[1024]; /* base including /v1, or "mock" */
    char upstream_key_env[128];
    char upstream_key_file[1024];
    int connect_timeout_ms;
    int timeout_ms;

    size_t max_body_bytes;
    size_t max_json_depth;
    size_t max_header_bytes;
    int client_timeout_s;

    size_t ledger_batch_max;
    int ledger_batch_wait_us;
    int ledger_fsync; /* 0 only for measuring the cost of durability: receipts may be lost */

    struct bw_org_config *orgs;
    size_t n_orgs;

    uint8_t sha256[32]; /* SHA-256 of the exact file bytes: the policy in force, for receipts */
};

/* Fills c with defaults (no orgs). */
void bw_config_defaults(struct bw_config *c);

/* Loads path over the defaults. On error writes "<path>:<line>: <why>" into err and leaves c
 * with defaults only. Errors: BW_E_IO (unreadable), BW_E_INVALID. */
bw_err bw_config_load(const char *path, struct bw_config *c, char *err,
                      size_t err_size) BW_MUST_CHECK;

/* Parses YAML text (for tests and fuzzing); `name` is used in error messages. */
bw_err bw_config_parse(const char *text, size_t len, const char *name, struct bw_config *c,
                       char *err, size_t err_size) BW_MUST_CHECK;

void bw_config_cleanup(struct bw_config *c);

/* The org named `name`, or NULL. */
const struct bw_org_config *bw_config_org(const struct bw_config *c, const char *name);

/* The default config text `bulwark init` writes. */
extern const char bw_config_default_text[];

#endif
