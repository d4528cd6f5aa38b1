/* billing.h: the process-wide billing state behind POST /api/v1/webhooks/billing and the glue
 * between config, store and limits (docs/SPEND.md).
 *
 * Webhook secrets are loaded once (bw_billing_load_secrets) into sodium_malloc'd memory owned by
 * this module and wiped by bw_billing_unload. The endpoint answers 503 WEBHOOK_NOT_CONFIGURED
 * while no secret of the request's scheme is loaded; if `serve` has not loaded them, the first
 * webhook request tries once itself (from the gateway's config), so the endpoint works before
 * the startup call is wired, and still fails closed when the secret is missing.
 *
 * Thread-safety: every function may be called from any thread; the state is guarded by one
 * mutex (webhooks are rare; verification takes microseconds). */
#ifndef BW_WEBHOOK_BILLING_H
#define BW_WEBHOOK_BILLING_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/err.h"
#include "webhook/webhook.h"

struct bw_limits;
struct bw_store;

/* Reads the secrets named by billing.{stripe,standard}_secret_{env,file} (file: must be a
 * regular file of mode 0600 or stricter, at most 4 KiB) and installs them, replacing any held.
 * A source that is configured but missing, empty, unreadable, too open or malformed is an error
 * (the message names the variable or file, never its content): serve must refuse to start.
 * Nothing configured: BW_OK, and the endpoint stays 503. Errors: BW_E_INVALID, BW_E_IO,
 * BW_E_NOMEM. */
bw_err bw_billing_load_secrets(const struct bw_config *cfg, char *err,
                               size_t err_size) BW_MUST_CHECK;

/* Wipes and frees the secrets; detaches limits. */
void bw_billing_unload(void);

/* The limits instance that webhook events update (org budgets) and GET /api/v1/budget reads
 * reservations from. Borrowed: must outlive the serving (detach with NULL before freeing). */
void bw_billing_attach_limits(struct bw_limits *l);
struct bw_limits *bw_billing_limits(void) BW_MUST_CHECK;

/* Verifies a webhook with the loaded keys of `scheme` (locks; see webhook.h for arguments).
 * BW_E_UNAVAILABLE with WEBHOOK_NOT_CONFIGURED if no key of that scheme is loaded. For the
 * lazy load, cfg may be non-NULL. */
bw_err bw_billing_verify(const struct bw_config *cfg, enum bw_webhook_scheme scheme,
                         const char *stripe_header, const char *msg_id, const char *timestamp,
                         const char *signature, const uint8_t *body, size_t body_len, int64_t now_s,
                         const char **reason) BW_MUST_CHECK;

/* The monthly limits in force for an org: the plan recorded by billing events (plan limits from
 * the current config, or the recorded ones if the plan left the config), else budgets.<org
 * name>, else unlimited. source is "plan", "config" or "none"; plan[32] the plan name or "". */
bw_err bw_billing_org_limits(const struct bw_config *cfg, struct bw_store *s, const char *org_id,
                             const char *org_name, struct bw_budget_limits *out, char plan[32],
                             const char **source) BW_MUST_CHECK;

/* The limits in force for a budget scope: the org's (bw_billing_org_limits) for agent "", else
 * the agent's budget in budgets.<org_name>.agents (-1, -1 if none). For leases (lease.h). */
bw_err bw_billing_scope_limits(const struct bw_config *cfg, struct bw_store *s, const char *org_id,
                               const char *org_name, const char *agent, int64_t *max_tokens,
                               int64_t *max_cost) BW_MUST_CHECK;

/* Startup restore into l as of now_ms: every org's limits (bw_billing_org_limits), the agent
 * budgets of the config, and the month's settled spend from the usage table, so a restart keeps
 * the month's spend. Run once before serving, on the thread that owns s. In leased mode
 * (several replicas) only the limits are set: the spend is counted in the shared pools; the
 * lease thread calls it again now and then to pick up plans recorded through other replicas. */
bw_err bw_billing_restore(const struct bw_config *cfg, struct bw_store *s, struct bw_limits *l,
                          int64_t now_ms) BW_MUST_CHECK;

#endif
