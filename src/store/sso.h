/* sso.h (store): each org's OpenID Connect identity provider and the subjects linked to its
 * members (migration 13; docs/CONSOLE.md "Single sign-on (OpenID Connect)"). Written once for
 * both backends on sql.h.
 *
 * Tenant rules as mcp_servers.h: every function binds org_id and, on PostgreSQL, runs in a
 * transaction whose tenant is org_id (forced row-level security), so another org's rows answer
 * BW_E_NOT_FOUND like missing ones. Errors: BW_E_NOT_FOUND, BW_E_EXISTS (a subject already
 * linked), BW_E_INVALID (a CHECK), BW_E_UNAVAILABLE (store failure: deny).
 *
 * The client secret is stored sealed for (org, row id) (src/vault/seal.h) with its master key
 * id in clear; only bw_store_sso_get with a buffer reads the sealed bytes back. */
#ifndef BW_STORE_SSO_H
#define BW_STORE_SSO_H

#include <stddef.h>
#include <stdint.h>

#include "store/connections.h"
#include "store/identity.h"
#include "store/store.h"

#define BW_SSO_ISSUER_MAX 512    /* with its NUL */
#define BW_SSO_CLIENT_ID_MAX 256 /* with its NUL */
#define BW_SSO_SUBJECT_MAX 256   /* with its NUL (OIDC Core 2: sub is at most 255 ASCII) */

struct bw_sso_record {
    char id[BW_ID_SIZE]; /* "sso_<16 hex>": the sealed record's id */
    char org_id[BW_ID_SIZE];
    char issuer[BW_SSO_ISSUER_MAX];
    char client_id[BW_SSO_CLIENT_ID_MAX];
    char claim[8];     /* "email" | "sub" */
    int allow_unknown; /* 1: an unknown person becomes a `member` (no privileges) */
    char fingerprint[BW_VAULT_FINGERPRINT_SIZE + 4];
    char updated_by[BW_ID_SIZE]; /* the admin key that saved it */
    int64_t updated_ms;
};

/* Inserts or replaces the org's configuration (one per org) with the sealed client secret. */
bw_err bw_store_sso_put(struct bw_store *s, const struct bw_sso_record *r,
                        const struct bw_sealed_secret *sec) BW_MUST_CHECK;

/* The org's configuration; with sealed non-NULL, its sealed secret copied into sealed[0..size)
 * (*sealed_len its length). BW_E_NOT_FOUND (none), BW_E_TOO_LARGE (size too small). */
bw_err bw_store_sso_get(struct bw_store *s, const char *org_id, struct bw_sso_record *out,
                        uint8_t *sealed, size_t size, size_t *sealed_len) BW_MUST_CHECK;

/* Deletes the org's configuration (the subject links stay: they name members, not the IdP). */
bw_err bw_store_sso_delete(struct bw_store *s, const char *org_id) BW_MUST_CHECK;

/* The member whose email equals `email` ignoring ASCII case. BW_E_NOT_FOUND (none), BW_E_EXISTS
 * (two members differ only by case: ambiguous, the caller refuses). */
bw_err bw_store_sso_member_by_email(struct bw_store *s, const char *org_id, const char *email,
                                    struct bw_member_record *out) BW_MUST_CHECK;

/* The member linked to IdP subject `subject` (exact). BW_E_NOT_FOUND (no link). */
bw_err bw_store_sso_member_by_subject(struct bw_store *s, const char *org_id, const char *subject,
                                      struct bw_member_record *out) BW_MUST_CHECK;

/* Links subject to member_id (replacing the member's previous link). BW_E_EXISTS (the subject
 * is another member's), BW_E_NOT_FOUND (no such member in the org). */
bw_err bw_store_sso_link(struct bw_store *s, const char *org_id, const char *member_id,
                         const char *subject, int64_t now_ms) BW_MUST_CHECK;
/* Removes member_id's link. BW_E_NOT_FOUND (none). */
bw_err bw_store_sso_unlink(struct bw_store *s, const char *org_id,
                           const char *member_id) BW_MUST_CHECK;

#endif
