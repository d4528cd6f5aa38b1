/* api_ledger.c: evidence endpoints: receipts with their proofs, the latest checkpoint, the
 * log's verifier key, consistency proofs, and evidence-pack export (docs/EVIDENCE.md "HTTP").
 *
 * Tenant scoping: a receipt is visible to keys of the org named in its predicate's org_id; any
 * other receipt id (another org's, unknown, malformed) is answered 404 NOT_FOUND, so existence is
 * never revealed. Proofs come from the ledger's stored subtree hashes (bw_ledger_inclusion_proof:
 * O(log size) lookups, flat latency). With ledger.sign_each the receipt's DSSE envelope is
 * returned too ("dsse"). */
#include "api/api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <string.h>

#include "evidence/db_policies.h"
#include "evidence/pack.h"
#include "evidence/proof.h"
#include "evidence/receipt_check.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/dsse.h"
#include "ledger/ledger.h"
#include "reason/reasons.h"
#include "util/codec.h"

#define HTTP_PACK_MAX (UINT64_C(256) << 20)

static void not_found(struct evhttp_request *req) {
    bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such receipt", NULL, NULL);
}

static void unavailable(struct evhttp_request *req) {
    bw_http_reply_error(req, 503, BW_R_LEDGER_UNAVAILABLE, "the ledger is unavailable", NULL, NULL);
}

static void reply_text(struct evhttp_request *req, const char *type, const void *p, size_t n) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, p, n);
    bw_http_send(req, 200, out);
    if (out)
        evbuffer_free(out);
}

/* "<8 hex>.<decimal index>" naming this log; 0 if malformed or another log's id. */
static int parse_receipt_id(const struct bw_ledger *l, const char *id, uint64_t *index) {
    const char *dot = strchr(id, '.');
    if (!dot || dot - id != 8 || !bw_evidence_parse_u64(dot + 1, strlen(dot + 1), index))
        return 0;
    char want[32];
    bw_ledger_receipt_id(l, *index, want);
    return strcmp(want, id) == 0;
}

/* The C2SP tlog-proof of index against the latest checkpoint. */
static bw_err build_proof(struct bw_ledger *l, uint64_t index, struct bw_buf *out) {
    char note[BW_NOTE_MAX_TEXT + 1];
    uint64_t size = 0;
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    size_t n = 0;
    BW_TRY(bw_ledger_checkpoint(l, note, sizeof note, &size));
    BW_ENSURE(index < size, BW_E_NOT_FOUND);
    BW_TRY(bw_ledger_inclusion_proof(l, index, size, proof, BW_MERKLE_MAX_PROOF, &n));
    return bw_evidence_proof_encode(index, (const uint8_t(*)[32])proof, n, note, strlen(note), out);
}

/* The DSSE envelope (docs/EVIDENCE.md section 11) as a JSON object, or NULL on failure. */
static json_t *envelope_json(struct bw_ledger *l, const struct bw_buf *bytes,
                             const uint8_t sig[64]) {
    struct bw_buf env;
    bw_buf_init(&env, BW_DSSE_ENVELOPE_MAX);
    json_t *o = NULL;
    if (bw_dsse_envelope_encode(bytes->ptr, bytes->len, bw_ledger_key_id(l), sig, &env) == BW_OK)
        o = json_loadb((const char *)env.ptr, env.len, JSON_REJECT_DUPLICATES, NULL);
    bw_buf_cleanup(&env);
    return o;
}

static json_t *receipt_json(const char *id, uint64_t index, const struct bw_buf *bytes,
                            const uint8_t leaf[32], const struct bw_buf *proof, json_t *dsse) {
    char hex[65];
    if (bw_hex_encode(leaf, 32, hex, sizeof hex) != BW_OK) {
        json_decref(dsse);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:I, s:s%, s:s, s:s%}", "id", id, "index", (json_int_t)index,
                          "receipt", (const char *)bytes->ptr, bytes->len, "leaf_hash", hex,
                          "proof", (const char *)proof->ptr, proof->len);
    if (o && dsse && json_object_set_new(o, "dsse", dsse) != 0) {
        json_decref(o);
        return NULL;
    }
    if (!o)
        json_decref(dsse);
    return o;
}

/* 1 if the receipt's principal is the caller's key (docs/ACCESS.md: an agent key reads only its
 * own receipts; another key's, even of the same agent or person, answers 404). */
static int own_receipt(const struct bw_buf *bytes, const struct bw_key_record *caller) {
    json_t *doc = json_loadb((const char *)bytes->ptr, bytes->len, JSON_REJECT_DUPLICATES, NULL);
    const char *principal =
        json_string_value(json_object_get(json_object_get(doc, "predicate"), "principal"));
    int own = principal && strcmp(principal, caller->id) == 0;
    json_decref(doc);
    return own;
}

static void get_receipt(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    struct bw_ledger *l = ctx->gw->ledger;
    uint64_t index = 0;
    if (!parse_receipt_id(l, rest, &index) || index >= bw_ledger_size(l)) {
        not_found(req);
        return;
    }
    struct bw_buf bytes, proof;
    bw_buf_init(&bytes, BW_RECEIPT_MAX_BYTES);
    bw_buf_init(&proof, BW_PACK_MAX_PROOF_BYTES);
    struct bw_evidence_receipt r;
    uint8_t leaf[32], sig[64];
    int has_sig = 0;
    json_t *dsse = NULL;
    bw_err e = bw_ledger_read_receipt_sig(l, index, &bytes, sig, &has_sig);
    if (e == BW_OK)
        e = bw_evidence_receipt_parse(bytes.ptr, bytes.len, &r, NULL);
    if (e == BW_OK && strcmp(r.org_id, caller->org_id) != 0)
        e = BW_E_NOT_FOUND; /* another org's receipt: same answer as an unknown id */
    if (e == BW_OK && strcmp(caller->role, "agent") == 0 && !own_receipt(&bytes, caller))
        e = BW_E_NOT_FOUND; /* an agent key reads only its own: the same answer again */
    if (e == BW_OK)
        e = bw_ledger_leaf_hash(l, index, leaf);
    if (e == BW_OK)
        e = build_proof(l, index, &proof);
    if (e == BW_OK && has_sig && !(dsse = envelope_json(l, &bytes, sig)))
        e = BW_E_NOMEM;
    if (e == BW_E_NOT_FOUND)
        not_found(req);
    else if (e != BW_OK)
        unavailable(req);
    else
        bw_api_reply(req, 200, receipt_json(rest, index, &bytes, leaf, &proof, dsse));
    bw_buf_cleanup(&bytes);
    bw_buf_cleanup(&proof);
}

static void get_checkpoint(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const char *rest, const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    char note[BW_NOTE_MAX_TEXT + 1];
    uint64_t size = 0;
    if (bw_ledger_checkpoint(ctx->gw->ledger, note, sizeof note, &size) != BW_OK) {
        unavailable(req);
        return;
    }
    reply_text(req, "text/plain; charset=utf-8", note, strlen(note));
}

static void get_public_key(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const char *rest, const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    const char *vkey = bw_ledger_vkey(ctx->gw->ledger);
    reply_text(req, "text/plain; charset=utf-8", vkey, strlen(vkey));
}

/* Reads ?name=<decimal> from the query; 0 if missing or malformed. */
static int query_u64(struct evhttp_request *req, const char *name, uint64_t *out) {
    const char *q = bw_api_query_string(req);
    struct evkeyvalq params = {0};
    if (!q || evhttp_parse_query_str(q, &params) != 0)
        return 0;
    const char *v = evhttp_find_header(&params, name);
    int ok = v && bw_evidence_parse_u64(v, strlen(v), out);
    evhttp_clear_headers(&params);
    return ok;
}

static void bad_request(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
}

/* Any 0 < from <= to <= the current durable size (not only signed sizes): the caller checks the
 * proof against checkpoints it holds, and every durable size is a prefix of the signed tree. */
static void get_consistency(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                            const char *rest, const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    struct bw_ledger *l = ctx->gw->ledger;
    uint64_t from = 0, to = 0;
    if (!query_u64(req, "from", &from) || !query_u64(req, "to", &to) || from == 0 || from > to ||
        to > bw_ledger_size(l)) {
        bad_request(req, "need 0 < from <= to <= the log's current size");
        return;
    }
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    size_t n = 0;
    if (bw_ledger_consistency_proof(l, from, to, proof, BW_MERKLE_MAX_PROOF, &n) != BW_OK) {
        unavailable(req);
        return;
    }
    json_t *hashes = json_array();
    char b64[45];
    for (size_t i = 0; i < n && hashes; i++)
        if (bw_b64_encode(proof[i], 32, b64, sizeof b64) == BW_OK)
            json_array_append_new(hashes, json_string(b64));
    bw_api_reply(req, 200,
                 json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from, "to", (json_int_t)to,
                           "proof", hashes));
}

static bw_err evbuf_write(void *ctx, const void *p, size_t n) {
    struct evbuffer *b = ctx;
    BW_ENSURE(evbuffer_get_length(b) + n <= HTTP_PACK_MAX, BW_E_TOO_LARGE);
    return evbuffer_add(b, p, n) == 0 ? BW_OK : BW_E_NOMEM;
}

static bw_err sign_live(void *ctx, const char *text, size_t len, struct bw_buf *out) {
    return bw_ledger_sign_manifest(ctx, text, len, out);
}

static void send_pack(struct evhttp_request *req, struct evbuffer *pack) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/x-tar");
    evhttp_add_header(h, "Content-Disposition", "attachment; filename=\"evidence.tar\"");
    bw_http_send(req, 200, pack);
}

/* The caller's org only, up to the durable size (never a checkpoint whose commit has not been
 * fsynced), with only the policy texts that org may see. Optional ?since=<unix ms>. */
static void post_export(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    (void)rest;
    struct bw_ledger *l = ctx->gw->ledger;
    uint64_t since = 0;
    struct bw_note_verifier v;
    const char *vkey = bw_ledger_vkey(l);
    if (bw_note_verifier_parse(vkey, strlen(vkey), &v) != BW_OK) {
        unavailable(req);
        return;
    }
    (void)query_u64(req, "since", &since);
    struct bw_evidence_export_opts o = {
        .ledger_dir = bw_ledger_dir(l),
        .origin = bw_ledger_origin(l),
        .verifier = &v,
        .org_id = caller->org_id,
        .since_ms = (int64_t)since,
        .max_size = bw_ledger_size(l),
        .sign = sign_live,
        .sign_ctx = l,
    };
    /* Policy texts come from the database only: the platform's kept texts and the org's own
     * (db_policies.h), never the files of the data directory, where the operator's config
     * (other orgs, upstream, billing) lives. */
    struct bw_db_policies dbp = {NULL, 0, 0};
    if (bw_db_policies_load(&dbp, ctx->store, caller->org_id) != BW_OK) {
        bw_db_policies_cleanup(&dbp);
        unavailable(req); /* the org's policies are part of its evidence */
        return;
    }
    o.policy_blobs = dbp.blobs;
    o.n_policy_blobs = dbp.n;
    struct evbuffer *pack = evbuffer_new();
    struct bw_evidence_sink sink = {evbuf_write, pack, 0};
    char why[256];
    bw_err e = pack ? bw_evidence_export(&o, &sink, why, sizeof why) : BW_E_NOMEM;
    if (e == BW_OK)
        send_pack(req, pack);
    else if (e == BW_E_TOO_LARGE)
        bw_http_reply_error(req, 413, BW_R_BODY_TOO_LARGE,
                            "pack over 256 MiB: use `bulwark export` on the host", NULL, NULL);
    else if (e == BW_E_NOT_FOUND)
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "the log has no checkpoint yet", NULL, NULL);
    else
        unavailable(req);
    if (pack)
        evbuffer_free(pack);
    bw_db_policies_cleanup(&dbp);
}

const struct bw_api_route bw_api_routes_ledger[] = {
    {EVHTTP_REQ_GET, "/api/v1/receipts/", BW_API_ANY_KEY, get_receipt},
    {EVHTTP_REQ_GET, "/api/v1/ledger/checkpoint", BW_API_PUBLIC, get_checkpoint},
    {EVHTTP_REQ_GET, "/api/v1/ledger/public-key", BW_API_PUBLIC, get_public_key},
    {EVHTTP_REQ_GET, "/api/v1/ledger/consistency", BW_API_ANY_KEY, get_consistency},
    {EVHTTP_REQ_POST, "/api/v1/evidence/export", BW_API_ADMIN, post_export},
    {0, NULL, BW_API_PUBLIC, NULL},
};
