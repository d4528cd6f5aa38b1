/* mcp_limits.c: the MCP gateway's configured limits, its Origin allow-list and the principal id
 * of an OAuth caller (mcp.h "configured limits and callers"). Pure: no I/O, no shared state. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "mcp/mcp.h"
#include "util/codec.h"

void bw_mcp_limits(const struct bw_config *cfg, struct bw_mcp_limits *out) {
    /* The config's reader bounds and defaults every value; the clamps only keep a config made
     * some other way (a test, a future reader) inside the ceilings. */
    long bytes = cfg->mcp_result_max_bytes > 0 ? cfg->mcp_result_max_bytes : 1L << 20;
    long ms = cfg->mcp_call_timeout_ms > 0 ? cfg->mcp_call_timeout_ms : 60000;
    long per_key = cfg->mcp_max_sessions_per_key > 0 ? cfg->mcp_max_sessions_per_key
                                                     : BW_MCP_MAX_SESSIONS_PER_KEY;
    long cpm = cfg->mcp_calls_per_minute > 0 ? cfg->mcp_calls_per_minute : 60;
    out->result_max_bytes = (size_t)bytes > BW_MCP_MAX_RESULT ? BW_MCP_MAX_RESULT : (size_t)bytes;
    out->call_timeout_ms = ms > BW_MCP_CALL_TIMEOUT_MS ? BW_MCP_CALL_TIMEOUT_MS : ms;
    out->sessions_per_key =
        (size_t)per_key > BW_MCP_MAX_SESSIONS ? BW_MCP_MAX_SESSIONS : (size_t)per_key;
    out->calls_per_minute = cpm;
}

int bw_mcp_origin_allowed(const struct bw_config *cfg, const char *origin) {
    /* Exact bytes: the config holds origins exactly as browsers serialize them (lowercase,
     * no default port), so no normalization of a client's value is needed, nor wanted. */
    for (size_t i = 0; i < cfg->n_mcp_allowed_origins; i++)
        if (strcmp(cfg->mcp_allowed_origins[i], origin) == 0)
            return 1;
    return 0;
}

void bw_mcp_oauth_principal(const char *issuer, const char *sub,
                            char out[BW_MCP_OAUTH_PRINCIPAL_LEN + 1]) {
    static const char tag[] = "bulwark-oauth-principal\n";
    /* issuer (config, < 512 bytes) and sub (verifier, < BW_OAUTH_ID_MAX) always fit; the NUL
     * between them keeps ("a", "bc") and ("ab", "c") apart */
    char buf[2048];
    size_t ni = strnlen(issuer, 1000), ns = strnlen(sub, 1000), n = 0;
    memcpy(buf, tag, sizeof tag - 1);
    n += sizeof tag - 1;
    memcpy(buf + n, issuer, ni);
    n += ni;
    buf[n++] = 0;
    memcpy(buf + n, sub, ns);
    n += ns;
    uint8_t digest[32];
    bw_sha256(buf, n, digest);
    memcpy(out, "oauth_", 6);
    if (bw_hex_encode(digest, 16, out + 6, BW_MCP_OAUTH_PRINCIPAL_LEN + 1 - 6) != BW_OK)
        out[6] = 0; /* 32 hex digits and a NUL always fit */
}
