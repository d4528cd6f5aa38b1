/* mcp_pins.h: MCP tool pins in the store (migration 10; docs/MCP.md "Tool pinning"). One row
 * per (org, server, tool): the pinned definition's SHA-256 and canonical text, and, while the
 * tool waits for an admin, the pending one. Tenant-scoped on both backends (RLS on
 * PostgreSQL). Texts are kept up to BW_MCP_PIN_DEF_MAX bytes, else "" (the hash is kept). */
#ifndef BW_STORE_MCP_PINS_H
#define BW_STORE_MCP_PINS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

enum bw_mcp_pin_state { BW_PIN_PINNED = 1, BW_PIN_CHANGED, BW_PIN_PENDING };

struct bw_mcp_pin {
    char server[65];
    char tool[129];
    enum bw_mcp_pin_state state;
    int has_pinned; /* 0 for a tool first seen in approve mode, until approved */
    uint8_t pinned_sha256[32];
    int has_pending; /* changed or pending: the definition waiting for an admin */
    uint8_t pending_sha256[32];
    const char *pinned_def;  /* list only: borrowed during the callback ("" = not kept) */
    const char *pending_def; /* list only */
    int64_t first_seen_ms, last_seen_ms, changed_ms, approved_ms;
    char approved_by[48];
};

const char *bw_mcp_pin_state_name(enum bw_mcp_pin_state s);

typedef int (*bw_store_mcp_pin_fn)(void *arg, const struct bw_mcp_pin *pin);

/* Calls fn for each pin of (org_id, server) (server NULL: every server), at most max, ordered by
 * server then tool; with_defs: pinned_def / pending_def are set (else NULL). Filters (NULL =
 * none): state, a state name; tool, one exact tool; after, only tools named after it (byte
 * order: a page cursor, meaningful with a server). fn's non-zero return stops with
 * BW_E_INTERNAL. */
struct bw_mcp_pin_filter {
    const char *server, *state, *tool, *after;
};
bw_err bw_store_mcp_pins_each(struct bw_store *s, const char *org_id,
                              const struct bw_mcp_pin_filter *f, int with_defs, size_t max,
                              bw_store_mcp_pin_fn fn, void *arg) BW_MUST_CHECK;

/* One definition seen in a tools/list answer that the cache says is new or differs. */
struct bw_mcp_pin_seen {
    const char *tool;
    uint8_t sha256[32];
    const char *def;  /* canonical text, or "" when over BW_MCP_PIN_DEF_MAX */
    int refresh_only; /* 1: the hash matches; only last_seen_ms is refreshed */
    int recorded;     /* out: 1 this call inserted the row, 2 it changed the pending hash */
};

/* In one transaction of org_id, for each seen definition: inserts a first-seen pin (pending
 * when approve, else pinned) unless the row exists; or, where the row holds neither this
 * pinned nor this pending hash, makes it changed (pending stays pending) with this definition
 * pending; or refreshes last_seen_ms. Conditional statements: concurrent writers never undo
 * each other. */
bw_err bw_store_mcp_pins_record(struct bw_store *s, const char *org_id, const char *server,
                                int approve, struct bw_mcp_pin_seen *seen, size_t n,
                                int64_t now_ms) BW_MUST_CHECK;

/* Approves the pending definition of (org_id, server, tool) if its hash is exactly sha256: it
 * becomes the pinned one. BW_E_NOT_FOUND (no such pin), BW_E_EXISTS (nothing pending, or
 * another hash pending: the admin looked at something else). */
bw_err bw_store_mcp_pin_approve(struct bw_store *s, const char *org_id, const char *server,
                                const char *tool, const uint8_t sha256[32], const char *by,
                                int64_t now_ms) BW_MUST_CHECK;

/* The pin of one tool (defs not read): BW_OK, BW_E_NOT_FOUND. */
bw_err bw_store_mcp_pin_get(struct bw_store *s, const char *org_id, const char *server,
                            const char *tool, struct bw_mcp_pin *out) BW_MUST_CHECK;

#endif
