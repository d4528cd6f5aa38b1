/* reasons.h: Bulwark's stable reason codes (docs/REASON_CODES.md is the registry: each code's
 * meaning and HTTP status never change). */
#ifndef BW_REASON_REASONS_H
#define BW_REASON_REASONS_H

#define BW_R_ALLOWED "ALLOWED"
#define BW_R_UNAUTHENTICATED "UNAUTHENTICATED"
#define BW_R_ROLE_FORBIDDEN "ROLE_FORBIDDEN"
#define BW_R_MODEL_NOT_ALLOWED "MODEL_NOT_ALLOWED"
#define BW_R_ORG_NOT_CONFIGURED "ORG_NOT_CONFIGURED"
#define BW_R_INVALID_JSON "INVALID_JSON"
#define BW_R_JSON_TOO_DEEP "JSON_TOO_DEEP"
#define BW_R_INVALID_REQUEST "INVALID_REQUEST"
#define BW_R_BODY_TOO_LARGE "BODY_TOO_LARGE"
#define BW_R_UNSUPPORTED_MEDIA_TYPE "UNSUPPORTED_MEDIA_TYPE"
#define BW_R_NOT_FOUND "NOT_FOUND"
#define BW_R_METHOD_NOT_ALLOWED "METHOD_NOT_ALLOWED"
#define BW_R_UPSTREAM_TIMEOUT "UPSTREAM_TIMEOUT"
#define BW_R_UPSTREAM_BAD_RESPONSE "UPSTREAM_BAD_RESPONSE"
#define BW_R_UPSTREAM_UNAVAILABLE "UPSTREAM_UNAVAILABLE"
#define BW_R_LEDGER_UNAVAILABLE "LEDGER_UNAVAILABLE"
#define BW_R_STORE_UNAVAILABLE "STORE_UNAVAILABLE"
#define BW_R_SHUTTING_DOWN "SHUTTING_DOWN"
#define BW_R_INTERNAL "INTERNAL"

/* Policy engine (issue 3; src/policy/engine.h). */
#define BW_R_NO_MATCHING_RULE "NO_MATCHING_RULE"
#define BW_R_POLICY_DENIED "POLICY_DENIED"
#define BW_R_POLICY_MATCH_LIMIT "POLICY_MATCH_LIMIT"
#define BW_R_POLICY_UNAVAILABLE "POLICY_UNAVAILABLE"
#define BW_R_APPROVAL_REQUIRED "APPROVAL_REQUIRED"
#define BW_R_TOOL_DENIED "TOOL_DENIED"
#define BW_R_TOOL_STRIPPED "TOOL_STRIPPED"
#define BW_R_TOOL_ARGS_INVALID "TOOL_ARGS_INVALID"
#define BW_R_TOOL_ARGS_TOO_LARGE "TOOL_ARGS_TOO_LARGE"
#define BW_R_TOOL_CALL_INCOMPLETE "TOOL_CALL_INCOMPLETE"
#define BW_R_TOOL_CALL_DUPLICATE_ID "TOOL_CALL_DUPLICATE_ID"
#define BW_R_TOOL_STREAM_INVALID "TOOL_STREAM_INVALID"
#define BW_R_CONTENT_BLOCKED "CONTENT_BLOCKED"
#define BW_R_TOKENS_OVER_LIMIT "TOKENS_OVER_LIMIT"
#define BW_R_COST_OVER_LIMIT "COST_OVER_LIMIT"
#define BW_R_OUTSIDE_TIME_WINDOW "OUTSIDE_TIME_WINDOW"
#define BW_R_TOOL_NAME_INVALID                                                                     \
    "TOOL_NAME_INVALID" /* a tool name outside ^[A-Za-z0-9_.-]{1,64}$                              \
                         */
#define BW_R_TOOL_STRIP_CONFLICT "TOOL_STRIP_CONFLICT" /* a stripped tool forced or in history */
#define BW_R_ANSWER_UNGOVERNABLE "ANSWER_UNGOVERNABLE" /* answer shape outside the profile */
#define BW_R_TOOL_CALLS_TOO_MANY "TOOL_CALLS_TOO_MANY" /* more calls than one answer may hold */

/* Review queue (issue 3; src/review/). APPROVAL_*: a call re-sent with bulwark-approval;
 * REVIEW_*: the reviewers' API. */
#define BW_R_APPROVAL_GRANTED "APPROVAL_GRANTED" /* receipts: an approved review let it through */
#define BW_R_APPROVAL_NOT_FOUND "APPROVAL_NOT_FOUND" /* no such review in the caller's org */
#define BW_R_APPROVAL_MISMATCH "APPROVAL_MISMATCH"   /* the review is for another request */
#define BW_R_APPROVAL_PENDING "APPROVAL_PENDING"     /* not (yet) approved by its quorum */
#define BW_R_APPROVAL_DENIED "APPROVAL_DENIED"       /* a reviewer denied it */
#define BW_R_APPROVAL_EXPIRED "APPROVAL_EXPIRED"     /* past its expiry: fail closed */
#define BW_R_APPROVAL_USED "APPROVAL_USED"           /* already let one call through */
#define BW_R_REVIEW_CREATED "REVIEW_CREATED"         /* review receipts: a new pending item */
#define BW_R_REVIEW_APPROVED "REVIEW_APPROVED"       /* review receipts: an approving vote */
#define BW_R_REVIEW_DENIED "REVIEW_DENIED"           /* review receipts: a denying vote */
#define BW_R_REVIEW_EXPIRED "REVIEW_EXPIRED"         /* review receipts and API: past expiry */
#define BW_R_REVIEW_USED "REVIEW_USED"               /* review receipts: the approval was spent */
#define BW_R_REVIEW_SELF_APPROVAL "REVIEW_SELF_APPROVAL" /* four eyes: the requester's own item */
#define BW_R_REVIEW_ROLE_MISMATCH "REVIEW_ROLE_MISMATCH" /* the key lacks the reviewer role */
#define BW_R_REVIEW_NOT_PENDING "REVIEW_NOT_PENDING"     /* already decided, used or expired */
#define BW_R_REVIEW_ALREADY_VOTED "REVIEW_ALREADY_VOTED" /* this key or member voted already */

/* Spend limits, budgets and billing webhooks (issue 6; src/limits/, src/webhook/). */
#define BW_R_RATE_LIMITED "RATE_LIMITED"
#define BW_R_CONCURRENCY_LIMITED "CONCURRENCY_LIMITED"
#define BW_R_BUDGET_EXHAUSTED "BUDGET_EXHAUSTED"
#define BW_R_BUDGET_UNBOUNDED "BUDGET_UNBOUNDED"
#define BW_R_PRICE_UNKNOWN "PRICE_UNKNOWN"
#define BW_R_LIMITS_UNAVAILABLE "LIMITS_UNAVAILABLE"
#define BW_R_WEBHOOK_NOT_CONFIGURED "WEBHOOK_NOT_CONFIGURED"
#define BW_R_WEBHOOK_HEADER_MALFORMED "WEBHOOK_HEADER_MALFORMED"
#define BW_R_WEBHOOK_SIGNATURE_INVALID "WEBHOOK_SIGNATURE_INVALID"
#define BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE "WEBHOOK_TIMESTAMP_OUT_OF_RANGE"
#define BW_R_WEBHOOK_BODY_TOO_LARGE "WEBHOOK_BODY_TOO_LARGE"
#define BW_R_WEBHOOK_PAYLOAD_INVALID "WEBHOOK_PAYLOAD_INVALID"
#define BW_R_WEBHOOK_IN_PROGRESS "WEBHOOK_IN_PROGRESS"
#define BW_R_BILLING_EVENT_APPLIED "BILLING_EVENT_APPLIED"

/* Management API (docs/ACCESS.md). */
#define BW_R_CONFLICT "CONFLICT"                 /* a name taken, or a state that forbids it */
#define BW_R_CONFIRM_REQUIRED "CONFIRM_REQUIRED" /* destructive: dry run first */
#define BW_R_CONFIRM_INVALID                                                                       \
    "CONFIRM_INVALID"                    /* token unknown, used, expired, or for another plan */
#define BW_R_ADMIN_CHANGE "ADMIN_CHANGE" /* an admin receipt's reason */
#define BW_R_WIDGET_DISABLED "WIDGET_DISABLED"       /* widget key unknown or its widget off */
#define BW_R_ORIGIN_NOT_ALLOWED "ORIGIN_NOT_ALLOWED" /* widget call from an origin not listed */

/* Connections (docs/API.md "Connections"): why a connection was not saved or is unhealthy. */
#define BW_R_EGRESS_BLOCKED "EGRESS_BLOCKED" /* the egress guard refused the URL or its address */
#define BW_R_CONNECTION_URL_REJECTED "CONNECTION_URL_REJECTED"   /* not the kind's scheme/host */
#define BW_R_CONNECTION_VERIFY_FAILED "CONNECTION_VERIFY_FAILED" /* the live call failed */
#define BW_R_CONNECTION_CREDENTIAL "CONNECTION_CREDENTIAL" /* the sealed credential won't open */
#define BW_R_CONNECTIONS_BUSY "CONNECTIONS_BUSY"           /* too many verifications in flight */
#define BW_R_PROVIDER_KEY_UNAVAILABLE "PROVIDER_KEY_UNAVAILABLE" /* BYOK record won't open */
#define BW_R_HEADERS_TOO_LARGE "HEADERS_TOO_LARGE" /* 431: request head over max_header_bytes */
#define BW_R_HTTP_VERSION_NOT_SUPPORTED "HTTP_VERSION_NOT_SUPPORTED" /* 505 */
#define BW_R_EXPORTS_BUSY "EXPORTS_BUSY" /* 503: too many audit exports in flight */

/* MCP gateway (docs/MCP.md "Gateway"). */
#define BW_R_MCP_SERVER_UNKNOWN "MCP_SERVER_UNKNOWN" /* 404: no such configured server */
#define BW_R_MCP_SESSION_UNKNOWN                                                                   \
    "MCP_SESSION_UNKNOWN" /* 404: unknown, expired or another key's                                \
                           */
#define BW_R_MCP_SESSIONS_EXHAUSTED "MCP_SESSIONS_EXHAUSTED" /* 429: the key's session cap */
#define BW_R_MCP_PROTOCOL_VERSION                                                                  \
    "MCP_PROTOCOL_VERSION" /* 400: MCP-Protocol-Version unsupported                                \
                            */
#define BW_R_MCP_INVALID_MESSAGE                                                                   \
    "MCP_INVALID_MESSAGE"                                /* 400: not a strict JSON-RPC 2.0 message \
                                                          */
#define BW_R_MCP_BATCH_REFUSED "MCP_BATCH_REFUSED"       /* 400: a JSON-RPC batch */
#define BW_R_MCP_HEADER_MISMATCH "MCP_HEADER_MISMATCH"   /* 400: Mcp-Method/Mcp-Name vs body */
#define BW_R_MCP_RESULT_TOO_LARGE "MCP_RESULT_TOO_LARGE" /* the upstream answer is over the cap */
#define BW_R_MCP_UPSTREAM_INVALID "MCP_UPSTREAM_INVALID" /* the upstream answer is malformed */
/* MCP limits and OAuth (mcp-oauth2; docs/MCP.md "OAuth callers", "Limits"). */
#define BW_R_MCP_RATE_LIMITED "MCP_RATE_LIMITED" /* 429: calls/min of (principal, tool) */
#define BW_R_MCP_OAUTH_TOKEN_INVALID                                                               \
    "MCP_OAUTH_TOKEN_INVALID"                        /* 401: malformed, alg, kid, sig, claims */
#define BW_R_MCP_OAUTH_ISSUER "MCP_OAUTH_ISSUER"     /* 401: iss is not the configured issuer */
#define BW_R_MCP_OAUTH_EXPIRED "MCP_OAUTH_EXPIRED"   /* 401: exp past, or nbf/iat in the future */
#define BW_R_MCP_OAUTH_AUDIENCE "MCP_OAUTH_AUDIENCE" /* 401: aud is not this server's */
#define BW_R_MCP_OAUTH_INSUFFICIENT_SCOPE                                                          \
    "MCP_OAUTH_INSUFFICIENT_SCOPE"                         /* 403: a scope missing                 \
                                                            */
#define BW_R_MCP_OAUTH_ORG_UNKNOWN "MCP_OAUTH_ORG_UNKNOWN" /* 403: the org claim names no org */
#define BW_R_MCP_OAUTH_UNAVAILABLE "MCP_OAUTH_UNAVAILABLE" /* 503: no key set loaded yet */
#define BW_R_MCP_STREAM_INCOMPLETE                                                                 \
    "MCP_STREAM_INCOMPLETE"                            /* the upstream's stream ended unanswered */
#define BW_R_MCP_CLIENT_TOO_SLOW "MCP_CLIENT_TOO_SLOW" /* the client did not read its stream */
#define BW_R_MCP_CLIENT_GONE "MCP_CLIENT_GONE"         /* the client hung up mid-answer */
#define BW_R_MCP_STREAMS_EXHAUSTED "MCP_STREAMS_EXHAUSTED" /* 429: the session's GET streams */
/* MCP tool pinning (docs/MCP.md "Tool pinning"; mcp-pin). */
#define BW_R_TOOL_DEFINITION_CHANGED                                                               \
    "TOOL_DEFINITION_CHANGED"                      /* a pinned tool's definition changed */
#define BW_R_TOOL_NOT_APPROVED "TOOL_NOT_APPROVED" /* mcp.pin approve: no approved definition */
#define BW_R_MCP_TOOL_PINNED "MCP_TOOL_PINNED"     /* receipt: a first-seen definition pinned */
#define BW_R_MCP_PIN_MISMATCH "MCP_PIN_MISMATCH"   /* 409: approve names another hash */

/* The console (docs/CONSOLE.md). */
#define BW_R_CSRF_INVALID                                                                          \
    "CSRF_INVALID" /* 403: a cookie call that changes state without its token */
/* Console single sign-on (issue 16; docs/CONSOLE.md "Single sign-on (OpenID Connect)"). */
#define BW_R_SSO_NOT_CONFIGURED "SSO_NOT_CONFIGURED" /* 404: the org has no identity provider */
#define BW_R_SSO_STATE_INVALID                                                                     \
    "SSO_STATE_INVALID" /* 400: state unknown, used, expired or not                                \
                           this browser's */
#define BW_R_SSO_IDP_ERROR                                                                         \
    "SSO_IDP_ERROR" /* 401: the IdP answered error= or refused                                     \
                       the code */
#define BW_R_SSO_IDP_UNAVAILABLE                                                                   \
    "SSO_IDP_UNAVAILABLE" /* 502: discovery, token or JWKS fetch                                   \
                             failed or was refused by the guard */
#define BW_R_SSO_TOKEN_INVALID                                                                     \
    "SSO_TOKEN_INVALID"                              /* 401: ID token signature, alg, iss, aud,    \
                                                        exp/iat or claims */
#define BW_R_SSO_NONCE_MISMATCH "SSO_NONCE_MISMATCH" /* 401: the ID token's nonce is not ours */
#define BW_R_SSO_EMAIL_UNVERIFIED "SSO_EMAIL_UNVERIFIED" /* 403: email_verified is not true */
#define BW_R_SSO_UNKNOWN_USER "SSO_UNKNOWN_USER"         /* 403: no member for the claim */
#define BW_R_SSO_NO_PUBLIC_URL "SSO_NO_PUBLIC_URL"       /* 503: no origin for the redirect URI */
#define BW_R_SSO_BUSY "SSO_BUSY"                         /* 503: too many sign-ins in flight */

#endif
