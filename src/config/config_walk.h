/* config_walk.h: the strict YAML walk shared by the config's section readers (internal to
 * src/config/). A section reader is a field_fn called once per key of its mapping; it reads the
 * value with the typed getters below and names the file, line and key in every error. New
 * sections go in their own config_<topic>.c and one line in top_field (config.c). */
#ifndef BW_CONFIG_CONFIG_WALK_H
#define BW_CONFIG_CONFIG_WALK_H

#include <stddef.h>
#include <yaml.h>

#include "config/config.h"
#include "util/err.h"
#include "util/yaml_strict.h"

struct walk {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t err_size;
    struct bw_config *c;
    struct bw_org_config *org;       /* the org being filled by org_field */
    struct bw_budget_limits *limits; /* the budget or plan being filled by budget_limit_field */
    struct bw_budget_config *budget; /* the org budget being filled by budget_field */
    struct bw_price_config *price;
    const char *section; /* for messages: "budgets.acme", "plans.pro" */
    struct bw_yaml *y;   /* the strict reader's document (doc is &y->doc) */
};

typedef bw_err (*field_fn)(struct walk *w, const char *key, const yaml_node_t *v);

/* Writes "FILE:LINE: message" to w->err; returns BW_E_INVALID. */
bw_err bw_cfg_fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4))) BW_MUST_CHECK;
/* The scalar's text, or NULL for a mapping, a sequence or a plain null (~, null, nothing). */
const char *bw_cfg_scalar(const yaml_node_t *n);
/* The typed getters below are util/yaml_strict's: a number or boolean must be written plain
 * (`port: "8080"` is refused), a string must not be a plain null. */
/* A decimal integer in [lo, hi]. */
bw_err bw_cfg_int(struct walk *w, const yaml_node_t *n, const char *key, long lo, long hi,
                  long *out) BW_MUST_CHECK;
/* A string that fits out_size with its NUL. */
bw_err bw_cfg_str(struct walk *w, const yaml_node_t *n, const char *key, char *out,
                  size_t out_size) BW_MUST_CHECK;
/* true or false, nothing else. */
bw_err bw_cfg_bool(struct walk *w, const yaml_node_t *n, const char *key, int *out) BW_MUST_CHECK;
/* Calls fn for each key of a mapping; a non-mapping is an error (non-string, merge and duplicate
 * keys were refused when the document was loaded). */
bw_err bw_cfg_each_pair(struct walk *w, const yaml_node_t *map, const char *what,
                        field_fn fn) BW_MUST_CHECK;

/* Section readers in their own files. */
bw_err bw_config_log_field(struct walk *w, const char *key,
                           const yaml_node_t *v) BW_MUST_CHECK; /* log: */
/* config_tls.c: the listen_tls section and allow_plain_http (top-level keys), and the check
 * that at least one listener is configured. */
bw_err bw_cfg_tls_field(struct walk *w, const char *key, const yaml_node_t *v) BW_MUST_CHECK;
bw_err bw_cfg_tls_check(struct walk *w, const yaml_node_t *root) BW_MUST_CHECK;
/* config_metrics.c: the `metrics:` and `otel:` sections (key is which). */
bw_err bw_cfg_metrics_section(struct walk *w, const char *key, const yaml_node_t *v) BW_MUST_CHECK;
/* config_mcp.c: the `mcp:` section (servers, pin, limits, oauth); the check after the walk
 * (egress.allow may come later in the file) fills defaults and judges URLs; cleanup frees. */
bw_err bw_cfg_mcp_section(struct walk *w, const yaml_node_t *v) BW_MUST_CHECK;
bw_err bw_cfg_sso_section(struct walk *w, const yaml_node_t *v) BW_MUST_CHECK; /* config_sso.c */
bw_err bw_cfg_mcp_check(struct walk *w, const yaml_node_t *root) BW_MUST_CHECK;
void bw_cfg_mcp_cleanup(struct bw_config *c);
/* mcp-orgsrv (config_mcp_cred.c): wipes and frees s->credential_auth. */
void bw_config_mcp_credential_free(struct bw_mcp_server_config *s);

#endif
