/* receipt.h: the receipt record and its canonical encoding.
 *
 * A receipt is one JSON object whose bytes are canonical by construction: RFC 8785 restricted
 * to a profile (integers within +-(2^53-1), no floats, ASCII keys, string values printable ASCII
 * 0x20..0x7E only, members written in byte order of their keys). Shape: an in-toto Statement v1
 * whose subject is the SHA-256 of the exact request bytes and whose predicate (type
 * BW_RECEIPT_PREDICATE_TYPE) holds the decision. Prompts, completions and secrets never appear,
 * only hashes. docs/EVIDENCE.md specifies every byte. */
#ifndef BW_LEDGER_RECEIPT_H
#define BW_LEDGER_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_RECEIPT_PREDICATE_TYPE "https://bulwark.dev/receipt/v1"
#define BW_RECEIPT_MAX_BYTES 4096

enum bw_receipt_kind {
    BW_RECEIPT_DECISION = 0,
    BW_RECEIPT_OUTCOME,
    BW_RECEIPT_REVIEW,
    BW_RECEIPT_ADMIN,
};

/* Outcome receipts list the tool calls decided in the answer (plain or streamed), in decision
 * order, at most this many; tool_calls_total counts them all. Bounded so that a receipt with
 * every field at its maximum stays under BW_RECEIPT_MAX_BYTES (about 250 bytes to spare:
 * test_cap). */
#define BW_RECEIPT_MAX_TOOL_CALLS 6

struct bw_receipt_tool_call {
    char name[65];     /* "" unless the model's name is 1..64 bytes of [A-Za-z0-9_.:-] */
    char decision[24]; /* allow | deny | require_approval | strip */
    char reason[49];   /* the decision's reason code */
    int has_args;
    uint8_t args_sha256[32]; /* SHA-256 of the arguments text as the model sent it */
};

struct bw_receipt_tool_calls {
    int64_t total; /* tool calls decided (0 = the members are absent) */
    size_t n;      /* listed: min(total, BW_RECEIPT_MAX_TOOL_CALLS) */
    struct bw_receipt_tool_call list[BW_RECEIPT_MAX_TOOL_CALLS];
};

/* Fixed-size so a receipt can be copied into the ledger queue without allocation. Empty strings
 * and has_* = 0 mean "absent": the member is omitted from the encoding. */
struct bw_receipt {
    enum bw_receipt_kind kind;
    int64_t time_ms; /* Unix ms when the event happened */
    char org_id[48];
    char principal[48]; /* API key id (never the key) */
    char agent[64];
    char route[32]; /* chat | embeddings | models | ... */
    char model[128];
    char decision[24]; /* allow | deny | require_approval (decision kind) */
    char reason[49];   /* stable reason code, docs/REASON_CODES.md */
    char rule[65];     /* matched rule id */
    char layer[16];  /* decision: the layer that decided: global | rules | org | config | default */
    char status[32]; /* outcome: ok | upstream_error | upstream_timeout | client_disconnected ... */
    int http_status; /* outcome: status sent to the client (0 = absent) */
    uint8_t request_sha256[32];
    int has_policy;
    uint8_t policy_sha256[32];
    int has_org_policy;
    uint8_t org_policy_sha256[32]; /* the org's own policy, when it has one (POLICY.md) */
    int has_response;
    uint8_t response_sha256[32];
    int has_parent;
    uint8_t parent_leaf_hash[32]; /* outcome -> its decision receipt's leaf hash */
    int has_usage;
    int64_t prompt_tokens, completion_tokens, total_tokens;
    int usage_estimated; /* 1: counted by the gateway, the upstream reported none */
    int has_cost;
    int64_t cost_micros;                     /* settled cost in micro-units (docs/SPEND.md) */
    int64_t duration_ms;                     /* outcome: time from admission to end (-1 = absent) */
    struct bw_receipt_tool_calls tool_calls; /* outcome: the answer's decided tool calls */
};

/* Initialises r to an empty receipt of the given kind (all absent, duration_ms = -1). */
void bw_receipt_init(struct bw_receipt *r, enum bw_receipt_kind kind);

/* Appends the canonical bytes of r, as the leaf at `index` of the log named `origin`, to out.
 * Errors: BW_E_INVALID if any string is outside the profile (non-printable or non-ASCII) or an
 * integer is outside +-(2^53-1); BW_E_TOO_LARGE if out's cap is hit. On error out may hold a
 * partial encoding: callers reset it. */
bw_err bw_receipt_encode(const struct bw_receipt *r, const char *origin, uint64_t index,
                         struct bw_buf *out) BW_MUST_CHECK;

/* Counts one decided tool call and lists it while there is room. A name, decision or reason
 * (any may be NULL) that is not 1..size-1 bytes of [A-Za-z0-9_.:-] is recorded as absent;
 * args_sha256 may be NULL (arguments never received whole). decision and reason are static codes.
 */
void bw_receipt_add_tool_call(struct bw_receipt_tool_calls *tc, const char *name,
                              const char *decision, const char *reason, const uint8_t *args_sha256);

const char *bw_receipt_kind_name(enum bw_receipt_kind kind);

/* 1 if s is non-NULL and every byte is printable ASCII (0x20..0x7E): the receipt string profile. */
int bw_receipt_str_ok(const char *s) BW_MUST_CHECK;

#endif
