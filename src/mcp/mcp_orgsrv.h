/* mcp_orgsrv.h: what the management API tells the MCP gateway (mcp_orgsrv.c). */
#ifndef BW_MCP_ORGSRV_H
#define BW_MCP_ORGSRV_H

/* An org's MCP server was created or deleted: every worker's cached lookups are dropped, so
 * this process serves the change at once (other replicas within their 1 s cache). */
void bw_mcp_orgsrv_changed(void);

#endif
