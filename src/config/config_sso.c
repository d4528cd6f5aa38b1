/* config_sso.c: the `sso:` section (docs/CONFIG.md): the console's single sign-on. */
#include <string.h>

#include "config/config_walk.h"
#include "sso/sso.h"

static bw_err sso_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "public_url") == 0) {
        char why[128];
        BW_TRY(bw_cfg_str(w, v, "sso.public_url", c->sso_public_url, sizeof c->sso_public_url));
        /* the origin the IdP sends browsers back to: the issuer's rule (https, or http on a
         * loopback host), and no path: the callback path is ours */
        if (!bw_sso_issuer_ok(c->sso_public_url, why, sizeof why))
            return bw_cfg_fail(w, v, "sso.public_url: %s", why);
        const char *p = strstr(c->sso_public_url, "://");
        const char *slash = p ? strchr(p + 3, '/') : NULL;
        if (slash && slash[1])
            return bw_cfg_fail(w, v, "sso.public_url: an origin (scheme://host[:port]), no path");
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "sso: unknown key '%.64s'", key);
}

bw_err bw_cfg_sso_section(struct walk *w, const yaml_node_t *v) {
    return bw_cfg_each_pair(w, v, "sso", sso_field);
}
