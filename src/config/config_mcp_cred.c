/* config_mcp_cred.c: the operator's MCP server credentials (docs/CONFIG.md "mcp"). The config
 * names where the secret is, never the secret: `env:NAME` (an environment variable) or
 * `file:/ABSOLUTE/PATH` (a file with no group/other permission bits, one line). serve reads
 * each into "Bearer <secret>" in locked memory at start; a reference that does not resolve
 * stops the start (fail closed: the gateway would otherwise call the server unauthenticated).
 * No message ever carries the value. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_walk.h"
#include "http/bearer.h"
#include "util/text.h"

#define CRED_MAX 1024 /* bytes of one secret, as a BYOK provider key */

static int env_name_ok(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int bw_config_mcp_credential_ref_ok(const char *s) {
    if (strncmp(s, "env:", 4) == 0)
        return strlen(s + 4) <= 128 && env_name_ok(s + 4);
    if (strncmp(s, "file:", 5) != 0 || s[5] != '/')
        return 0;
    return bw_text_visible(s + 5, strlen(s + 5));
}

void bw_config_mcp_credential_free(struct bw_mcp_server_config *s) {
    if (s->credential_auth)
        sodium_free(s->credential_auth); /* wipes */
    s->credential_auth = NULL;
}

bw_err bw_config_mcp_load_credentials(struct bw_config *c, char *err, size_t err_size) {
    if (sodium_init() < 0) /* idempotent; serve has called it already */
        return BW_E_INTERNAL;
    for (size_t i = 0; i < c->n_mcp_servers; i++) {
        struct bw_mcp_server_config *s = &c->mcp_servers[i];
        bw_config_mcp_credential_free(s);
        if (!s->credential[0])
            continue;
        const char *why = "";
        const char *ref = s->credential;
        bw_err e = strncmp(ref, "env:", 4) == 0
                       ? bw_http_bearer_from_env(ref + 4, CRED_MAX, &s->credential_auth, &why)
                       : bw_http_bearer_from_file(ref + 5, CRED_MAX, &s->credential_auth, &why);
        if (e == BW_E_NOMEM)
            return e;
        if (e != BW_OK) {
            snprintf(err, err_size, "mcp.servers[%s].credential (%.140s): %s", s->name,
                     s->credential, why);
            return BW_E_INVALID;
        }
    }
    return BW_OK;
}
