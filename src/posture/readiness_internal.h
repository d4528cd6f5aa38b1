/* readiness_internal.h: the controls of readiness.h and the snapshot they fill. Not a public
 * contract: only src/posture/ includes it. Every control runs on the refresher thread only. */
#ifndef BW_POSTURE_READINESS_INTERNAL_H
#define BW_POSTURE_READINESS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "posture/readiness.h"
#include "store/store.h"

enum { BW_READY_PASS = 0, BW_READY_WARN = 1, BW_READY_FAIL = 2 };

/* The controls, in the order every view lists them. */
enum bw_ready_control {
    BW_CTL_MASTER_KEY,
    BW_CTL_SIGNING_KEY,
    BW_CTL_LEDGER,
    BW_CTL_POLICY,
    BW_CTL_CONFIG_SECRETS,
    BW_CTL_TRANSPORT,
    BW_CTL_STORE_ISOLATION,
    BW_CTL_EGRESS_GUARD,
    BW_CTL_UPSTREAM_CREDENTIALS,
    BW_CTL_WIDGETS, /* org-scoped */
    BW_CTL_KEYS,    /* org-scoped */
    BW_CTL_COUNT,
};

#define BW_READY_MAX_ORGS 1024 /* orgs checked per refresh; the rest fail as unchecked */
#define BW_READY_UNUSED_MS (90LL * 24 * 3600 * 1000)
#define BW_READY_DETAIL 256

/* One verdict. detail and values are operator-only (or the org admin's, for its own org). */
struct bw_ready_result {
    int status;
    char detail[BW_READY_DETAIL]; /* fixed text with counts: never a path, host or secret */
    json_t *values;               /* owned; NULL = {} */
};

/* The org-scoped controls of one org. */
struct bw_ready_org {
    char org_id[BW_ID_SIZE];
    struct bw_ready_result widgets, keys;
};

/* Immutable once published. refs is under struct bw_readiness's mutex. */
struct bw_ready_snapshot {
    unsigned refs;
    int64_t taken_ms;
    struct bw_ready_result ctl[BW_CTL_COUNT];
    struct bw_ready_org *orgs; /* sorted by org_id */
    size_t n_orgs;
};

/* Verdicts on org policies already read, by the SHA-256 of their exact bytes, so a refresh
 * parses only policies it has not seen. Owned by the refresher thread (no lock). */
#define BW_READY_POLICY_CACHE 256
struct bw_ready_policy_cache {
    struct {
        uint8_t sha256[32];
        int used;
        size_t allow_all;
    } e[BW_READY_POLICY_CACHE];
    size_t next; /* the slot the next new entry replaces (round robin) */
};

/* What one refresh works with. store may be NULL (it could not be opened: store-reading
 * controls fail). */
struct bw_ready_ctx {
    const struct bw_readiness_env *env;
    struct bw_store *store;
    int64_t now_ms;
    struct bw_ready_policy_cache *policies; /* the refresher's */
    int *store_error; /* set to 1 by a control whose store read failed: reconnect next time */
};

/* Notes a failed store read (the handle may be broken: the refresher reopens it). */
void bw_ready_store_failed(const struct bw_ready_ctx *c);

const char *bw_ready_control_id(int control);

/* Sets status and formats detail (printf). values stays as it is. */
void bw_ready_set(struct bw_ready_result *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* r->values, created on first use (NULL only when out of memory). */
json_t *bw_ready_values(struct bw_ready_result *r) BW_MUST_CHECK;
void bw_ready_result_cleanup(struct bw_ready_result *r);

/* readiness_controls.c: key files, ledger, policy, config secrets, transport. */
void bw_ready_master_key(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_signing_key(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_ledger(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_policy(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_config_secrets(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_transport(const struct bw_ready_ctx *c, struct bw_ready_result *r);

/* readiness_controls_store.c: store isolation, egress guard, upstream credentials. */
void bw_ready_store_isolation(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_egress_guard(const struct bw_ready_ctx *c, struct bw_ready_result *r);
void bw_ready_upstream_credentials(const struct bw_ready_ctx *c, struct bw_ready_result *r);

/* readiness_controls_tenant.c: widgets and keys, per org and platform-wide, and the orgs' own
 * policies. Fills widgets/keys (platform-wide, with a per-org breakdown in values) and *orgs
 * (caller frees each org's results and the array); turns policy (already computed for the
 * platform policy) to fail if an org policy allows everything or cannot be read. */
void bw_ready_tenants(const struct bw_ready_ctx *c, struct bw_ready_result *widgets,
                      struct bw_ready_result *keys, struct bw_ready_result *policy,
                      struct bw_ready_org **orgs, size_t *n_orgs);
/* readiness_controls_policy.c: how many rules of org_id's own policy allow everything: 0 with
 * no org policy; -1 if it cannot be read or compiled. */
long bw_ready_org_policy_allow_all(const struct bw_ready_ctx *c, const char *org_id);

/* File facts for the key and secret checks (readiness_controls.c). */
struct bw_ready_file {
    int exists;  /* 1: lstat succeeded */
    int regular; /* a regular file, not a symlink */
    unsigned mode;
    long long size;
};
void bw_ready_stat(const char *path, struct bw_ready_file *f);
/* 1 if the file exists, is regular and has no group or other permission bits (0600, 0400). */
int bw_ready_private(const struct bw_ready_file *f) BW_MUST_CHECK;

/* Pure helpers of the controls, for the unit tests (tests/unit/posture/). */
size_t bw_ready_secret_shapes(const char *text, size_t len);   /* secret-shaped tokens in text */
int bw_ready_url_has_password(const char *url) BW_MUST_CHECK;  /* user:password@ or password= */
int bw_ready_host_is_loopback(const char *host) BW_MUST_CHECK; /* 127.0.0.0/8, ::1, localhost */

#endif
