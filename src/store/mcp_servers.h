/* mcp_servers.h: the orgs' own MCP servers in the store (migration 10; docs/MCP.md "Per-org
 * servers"). Written once for both backends on sql.h.
 *
 * Tenant rules as connections.h: every function binds org_id and, on PostgreSQL, runs in a
 * transaction whose tenant is org_id, so another org's server answers BW_E_NOT_FOUND like a
 * missing one. Errors: BW_E_EXISTS (the name is taken in the org), BW_E_INVALID (a CHECK),
 * BW_E_UNAVAILABLE (store failure: deny). A server name is per org: two orgs may each have
 * "tools", and neither ever sees the other's.
 *
 * The credential is stored sealed (ciphertext only, for (org, row id)); listings never return
 * the sealed bytes, only whether there is one and its fingerprint. */
#ifndef BW_STORE_MCP_SERVERS_H
#define BW_STORE_MCP_SERVERS_H

#include <stddef.h>
#include <stdint.h>

#include "store/connections.h"
#include "store/store.h"

#define BW_MCP_SERVER_URL_MAX 2048 /* with its NUL; as config's BW_MCP_URL_MAX */

struct bw_mcp_server_record {
    char id[BW_ID_SIZE]; /* "mcs_<16 hex>": the sealed record's id */
    char org_id[BW_ID_SIZE];
    char name[64];
    char url[BW_MCP_SERVER_URL_MAX];
    int has_credential;
    char fingerprint[BW_VAULT_FINGERPRINT_SIZE + 4];
    char created_by[BW_ID_SIZE]; /* the admin key that saved it */
    int64_t created_ms;
};

/* Inserts r (sec NULL: no credential). BW_E_EXISTS if r->name is taken in the org. */
bw_err bw_store_mcp_server_create(struct bw_store *s, const struct bw_mcp_server_record *r,
                                  const struct bw_sealed_secret *sec) BW_MUST_CHECK;

typedef int (*bw_store_mcp_server_fn)(void *arg, const struct bw_mcp_server_record *r);
/* The org's servers by name (at most BW_STORE_LIST_MAX). fn returning non-zero stops. */
bw_err bw_store_mcp_server_list(struct bw_store *s, const char *org_id, bw_store_mcp_server_fn fn,
                                void *arg) BW_MUST_CHECK;

/* The org's server named name; with sealed non-NULL, its sealed credential copied into
 * sealed[0..size) (*sealed_len = 0 when it has none). BW_E_NOT_FOUND (none of that name in the
 * org), BW_E_TOO_LARGE (size too small). */
bw_err bw_store_mcp_server_get(struct bw_store *s, const char *org_id, const char *name,
                               struct bw_mcp_server_record *out, uint8_t *sealed, size_t size,
                               size_t *sealed_len) BW_MUST_CHECK;

/* Deletes the org's server named name (and its sealed credential with the row). */
bw_err bw_store_mcp_server_delete(struct bw_store *s, const char *org_id,
                                  const char *name) BW_MUST_CHECK;

#endif
