/* libFuzzer: the MCP gateway's JSON-RPC message parser (src/mcp/mcp_rpc.c) on arbitrary bytes,
 * then what the gateway does with a parsed message: the header check and the error body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bw_mcp_msg m;
    int code = 0;
    const char *reason = NULL, *why = NULL;
    if (bw_mcp_msg_parse((const char *)data, size, 32, &m, &code, &reason, &why) != BW_OK) {
        if (!reason || !why ||
            (code != BW_MCP_RPC_INVALID_REQUEST && code != BW_MCP_RPC_PARSE_ERROR))
            abort(); /* every refusal names its code, reason and why */
        return 0;
    }
    (void)bw_mcp_headers_agree(&m, m.method, m.name && m.name[0] ? m.name : NULL);
    (void)bw_mcp_headers_agree(&m, "tools/call", "x");
    char *e = bw_mcp_rpc_error(m.id, BW_MCP_RPC_DENIED, "denied", "TOOL_DENIED", "0.1", "rev_1");
    free(e);
    bw_mcp_msg_cleanup(&m);
    return 0;
}
