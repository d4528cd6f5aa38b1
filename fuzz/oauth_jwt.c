/* libFuzzer: the OAuth access-token verifier and the JWK Set parser (src/oauth/). The first
 * byte picks the target: 'k' parses the rest as a JWK Set, anything else verifies the rest as a
 * token against a fixed P-256 key (kid "f1"; the seed corpus has a token it signed). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oauth/oauth.h"

static const char jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"f1\","
                           "\"x\":\"4fS7M9nJZHalSe_RLDpermKhz-2rUEdFJr322YqbsMQ\","
                           "\"y\":\"YUTIxVm-JZe7zwup1B6Ib-I8hMIdeh024cEPGBnC12Y\"}]}";

/* Owner: the fuzzing thread (libFuzzer runs inputs one at a time); set once, never freed. */
static struct bw_oauth_jwks *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[BW_OAUTH_WHY_SIZE];
    if (size == 0)
        return 0;
    if (!keys && bw_oauth_jwks_parse(jwks, sizeof jwks - 1, &keys, why, sizeof why) != BW_OK)
        __builtin_trap();
    if (data[0] == 'k') {
        struct bw_oauth_jwks *s = NULL;
        if (bw_oauth_jwks_parse((const char *)data + 1, size - 1, &s, why, sizeof why) == BW_OK)
            bw_oauth_jwks_unref(s);
        return 0;
    }
    const struct bw_oauth_params p = {
        "https://idp.example.com", "https://gw.example.com/mcp/x", "mcp", "org", "sub", 60};
    struct bw_oauth_claims c;
    int unknown = 0;
    enum bw_oauth_result r =
        bw_oauth_verify_jwt(keys, &p, (const char *)data + 1, size - 1, 1800000000, &c, &unknown);
    if (r == BW_OAUTH_OK && (!c.org[0] || !c.principal[0]))
        __builtin_trap(); /* an accepted token always names its org and principal */
    return 0;
}
