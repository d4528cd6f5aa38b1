/* test_profile.c: the verifier checks the whole documented receipt profile (docs/EVIDENCE.md 1.1)
 * and the statement's range claims (9.2, 9.3 `sequence`).
 *
 * Every negative case is what an insider holding the log key can produce: the receipt bytes are
 * altered before they are hashed, framed and signed into the log's checkpoints (evidence_gen.h
 * gen_mutate), or the statement is re-signed (pack_util.h repack_with). Every other check then
 * passes; only the profile or the sequence check can refuse the pack. The positive case builds
 * every receipt kind with the gateway's own emitters and requires the pack to verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "evidence/pack.h"
#include "evidence/receipt_check.h"
#include "evidence/receipt_internal.h"
#include "evidence_gen.h"
#include "pack_util.h"
#include "reason/reasons.h"
#include "review/review.h"

#define T0 1700000000000

static char data_dir[64], policy_path[128];
static const char policy_text[] = "orgs:\n  default:\n    allowed_models: [gpt-4o-mini]\n";
static uint8_t policy_hash[32];

/* One log per case, in its own directory. */
struct log {
    char dir[128];
    char vkey[BW_NOTE_VKEY_MAX];
    struct bw_note_verifier trust;
    struct bw_note_signer *signer;
};

static int setup(void **state) {
    (void)state;
    snprintf(data_dir, sizeof data_dir, "/tmp/bw_profile_test.XXXXXX");
    if (!mkdtemp(data_dir))
        return -1;
    snprintf(policy_path, sizeof policy_path, "%s/bulwark.yaml", data_dir);
    FILE *f = fopen(policy_path, "wb");
    if (!f)
        return -1;
    fwrite(policy_text, 1, sizeof policy_text - 1, f);
    fclose(f);
    bw_sha256(policy_text, sizeof policy_text - 1, policy_hash);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(policy_path);
    rmdir(data_dir);
    return 0;
}

static void log_make(struct log *l, uint64_t n, uint64_t batch) {
    static int seq;
    snprintf(l->dir, sizeof l->dir, "%s/ledger%d", data_dir, seq++);
    assert_int_equal(mkdir(l->dir, 0700), 0);
    gen_log(l->dir, n, batch, policy_hash, l->vkey);
    assert_int_equal(bw_note_verifier_parse(l->vkey, strlen(l->vkey), &l->trust), BW_OK);
    assert_int_equal(bw_ledger_load_signer(l->dir, &l->signer), BW_OK);
}

static void log_drop(struct log *l) {
    bw_note_signer_free(l->signer);
    const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    char p[200];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", l->dir, names[i]);
        unlink(p);
    }
    rmdir(l->dir);
}

static void export_log(const struct log *l, const char *org, int64_t since, struct bw_buf *out) {
    const char *paths[1] = {policy_path};
    struct bw_evidence_export_opts o = {
        .ledger_dir = l->dir,
        .origin = l->trust.name,
        .verifier = &l->trust,
        .org_id = org,
        .since_ms = since,
        .max_size = UINT64_MAX,
        .policy_paths = paths,
        .n_policy_paths = 1,
        .sign = sign_with,
        .sign_ctx = l->signer,
    };
    struct bw_evidence_sink sink = {buf_write, out, 0};
    char why[256];
    bw_buf_init(out, 64u << 20);
    bw_err e = bw_evidence_export(&o, &sink, why, sizeof why);
    if (e != BW_OK)
        fail_msg("export: %s", why);
}

static void dump(const struct bw_evidence_report *r) {
    for (int i = 0; i < BW_CHECK_COUNT; i++)
        fprintf(stderr, "  %s %s %s\n", bw_evidence_check_name((enum bw_evidence_check)i),
                bw_evidence_status_name(r->status[i]), r->detail[i]);
}

/* 1 if the pack fails exactly check c (every other check passes or has nothing to check), with
 * a detail that contains want; else prints the report and returns 0. */
static int fails_only(const struct bw_buf *b, const struct bw_note_verifier *trust,
                      enum bw_evidence_check c, const char *want) {
    struct bw_evidence_report r;
    struct bw_evidence_verify_opts o = {0};
    bw_err e = bw_evidence_verify(b->ptr, b->len, trust, &o, &r);
    int ok = e == BW_E_CRYPTO && r.status[c] == BW_STATUS_FAIL && strstr(r.detail[c], want);
    for (int i = 0; i < BW_CHECK_COUNT && ok; i++)
        ok = i == (int)c || r.status[i] != BW_STATUS_FAIL;
    if (!ok)
        dump(&r);
    return ok;
}

static void expect_only(const struct bw_buf *b, const struct bw_note_verifier *trust,
                        enum bw_evidence_check c, const char *want) {
    if (!fails_only(b, trust, c, want))
        fail_msg("expected only %s to fail with \"%s\"", bw_evidence_check_name(c), want);
}

static void expect_ok(const struct bw_buf *b, const struct bw_note_verifier *trust) {
    struct bw_evidence_report r;
    struct bw_evidence_verify_opts o = {0};
    if (bw_evidence_verify(b->ptr, b->len, trust, &o, &r) != BW_OK) {
        dump(&r);
        fail_msg("expected the pack to verify");
    }
}

/* ---- receipts outside the profile, signed into the log ---- */

/* Receipt `target` gets its first `from` replaced by `to`. */
static uint64_t mut_target;
static const char *mut_from, *mut_to;

static void mutate_replace(uint64_t i, struct bw_buf *enc) {
    if (i != mut_target)
        return;
    char text[BW_RECEIPT_MAX_BYTES + 1];
    assert_true(enc->len < sizeof text);
    memcpy(text, enc->ptr, enc->len);
    text[enc->len] = 0;
    char *at = strstr(text, mut_from);
    if (!at)
        fail_msg("receipt %llu has no %s: %s", (unsigned long long)i, mut_from, text);
    bw_buf_reset(enc);
    assert_int_equal(bw_buf_append(enc, text, (size_t)(at - text)), BW_OK);
    assert_int_equal(bw_buf_append_str(enc, mut_to), BW_OK);
    assert_int_equal(bw_buf_append_str(enc, at + strlen(mut_from)), BW_OK);
}

struct mutation {
    uint64_t target; /* D: a decision receipt without an outcome; 1: an outcome (evidence_gen.h) */
    const char *from, *to, *want;
};

/* Receipt 12 of a 13-receipt log is the decision of pair 6 (allow, org_a, key_6), with no
 * outcome linking to it: altering it breaks no other check. Its request hash is 06...06. */
#define D 12
#define N_MUT 13
#define ZEROS64 "0606060606060606060606060606060606060606060606060606060606060606"
#define LONG128                                                                                    \
    "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"    \
    "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
#define END_PRED "},\"predicateType\""

static const struct mutation mutations[] = {
    /* null and booleans: the emitter never writes them */
    {D, "\"model\":\"gpt-4o-mini\"", "\"model\":null", "predicate.model: wrong type"},
    {1, "\"http_status\":200", "\"http_status\":true", "predicate.http_status: wrong type"},
    {D, "\"principal\":\"key_6\"", "\"principal\":false", "predicate.principal: wrong type"},
    {D, "\"model\":\"gpt-4o-mini\"", "\"model\":[\"gpt-4o-mini\"]", "predicate.model: wrong type"},
    {1, "\"duration_ms\":12", "\"duration_ms\":\"12\"", "predicate.duration_ms: wrong type"},
    /* "" where the member must be absent */
    {D, "\"model\":\"gpt-4o-mini\"", "\"model\":\"\"", "predicate.model: empty string"},
    {D, "\"org_id\":\"org_a\"", "\"org_id\":\"\"", "predicate.org_id: empty string"},
    {D, "\"predicate\":{", "\"predicate\":{\"agent\":\"\",", "predicate.agent: empty string"},
    /* unknown members, at every level, and members of another kind */
    {D, "\"predicate\":{", "\"predicate\":{\"aaa\":1,", "predicate.aaa: member not in the profile"},
    {D, ",\"subject\":", ",\"signature\":\"x\",\"subject\":", "signature: member not in"},
    {D, "\"log\":{\"index\":12,", "\"log\":{\"extra\":1,\"index\":12,",
     "predicate.log.extra: member"},
    {D, "\"name\":\"request\"}", "\"name\":\"request\",\"uri\":\"x\"}", "subject[].uri: member"},
    {D, "\"predicate\":{", "\"predicate\":{\"\\\"agent\":\"x\",", "member not in the profile"},
    {D, ",\"time_ms\":", ",\"status\":\"ok\",\"time_ms\":", "predicate.status: member not in"},
    {1, "\"predicate\":{", "\"predicate\":{\"decision\":\"allow\",", "predicate.decision: member"},
    /* values outside their enum */
    {D, "\"decision\":\"allow\"", "\"decision\":\"allowed\"", "predicate.decision: not one of"},
    {D, "\"decision\":\"allow\"", "\"decision\":\"strip\"", "predicate.decision: not one of"},
    {1, "\"status\":\"ok\"", "\"status\":\"fine\"", "predicate.status: not one of"},
    {D, "\"route\":\"chat\"", "\"route\":\"shell\"", "predicate.route: not one of"},
    {D, "\"kind\":\"decision\"", "\"kind\":\"admin\"", "predicate.decision: not one of"},
    {D, "\"name\":\"request\"", "\"name\":\"response\"", "subject[].name: not one of"},
    {D, "\"reason\":\"ALLOWED\"", "\"reason\":\"allowed\"", "predicate.reason: not a reason code"},
    /* one subject, exactly */
    {D, "\"name\":\"request\"}]",
     "\"name\":\"request\"},{\"digest\":{\"sha256\":\"" ZEROS64 "\"},\"name\":\"request\"}]",
     "subject: array must hold exactly one"},
    {D, "\"subject\":[{\"digest\":{\"sha256\":\"" ZEROS64 "\"},\"name\":\"request\"}]",
     "\"subject\":[]", "subject: array must hold exactly one"},
    {D, "{\"sha256\":\"" ZEROS64 "\"}", "{\"sha256\":\"" ZEROS64 "\",\"sha512\":\"x\"}",
     "subject[].digest.sha512: member"},
    /* ranges and lengths */
    {1, "\"duration_ms\":12", "\"duration_ms\":-12", "predicate.duration_ms: integer outside"},
    {1, "\"http_status\":200", "\"http_status\":2000", "predicate.http_status: integer outside"},
    {D, "\"time_ms\":1700000000012", "\"time_ms\":-1700000000012", "predicate.time_ms: integer"},
    {D, "\"model\":\"gpt-4o-mini\"", "\"model\":\"" LONG128 "\"", "predicate.model: string longer"},
    /* required members */
    {1, "\"status\":\"ok\",", "", "predicate.status: required member missing"},
    {D, "\"decision\":\"allow\",", "", "predicate.decision: required member missing"},
    {D, "\"subject\":[{\"digest\":{\"sha256\":\"" ZEROS64 "\"},", "\"subject\":[{",
     "subject[].digest: required member missing"},
    /* tool calls and usage */
    {1, END_PRED, ",\"tool_calls_total\":1" END_PRED, "come together or not at all"},
    {1, END_PRED,
     ",\"tool_calls\":[{\"decision\":\"allow\",\"reason\":\"ALLOWED\"}],\"tool_calls_total\":"
     "3" END_PRED,
     "lists fewer calls"},
    {1, END_PRED,
     ",\"tool_calls\":[{\"decision\":\"maybe\",\"reason\":\"ALLOWED\"}],\"tool_calls_total\":"
     "1" END_PRED,
     "predicate.tool_calls[].decision: not one of"},
    {1, END_PRED,
     ",\"tool_calls\":[{\"args_sha256\":\"" ZEROS64 "\",\"decision\":\"deny\",\"name\":\"rm -rf\","
     "\"reason\":\"TOOL_DENIED\"}],\"tool_calls_total\":1" END_PRED,
     "predicate.tool_calls[].name: not a tool name"},
    {1, END_PRED,
     ",\"tool_calls\":[{\"args_sha256\":\"" ZEROS64 "A\",\"decision\":\"deny\",\"reason\":"
     "\"TOOL_DENIED\"}],\"tool_calls_total\":1" END_PRED,
     "predicate.tool_calls[].args_sha256: not 64 lowercase hex"},
    {1, END_PRED,
     ",\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":1,\"source\":\"guessed\","
     "\"total_tokens\":2}" END_PRED,
     "predicate.usage.source: not one of"},
    {1, END_PRED, ",\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":1}" END_PRED,
     "predicate.usage.total_tokens: required member missing"},
    {1, END_PRED,
     ",\"usage\":{\"completion_tokens\":1,\"cost_micros\":-5,\"prompt_tokens\":1,"
     "\"total_tokens\":2}" END_PRED,
     "predicate.usage.cost_micros: integer outside"},
};

static void test_profile_mutations(void **state) {
    (void)state;
    size_t missed = 0;
    for (size_t k = 0; k < sizeof mutations / sizeof mutations[0]; k++) {
        const struct mutation *mu = &mutations[k];
        mut_target = mu->target;
        mut_from = mu->from;
        mut_to = mu->to;
        gen_mutate = mutate_replace;
        struct log l;
        log_make(&l, N_MUT, 5);
        gen_mutate = NULL;
        struct bw_buf pack;
        export_log(&l, NULL, 0, &pack);
        if (!fails_only(&pack, &l.trust, BW_CHECK_RECEIPT_CANONICAL, mu->want)) {
            fprintf(stderr, "case %zu (%s -> %s) not refused as \"%s\"\n", k, mu->from, mu->to,
                    mu->want);
            missed++;
        }
        bw_buf_cleanup(&pack);
        log_drop(&l);
    }
    if (missed)
        fail_msg("%zu of %zu alterations not refused by the profile", missed,
                 sizeof mutations / sizeof mutations[0]);
}

/* The same log without an alteration verifies: the cases above fail for their alteration. */
static void test_unaltered_log_verifies(void **state) {
    (void)state;
    struct log l;
    log_make(&l, N_MUT, 5);
    struct bw_buf pack;
    export_log(&l, NULL, 0, &pack);
    expect_ok(&pack, &l.trust);
    bw_buf_cleanup(&pack);
    log_drop(&l);
}

/* ---- every kind, written by the gateway's own emitters ---- */

static void review_item(struct bw_review_item *it) {
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "rev_0123456789abcdef");
    snprintf(it->org_id, sizeof it->org_id, "org_a");
    snprintf(it->agent, sizeof it->agent, "mailer");
    snprintf(it->route, sizeof it->route, "chat");
    snprintf(it->model, sizeof it->model, "gpt-4o-mini");
    snprintf(it->rule, sizeof it->rule, "send_mail");
    memset(it->request_sha256, 7, 32);
}

static void call_receipt(struct bw_receipt *r, enum bw_receipt_kind kind, const char *route) {
    bw_receipt_init(r, kind);
    snprintf(r->org_id, sizeof r->org_id, "org_a");
    snprintf(r->principal, sizeof r->principal, "key_agent");
    snprintf(r->agent, sizeof r->agent, "mailer");
    snprintf(r->route, sizeof r->route, "%s", route);
    if (strcmp(route, "models") != 0)
        snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    memset(r->request_sha256, 7, 32);
}

static void fill_decision(struct bw_receipt *r, const char *route, const char *decision,
                          const char *reason, const uint8_t ph[32]) {
    call_receipt(r, BW_RECEIPT_DECISION, route);
    snprintf(r->decision, sizeof r->decision, "%s", decision);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->rule, sizeof r->rule, "send_mail");
    r->has_policy = 1;
    memcpy(r->policy_sha256, ph, 32);
}

static void fill_outcome(struct bw_receipt *r, const char *route, const char *status, int http,
                         const uint8_t parent[32]) {
    call_receipt(r, BW_RECEIPT_OUTCOME, route);
    snprintf(r->status, sizeof r->status, "%s", status);
    r->http_status = http;
    r->duration_ms = 0;
    r->has_parent = 1;
    memcpy(r->parent_leaf_hash, parent, 32);
}

static void fill_tools_and_usage(struct bw_receipt *r) {
    uint8_t args[32];
    memset(args, 9, sizeof args);
    r->has_response = 1;
    memset(r->response_sha256, 3, 32);
    for (int t = 0; t < 8; t++) /* 8 decided, 6 listed; a name outside the alphabet is left out */
        bw_receipt_add_tool_call(&r->tool_calls, t == 2 ? "bad name" : "send_mail",
                                 t % 2 ? "deny" : "allow", t % 2 ? BW_R_TOOL_DENIED : BW_R_ALLOWED,
                                 t == 3 ? NULL : args);
    r->has_usage = 1;
    r->prompt_tokens = 10;
    r->completion_tokens = 1000;
    r->total_tokens = 1010;
    r->usage_estimated = 1;
    r->has_cost = 1;
    r->cost_micros = 600;
}

static void fill_review_kinds(uint64_t i, const uint8_t ph[32], const uint8_t (*leaves)[32],
                              struct bw_receipt *r) {
    struct bw_review_item it;
    review_item(&it);
    switch (i) {
    case 1: /* proxy_review.c: the item opened for the APPROVAL_REQUIRED decision */
        bw_review_receipt(r, &it, T0, "key_agent", "create", BW_R_REVIEW_CREATED,
                          BW_REVIEW_PENDING);
        r->has_policy = 1;
        memcpy(r->policy_sha256, ph, 32);
        r->has_parent = 1;
        memcpy(r->parent_leaf_hash, leaves[0], 32);
        break;
    case 2:
        bw_review_receipt(r, &it, T0, "key_reviewer", "approve", BW_R_REVIEW_APPROVED,
                          BW_REVIEW_APPROVED);
        break;
    case 4:
        bw_review_receipt(r, &it, T0, "key_agent", "use", BW_R_REVIEW_USED, BW_REVIEW_USED);
        break;
    case 6: /* api_confirm.c: a destructive admin plan under review, then its expiry */
        snprintf(it.route, sizeof it.route, "admin");
        it.model[0] = it.agent[0] = 0;
        bw_review_receipt(r, &it, T0, "", "expire", BW_R_REVIEW_EXPIRED, BW_REVIEW_EXPIRED);
        break;
    default:
        bw_review_receipt(r, &it, T0, "key_reviewer", "deny", BW_R_REVIEW_DENIED, BW_REVIEW_DENIED);
        break;
    }
}

static void fill_admin_kinds(uint64_t i, const uint8_t ph[32], struct bw_receipt *r) {
    if (i == 7) { /* an operator's change from the command line; a rotation (api_keys.c)
                   * records its grace period in duration_ms */
        bw_api_admin_receipt(r, NULL, "org_a", "key.rotate", "key_1", BW_R_ADMIN_CHANGE, NULL, 0);
        r->duration_ms = 60000;
        return;
    }
    if (i == 8) { /* api_agents.c: the agent's name is recorded */
        bw_api_admin_receipt(r, NULL, "org_a", "agent.create", "agt_1", BW_R_ADMIN_CHANGE, NULL, 0);
        snprintf(r->agent, sizeof r->agent, "mailer");
        return;
    }
    /* api_billing.c: a billing webhook event */
    bw_receipt_init(r, BW_RECEIPT_ADMIN);
    snprintf(r->org_id, sizeof r->org_id, "org_a");
    snprintf(r->principal, sizeof r->principal, "webhook:stripe");
    snprintf(r->route, sizeof r->route, "customer.subscription.updated");
    snprintf(r->decision, sizeof r->decision, "apply");
    snprintf(r->reason, sizeof r->reason, "%s", BW_R_BILLING_EVENT_APPLIED);
    snprintf(r->rule, sizeof r->rule, "evt_1");
    snprintf(r->status, sizeof r->status, "pro");
    r->has_policy = 1;
    memcpy(r->policy_sha256, ph, 32);
}

#define N_KINDS 16

static void fill_every_kind(uint64_t i, const uint8_t ph[32], const uint8_t (*leaves)[32],
                            struct bw_receipt *r) {
    switch (i) {
    case 0:
        fill_decision(r, "chat", "require_approval", BW_R_APPROVAL_REQUIRED, ph);
        break;
    case 3: /* the approved re-send */
        fill_decision(r, "chat", "allow", BW_R_ALLOWED, ph);
        break;
    case 5:
        fill_outcome(r, "chat", "ok_tool_calls_removed", 200, leaves[3]);
        fill_tools_and_usage(r);
        break;
    case 1:
    case 2:
    case 4:
    case 6:
        fill_review_kinds(i, ph, leaves, r);
        break;
    case 7:
    case 8:
    case 9:
        fill_admin_kinds(i, ph, r);
        break;
    case 10: /* GET /v1/models: no model, no rule */
        fill_decision(r, "models", "allow", BW_R_ALLOWED, ph);
        r->rule[0] = 0;
        break;
    case 11:
        fill_outcome(r, "models", "upstream_error", 502, leaves[10]);
        break;
    case 12:
        fill_decision(r, "embeddings", "allow", BW_R_ALLOWED, ph);
        break;
    case 13:
        fill_outcome(r, "embeddings", "ok", 200, leaves[12]);
        r->has_usage = 1;
        r->prompt_tokens = r->total_tokens = 5;
        break;
    case 15: /* mcp_pin.c: an MCP tool's definition changed; model is the MCP server */
        bw_api_admin_receipt(r, NULL, "org_a", "mcp.pin.changed", "mutable",
                             BW_R_TOOL_DEFINITION_CHANGED, NULL, 0);
        snprintf(r->model, sizeof r->model, "mock");
        break;
    default: /* a denial: no outcome follows */
        fill_decision(r, "widget", "deny", "MODEL_NOT_ALLOWED", ph);
        r->agent[0] = 0;
        break;
    }
    r->time_ms = T0 + (int64_t)i;
}

static void test_every_kind_verifies(void **state) {
    (void)state;
    gen_fill = fill_every_kind;
    struct log l;
    log_make(&l, N_KINDS, 4);
    gen_fill = NULL;
    struct bw_buf pack;
    export_log(&l, NULL, 0, &pack);
    expect_ok(&pack, &l.trust);
    bw_buf_cleanup(&pack);
    export_log(&l, "org_a", 0, &pack);
    expect_ok(&pack, &l.trust);
    bw_buf_cleanup(&pack);
    log_drop(&l);
}

/* The MCP gateway's receipts (docs/MCP.md "Receipts"): its four routes, its outcome statuses
 * (tool_error, upstream_invalid, result_too_large), a tools/call's one tool_calls entry, a
 * resource read without one, an MCP review item. Before the profile knew them, a pack with
 * any MCP traffic failed receipt-canonical. */
#define N_MCP 10

static void fill_mcp_kinds(uint64_t i, const uint8_t ph[32], const uint8_t (*leaves)[32],
                           struct bw_receipt *r) {
    static const char *const routes[] = {"mcp.tools_call", "mcp.resources_read", "mcp.prompts_get"};
    static const char *const statuses[] = {"tool_error", "result_too_large", "upstream_invalid"};
    uint8_t args[32];
    memset(args, 7, sizeof args);
    if (i < 6 && i % 2 == 0) { /* an allowed call */
        fill_decision(r, routes[i / 2], "allow", BW_R_ALLOWED, ph);
        if (i != 2)
            bw_receipt_add_tool_call(&r->tool_calls, i == 0 ? "get-env" : "args-prompt", "allow",
                                     BW_R_ALLOWED, args);
    } else if (i < 6) { /* its outcome */
        fill_outcome(r, routes[i / 2], statuses[i / 2], i == 1 ? 200 : 502, leaves[i - 1]);
    } else if (i == 6) {
        fill_decision(r, "mcp.tools_list", "deny", BW_R_NO_MATCHING_RULE, ph);
    } else if (i == 7) {
        fill_decision(r, "mcp.tools_call", "require_approval", BW_R_APPROVAL_REQUIRED, ph);
        bw_receipt_add_tool_call(&r->tool_calls, "echo", "require_approval", BW_R_APPROVAL_REQUIRED,
                                 args);
    } else if (i == 8) {
        struct bw_review_item it;
        memset(&it, 0, sizeof it);
        snprintf(it.id, sizeof it.id, "rev_0123456789abcdef");
        snprintf(it.org_id, sizeof it.org_id, "org_a");
        snprintf(it.route, sizeof it.route, "mcp.tools_call");
        snprintf(it.model, sizeof it.model, "everything");
        memset(it.request_sha256, 7, 32); /* the decision's subject */
        bw_review_receipt(r, &it, T0, "key_1", "create", BW_R_REVIEW_CREATED, BW_REVIEW_PENDING);
        r->has_parent = 1;
        memcpy(r->parent_leaf_hash, leaves[7], 32);
    } else {
        fill_decision(r, "mcp.resources_read", "deny", BW_R_TOOL_DENIED, ph);
    }
    if (r->kind != BW_RECEIPT_REVIEW)
        snprintf(r->model, sizeof r->model, "everything");
    r->time_ms = T0 + (int64_t)i;
}

static void test_mcp_receipts_verify(void **state) {
    (void)state;
    gen_fill = fill_mcp_kinds;
    struct log l;
    log_make(&l, N_MCP, 3);
    gen_fill = NULL;
    struct bw_buf pack;
    export_log(&l, NULL, 0, &pack);
    expect_ok(&pack, &l.trust);
    bw_buf_cleanup(&pack);
    log_drop(&l);
}

/* A review receipt's parent must be a decision receipt earlier in the pack, as an outcome's:
 * here the gateway's own encoder writes a parent that is no receipt's leaf hash (in the profile,
 * so only the link check can refuse it). */
static void fill_unlinked_review(uint64_t i, const uint8_t ph[32], const uint8_t (*leaves)[32],
                                 struct bw_receipt *r) {
    fill_every_kind(i, ph, leaves, r);
    if (i == 1)
        memset(r->parent_leaf_hash, 0x11, 32);
}

static void test_review_parent_is_linked(void **state) {
    (void)state;
    gen_fill = fill_unlinked_review;
    struct log l;
    log_make(&l, N_KINDS, 4);
    gen_fill = NULL;
    struct bw_buf pack;
    export_log(&l, NULL, 0, &pack);
    expect_only(&pack, &l.trust, BW_CHECK_PARENT_LINKS, "receipts/00000000000000000001.json");
    bw_buf_cleanup(&pack);
    log_drop(&l);
}

/* An outcome is about its decision's request: the gateway writes the same subject in both. */
static void test_outcome_subject_is_its_decisions(void **state) {
    (void)state;
    mut_target = 1;
    mut_from = "{\"sha256\":\"00000000";
    mut_to = "{\"sha256\":\"01000000";
    gen_mutate = mutate_replace;
    struct log l;
    log_make(&l, N_MUT, 5);
    gen_mutate = NULL;
    struct bw_buf pack;
    export_log(&l, NULL, 0, &pack);
    expect_only(&pack, &l.trust, BW_CHECK_PARENT_LINKS, "its subject is not");
    bw_buf_cleanup(&pack);
    log_drop(&l);
}

/* What follows a decision: an outcome only an allow decision, once; a review item only a
 * require_approval decision. Each variant is written by the gateway's own encoder, in the
 * profile, so only parent-links can refuse it. */
static int link_variant;

static void fill_bad_link(uint64_t i, const uint8_t ph[32], const uint8_t (*leaves)[32],
                          struct bw_receipt *r) {
    fill_every_kind(i, ph, leaves, r);
    if (link_variant == 0 && i == 12) { /* 13's decision denies */
        snprintf(r->decision, sizeof r->decision, "deny");
        snprintf(r->reason, sizeof r->reason, "MODEL_NOT_ALLOWED");
    } else if (link_variant == 1 && i == 13) { /* a second outcome for decision 10 */
        memcpy(r->parent_leaf_hash, leaves[10], 32);
    } else if (link_variant == 2 && i == 4) { /* a review that follows an allow decision */
        r->has_parent = 1;
        memcpy(r->parent_leaf_hash, leaves[3], 32);
    }
}

static void test_what_follows_a_decision(void **state) {
    (void)state;
    static const struct {
        const char *member, *want;
    } cases[] = {
        {"receipts/00000000000000000013.json", "an outcome follows an allow decision only"},
        {"receipts/00000000000000000013.json", "its decision receipt already has one"},
        {"receipts/00000000000000000004.json", "follows a require_approval decision only"},
    };
    for (int c = 0; c < 3; c++) {
        link_variant = c;
        gen_fill = fill_bad_link;
        struct log l;
        log_make(&l, N_KINDS, 4);
        gen_fill = NULL;
        struct bw_buf pack;
        export_log(&l, NULL, 0, &pack);
        expect_only(&pack, &l.trust, BW_CHECK_PARENT_LINKS, cases[c].member);
        expect_only(&pack, &l.trust, BW_CHECK_PARENT_LINKS, cases[c].want);
        bw_buf_cleanup(&pack);
        log_drop(&l);
    }
}

/* ---- the statement's range claims ---- */

static struct log main_log; /* 40 receipts, a checkpoint every 7 */

static void resign(const struct bw_buf *pack, const char *line, struct bw_buf *out) {
    struct mem m[256];
    size_t n = unpack(pack, m, 256);
    repack_with(m, n, main_log.signer, line, out);
    free_mems(m, n);
}

/* since 0 over scope all exports every leaf: a pack that starts at leaf 4 cannot say since 0. */
static void test_since_zero_starts_at_leaf_zero(void **state) {
    (void)state;
    struct bw_buf a, b;
    export_log(&main_log, NULL, T0 + 4, &a); /* first = 4 */
    expect_ok(&a, &main_log.trust);
    resign(&a, "since 0", &b);
    expect_only(&b, &main_log.trust, BW_CHECK_SEQUENCE, "since 0 must start at leaf 0");
    bw_buf_cleanup(&a);
    bw_buf_cleanup(&b);
}

/* A later since than the first receipt's time: that receipt is outside the window and no
 * receipt in the window names it as its decision. */
static void test_since_later_than_first_receipt(void **state) {
    (void)state;
    struct bw_buf a, b;
    export_log(&main_log, NULL, T0 + 4, &a);
    resign(&a, "since 1700000000030", &b);
    expect_only(&b, &main_log.trust, BW_CHECK_SEQUENCE, "receipts/00000000000000000004.json");
    bw_buf_cleanup(&b);
    /* The exporter lowers first to an outcome's decision: since 21 starts at leaf 20. */
    bw_buf_cleanup(&a);
    export_log(&main_log, NULL, T0 + 21, &a);
    expect_ok(&a, &main_log.trust);
    bw_buf_cleanup(&a);
    /* Scope org: every receipt is in the window or the decision of one that is. */
    export_log(&main_log, "org_b", 0, &a);
    expect_ok(&a, &main_log.trust);
    resign(&a, "since 1700000000020", &b);
    expect_only(&b, &main_log.trust, BW_CHECK_SEQUENCE, "receipts/00000000000000000004.json");
    bw_buf_cleanup(&b);
    resign(&a, "since 9007199254740992", &b);
    struct bw_evidence_report r;
    struct bw_evidence_verify_opts o = {0};
    assert_int_equal(bw_evidence_verify(b.ptr, b.len, &main_log.trust, &o, &r), BW_E_CRYPTO);
    assert_non_null(strstr(r.detail[BW_CHECK_MANIFEST_SIGNATURE], "since beyond"));
    bw_buf_cleanup(&b);
    bw_buf_cleanup(&a);
}

static void insert_mem(struct mem *m, size_t *n, size_t pos, struct mem *from) {
    memmove(&m[pos + 1], &m[pos], (*n - pos) * sizeof *m);
    m[pos] = *from;
    bw_buf_init(&from->data, 16); /* moved: the source list stays freeable */
    (*n)++;
}

/* The checkpoints start at the first one that contains the first exported leaf. */
static void test_checkpoint_range(void **state) {
    (void)state;
    struct bw_buf full, a, b;
    export_log(&main_log, NULL, 0, &full);
    export_log(&main_log, NULL, T0 + 21, &a); /* first 20: checkpoints 21, 28, 35, 40 */
    struct mem fm[256], m[256];
    size_t fn = unpack(&full, fm, 256), n = unpack(&a, m, 256);
    /* Checkpoint 14 (it ends before leaf 20) and its consistency proof to 21, both genuine. */
    insert_mem(m, &n, find_mem(m, n, "consistency/00000000000000000021-"),
               &fm[find_mem(fm, fn, "consistency/00000000000000000014-")]);
    insert_mem(m, &n, find_mem(m, n, "checkpoints/00000000000000000021"),
               &fm[find_mem(fm, fn, "checkpoints/00000000000000000014")]);
    repack(m, n, main_log.signer, &b);
    expect_only(&b, &main_log.trust, BW_CHECK_SEQUENCE, "does not contain the first exported");
    bw_buf_cleanup(&b);
    free_mems(m, n);
    bw_buf_cleanup(&a);
    /* A pack without receipts carries only the final checkpoint. */
    export_log(&main_log, "nobody", 0, &a);
    expect_ok(&a, &main_log.trust);
    n = unpack(&a, m, 256);
    insert_mem(m, &n, find_mem(m, n, "checkpoints/00000000000000000040"),
               &fm[find_mem(fm, fn, "checkpoints/00000000000000000035")]);
    insert_mem(m, &n, find_mem(m, n, "manifest.txt"),
               &fm[find_mem(fm, fn, "consistency/00000000000000000035-")]);
    repack(m, n, main_log.signer, &b);
    expect_only(&b, &main_log.trust, BW_CHECK_SEQUENCE, "only the final checkpoint");
    bw_buf_cleanup(&b);
    free_mems(m, n);
    free_mems(fm, fn);
    bw_buf_cleanup(&a);
    bw_buf_cleanup(&full);
}

/* A pack carries the policies its receipts reference, and no other text. */
static void test_unreferenced_policy(void **state) {
    (void)state;
    struct bw_buf a, b;
    export_log(&main_log, "org_a", 0, &a);
    struct mem m[256];
    size_t n = unpack(&a, m, 256);
    static const char other[] = "orgs:\n  other_tenant:\n    allowed_models: [gpt-4o]\n";
    uint8_t h[32];
    char hex[65];
    bw_sha256(other, sizeof other - 1, h);
    assert_int_equal(bw_hex_encode(h, 32, hex, sizeof hex), BW_OK);
    struct mem extra;
    snprintf(extra.name, sizeof extra.name, "policies/%s.yaml", hex);
    bw_buf_init(&extra.data, 4096);
    assert_int_equal(bw_buf_append(&extra.data, other, sizeof other - 1), BW_OK);
    size_t at = find_mem(m, n, "policies/");
    if (strcmp(m[at].name, extra.name) < 0)
        at++;
    insert_mem(m, &n, at, &extra);
    bw_buf_cleanup(&extra.data);
    repack(m, n, main_log.signer, &b);
    expect_only(&b, &main_log.trust, BW_CHECK_POLICIES, "no exported receipt references it");
    bw_buf_cleanup(&b);
    free_mems(m, n);
    /* The scope's org id is the exporter's alphabet. */
    resign(&a, "scope org org_a/../x", &b);
    struct bw_evidence_report r;
    struct bw_evidence_verify_opts o = {0};
    assert_int_equal(bw_evidence_verify(b.ptr, b.len, &main_log.trust, &o, &r), BW_E_CRYPTO);
    assert_non_null(strstr(r.detail[BW_CHECK_MANIFEST_SIGNATURE], "bad scope line"));
    bw_buf_cleanup(&b);
    bw_buf_cleanup(&a);
}

/* ---- the table itself ---- */

static void test_profile_tables_sorted(void **state) {
    (void)state;
    assert_true(bw_evidence_profile_tables_sorted());
    /* the parse the exporter uses still reads a receipt the profile refuses */
    const char *r = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"kind\":"
                    "\"decision\",\"log\":{\"index\":3,\"origin\":\"a/b\"},\"model\":null,"
                    "\"time_ms\":5},\"predicateType\":\"https://bulwark.dev/receipt/v1\","
                    "\"subject\":[]}";
    struct bw_evidence_receipt out;
    const char *why = NULL;
    assert_int_equal(bw_evidence_receipt_parse((const uint8_t *)r, strlen(r), &out, &why), BW_OK);
    assert_int_equal(bw_evidence_receipt_check((const uint8_t *)r, strlen(r), &out, &why),
                     BW_E_INVALID);
    assert_non_null(strstr(why, "predicate.decision: required member missing"));
}

static int setup_main(void **state) {
    if (setup(state) != 0)
        return -1;
    log_make(&main_log, 40, 7);
    return 0;
}

static int teardown_main(void **state) {
    log_drop(&main_log);
    return teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_tables_sorted),
        cmocka_unit_test(test_unaltered_log_verifies),
        cmocka_unit_test(test_profile_mutations),
        cmocka_unit_test(test_every_kind_verifies),
        cmocka_unit_test(test_mcp_receipts_verify),
        cmocka_unit_test(test_review_parent_is_linked),
        cmocka_unit_test(test_outcome_subject_is_its_decisions),
        cmocka_unit_test(test_what_follows_a_decision),
        cmocka_unit_test(test_since_zero_starts_at_leaf_zero),
        cmocka_unit_test(test_since_later_than_first_receipt),
        cmocka_unit_test(test_checkpoint_range),
        cmocka_unit_test(test_unreferenced_policy),
    };
    return cmocka_run_group_tests(tests, setup_main, teardown_main);
}
