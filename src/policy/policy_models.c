#include <string.h>

#include "policy/policy.h"
#include "reason/reasons.h"
#include "util/codec.h"

const char *bw_decision_name(enum bw_decision d) {
    return d == BW_DECISION_ALLOW ? "allow" : "deny";
}

int bw_policy_model_allowed(const struct bw_config *c, const char *org_name, const char *model) {
    const struct bw_org_config *o = bw_config_org(c, org_name);
    if (!o || !model)
        return 0;
    for (size_t i = 0; i < o->n_allowed_models; i++)
        if (strcmp(o->allowed_models[i], model) == 0)
            return 1;
    return 0;
}

void bw_policy_decide_model(const struct bw_config *c, const char *org_name, const char *model,
                            struct bw_verdict *out) {
    struct bw_verdict v = {BW_DECISION_DENY, BW_R_MODEL_NOT_ALLOWED, "orgs.allowed_models", 403};
    if (!bw_config_org(c, org_name)) {
        v.reason = BW_R_ORG_NOT_CONFIGURED;
        v.rule = "default_deny";
    } else if (bw_policy_model_allowed(c, org_name, model)) {
        v.decision = BW_DECISION_ALLOW;
        v.reason = BW_R_ALLOWED;
        v.http_status = 200;
    }
    *out = v;
}

/* The org's name is left out on purpose: the text is shared by every org with the same models
 * and says nothing about who they are; the receipt names the org. */
bw_err bw_policy_models_text(const struct bw_config *c, const char *org_name, struct bw_buf *out) {
    const struct bw_org_config *o = org_name ? bw_config_org(c, org_name) : NULL;
    BW_TRY(bw_buf_append_str(out, "# bulwark.dev/config-models/v1\n"
                                  "# The platform policy without a policy file: the operator's "
                                  "config (orgs.ORG.allowed_models)\n"
                                  "# for the receipt's org. Model lists are always allowed "
                                  "(rule models.list).\n"));
    if (!o)
        return bw_buf_append_str(out, "# The config does not list this org: every call is "
                                      "denied (ORG_NOT_CONFIGURED).\nallowed_models: []\n");
    BW_TRY(bw_buf_append_str(out, "# Any other model is denied (MODEL_NOT_ALLOWED, rule "
                                  "orgs.allowed_models); names compare exactly.\n"
                                  "allowed_models:\n"));
    for (size_t i = 0; i < o->n_allowed_models; i++)
        BW_TRY(bw_buf_appendf(out, "  - \"%s\"\n", o->allowed_models[i]));
    return BW_OK;
}

void bw_policy_models_sha256(const struct bw_config *c, const char *org_name, uint8_t out[32]) {
    struct bw_buf b;
    bw_buf_init(&b, BW_POLICY_MODELS_TEXT_MAX);
    if (bw_policy_models_text(c, org_name, &b) == BW_OK)
        bw_sha256(b.ptr, b.len, out);
    else
        memcpy(out, c->sha256, 32);
    bw_buf_cleanup(&b);
}
