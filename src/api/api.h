/* api.h: the management API under /api/v1/: the routing table and the helpers its handlers
 * share (caller identification by role, JSON replies). Handlers live one file per surface
 * (api_<surface>.c) and register in api.c's table.
 *
 * Threads: no handler runs on an event worker. The worker only routes (404/405 and a malformed
 * query are answered there, with no store call) and hands the request to a job on a store
 * thread (api_job.c, jobs/jobs.h): the caller is identified and the handler runs there, with
 * that thread's own store connection (ctx->store), on a private copy of the request whose replies
 * are captured and sent by the worker (http/reply.h "capture"). A handler must therefore not
 * touch libevent objects of the worker: the request it gets has no connection, ctx->base is the
 * store thread's private base (ledger completions, bw_api_record), ctx->keys is NULL (the key
 * cache is the worker's). A check that blocks for long runs on its own thread and resumes the
 * request (bw_api_hold, bw_api_resume); a streamed reply continues on the worker
 * (bw_api_on_worker). When the pool does not take the job in time the answer is 503
 * STORE_UNAVAILABLE: a management call never waits on the store on a worker, nor hangs.
 *
 * Reads are tenant-scoped: an object of another org is answered 404 (existence is not
 * revealed). */
#ifndef BW_API_API_H
#define BW_API_API_H

#include "auth/auth.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "util/err.h"

struct evhttp_request;
struct event_base;
struct bw_gateway;

struct bw_api_ctx {
    struct bw_gateway *gw;
    struct event_base *base;    /* the running thread's (a store thread's private one in a job) */
    struct bw_store *store;     /* the running thread's connection */
    struct bw_auth_cache *keys; /* the worker's key cache; NULL in a job */
};

/* Who may call an endpoint: a set of roles (docs/ACCESS.md is the matrix). 0 = public, no
 * credential. Org roles act inside their own org only; the operator is outside every org. */
#define BW_ROLE_OWNER (1u << 0)
#define BW_ROLE_ADMIN (1u << 1)
#define BW_ROLE_REVIEWER (1u << 2)
#define BW_ROLE_MEMBER (1u << 3)
#define BW_ROLE_AGENT (1u << 4)
#define BW_ROLE_OPERATOR (1u << 5)

#define BW_API_PUBLIC 0u
#define BW_API_ADMIN (BW_ROLE_OWNER | BW_ROLE_ADMIN)
#define BW_API_REVIEW (BW_API_ADMIN | BW_ROLE_REVIEWER)
#define BW_API_PEOPLE (BW_API_REVIEW | BW_ROLE_MEMBER) /* every human role of the org */
#define BW_API_ANY_KEY (BW_API_PEOPLE | BW_ROLE_AGENT) /* every key of an org */
#define BW_API_OPERATOR BW_ROLE_OPERATOR

/* The role bit of a key record's role ("" or unknown: 0, which no route accepts). */
unsigned bw_api_role_bit(const char *role);
/* Identifies the request's Authorization key into *caller. On failure it has replied (401
 * UNAUTHENTICATED, or 503 STORE_UNAVAILABLE when the key store cannot say) and returns 0.
 * Frees req when it returns 0 (it has replied). */
int bw_api_identify(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                    struct bw_key_record *caller) BW_MUST_CHECK;

/* A handler: `rest` is the path after the route's prefix (for "/api/v1/receipts/" it is the
 * id), caller is NULL for public routes. It must reply (and so free req). */
typedef void (*bw_api_handler)(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                               const char *rest, const struct bw_key_record *caller);

struct bw_api_route {
    int method;       /* enum evhttp_cmd_type */
    const char *path; /* exact path, or a prefix when it ends with '/' */
    unsigned access;  /* BW_API_PUBLIC or a set of BW_ROLE_* */
    bw_api_handler handler;
};

/* The surfaces' route tables (api_<surface>.c). */
extern const struct bw_api_route bw_api_routes_ledger[];
extern const struct bw_api_route bw_api_routes_billing[];
extern const struct bw_api_route bw_api_routes_keys[];
extern const struct bw_api_route bw_api_routes_agents[];
extern const struct bw_api_route bw_api_routes_orgs[];
extern const struct bw_api_route bw_api_routes_connections[];
extern const struct bw_api_route bw_api_routes_policies[];
extern const struct bw_api_route bw_api_routes_review[];
extern const struct bw_api_route bw_api_routes_platform[]; /* api_platform.c */
extern const struct bw_api_route bw_api_routes_audit[];
extern const struct bw_api_route bw_api_routes_posture[];     /* api_posture.c */
extern const struct bw_api_route bw_api_routes_mcp_pins[];    /* api_mcp_pins.c */
extern const struct bw_api_route bw_api_routes_mcp_servers[]; /* api_mcp_servers.c */
extern const struct bw_api_route bw_api_routes_sso[];         /* api_sso.c */

/* Dispatches a request whose path starts with /api/. Always replies: 404 NOT_FOUND for an
 * unknown path, 405 for a known path with another method, 401/403 by access.
 * Frees req (it always replies). */
void bw_api_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path);

/* On the worker: queues the request for route r on a store thread (api_job.c), which runs
 * bw_api_run_route. Always replies, eventually: the handler's answer, or 503
 * STORE_UNAVAILABLE when the pool refuses the job or does not take it in time. Frees req. */
void bw_api_job_submit(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_api_route *r, const char *rest);
/* In a job: the access check (identification, role, last use) and the handler. Frees req. */
void bw_api_run_route(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                      const struct bw_api_route *r, const char *rest);
/* In a job: the caller it identified, for the worker's request log line. */
void bw_api_job_identified(const struct bw_key_record *caller);
/* The request's raw query string, or NULL (a handler's request has no parsed URI). */
const char *bw_api_query_string(struct evhttp_request *req);
/* The client's method (enum evhttp_cmd_type) and whether it came over TLS: a job's private
 * request has no connection and no command of its own, so read them through these. */
int bw_api_request_method(struct evhttp_request *req) BW_MUST_CHECK;
int bw_api_request_tls(struct evhttp_request *req) BW_MUST_CHECK;
/* bw_ledger_append for a handler: in a job the completion runs on the store thread before the
 * job ends (the job waits for it); on a worker, on ctx->base. */
void bw_api_ledger_append(const struct bw_api_ctx *ctx, const struct bw_receipt *r,
                          bw_ledger_done_fn fn, void *arg);

/* A request whose answer needs a check that may block for seconds (DNS, a peer): the handler
 * takes a hold and starts the check on its own thread; the check calls bw_api_resume from that
 * thread when it is done, and fn(ctx, arg) then runs in a new job on a store thread (ctx is that
 * thread's) and must reply. If that job cannot run (the pool is full or stopping), cancel(arg)
 * runs on the worker instead (it frees arg) and the client gets 503 STORE_UNAVAILABLE. A
 * handler that took a hold and then cannot start its check releases it with bw_api_unhold and
 * replies. Returns NULL outside a job. */
struct bw_api_job;
typedef void (*bw_api_resume_fn)(const struct bw_api_ctx *ctx, void *arg);
struct bw_api_job *bw_api_hold(void) BW_MUST_CHECK;
void bw_api_unhold(struct bw_api_job *hold);
void bw_api_resume(struct bw_api_job *hold, bw_api_resume_fn fn, void (*cancel)(void *arg),
                   void *arg);
/* A handler that streams its reply: instead of replying, it asks for fn(req, base, arg) to run
 * on the worker once the job ends, with the client's request (headers it set are copied onto
 * it) and the worker's event base. fn owns req from then on. */
typedef void (*bw_api_worker_fn)(struct evhttp_request *req, struct event_base *base, void *arg);
void bw_api_on_worker(bw_api_worker_fn fn, void *arg);

struct bw_gw_worker;
/* The gateway's routes (gateway.h handlers): /api/ and /metrics on worker w.
 * Frees req (it always replies). */
void bw_api_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);
/* Frees req (it always replies). */
void bw_api_route_metrics(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

/* Sends a JSON value (stolen reference) with the given status. Frees req and json_value. */
void bw_api_reply(struct evhttp_request *req, int status, void *json_value);

/* Replies with the error a store failure deserves: 404 NOT_FOUND (also for another org's
 * object), 409 CONFLICT, 400 INVALID_REQUEST, else 503 STORE_UNAVAILABLE. `what` names the
 * object ("key", "agent", ...).
 * Frees req. */
void bw_api_reply_store_error(struct evhttp_request *req, bw_err e, const char *what);

/* 1 if e is BW_OK; otherwise replies bw_api_reply_store_error(e, what) and returns 0. For the
 * "look it up, or answer why not" step of a handler.
 * Frees req when it returns 0 (it has replied). */
int bw_api_store_ok(struct evhttp_request *req, bw_err e, const char *what) BW_MUST_CHECK;

/* Replies {"object":"list","data":data} (data: a json_t array, stolen), or, when e is not
 * BW_OK, drops data and replies bw_api_reply_store_error(e, what).
 * Frees req and data. */
void bw_api_reply_list(struct evhttp_request *req, bw_err e, void *data, const char *what);

/* Parses the request body as one JSON object (bounded by the config's max_body_bytes and
 * max_json_depth; duplicate keys rejected). On failure it has replied 400/413 and returns
 * NULL. An empty body is an empty object. The caller decrefs.
 * Frees req when it returns NULL (it has replied). */
void *bw_api_body_object(const struct bw_api_ctx *ctx, struct evhttp_request *req) BW_MUST_CHECK;

/* A record of a change made through the API: an `admin` or `review` receipt is appended and
 * made durable FIRST, then `apply` runs on the same thread (in a job: the same store thread and
 * connection, before the job ends) with the receipt id and must reply (and free its arg). If the
 * ledger fails, apply gets err != BW_OK and a NULL id: it must reply (bw_api_reply_ledger_error)
 * and change nothing. Fail closed: nothing is changed without its receipt. The receipt r is
 * copied. */
struct bw_receipt;
typedef void (*bw_api_apply_fn)(void *arg, bw_err err, const char *receipt_id);
void bw_api_record(const struct bw_api_ctx *ctx, const struct bw_receipt *r, bw_api_apply_fn apply,
                   void *arg);
/* Frees req. */
void bw_api_reply_ledger_error(struct evhttp_request *req);

/* Fills the common fields of an admin receipt: time, org, principal (the caller's key id),
 * route (the action, e.g. "key.create"), decision "apply", reason, rule (the target id) and
 * request_sha256 of the body bytes (or of the action and target when there is no body). */
void bw_api_admin_receipt(struct bw_receipt *r, const struct bw_key_record *caller,
                          const char *org_id, const char *action, const char *target,
                          const char *reason, const void *body, size_t body_len);

/* Whether k's principal (k->member_id, in org k->org_id) may hold a key of k->role: the
 * operator principal may; a member only if their role covers it (bw_auth_role_covers). 1 if
 * so; else replies 403 ROLE_FORBIDDEN (or a store error) and returns 0. (api_keys.c)
 * Frees req when it returns 0 (it has replied). */
int bw_api_principal_may_hold(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                              const struct bw_key_record *k) BW_MUST_CHECK;

/* The expiry (ms, 0 = none) of a key the caller makes and receives: at most the caller's own
 * (its expiry, or the end of its rotation grace). A key that expires, or is rotated away because
 * it leaked, could otherwise mint a successor without end. (api_keys.c) */
int64_t bw_api_key_expiry_bound(const struct bw_key_record *caller, int64_t expires_ms);

/* POST /api/v1/orgs/{org_id}/keys by the operator: a key for a member of that org
 * (api_keys.c; docs/ACCESS.md "Principals"). Replies.
 * Frees req (it always replies). */
void bw_api_keys_issue(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_key_record *caller, const char *org_id);

/* ---- request fields (api_record.c) ---- */

/* Copies the optional string member `name` of body into out (size bytes). It must be a string
 * of at most max_len bytes with no control characters (jansson has already checked UTF-8).
 * Returns 1 if present, 0 if absent (out untouched; a JSON null counts as absent), -1 after
 * replying 400 INVALID_REQUEST. required: absent is -1 too.
 * Frees req when it returns -1 (it has replied). */
int bw_api_text(struct evhttp_request *req, const void *body, const char *name, size_t max_len,
                int required, char *out, size_t size) BW_MUST_CHECK;
/* The same for an integer member within [min, max].
 * Frees req when it returns -1 (it has replied). */
int bw_api_int(struct evhttp_request *req, const void *body, const char *name, int64_t min,
               int64_t max, int64_t *out) BW_MUST_CHECK;
/* Splits rest ("ID" or "ID/ACTION") into id and action ("" if none). 0 if the id is not the
 * shape of one of our ids or the action is too long: the caller answers 404. */
int bw_api_split_rest(const char *rest, char id[BW_ID_SIZE], char action[32]) BW_MUST_CHECK;
/* The value of query parameter `name` (copied, at most size-1 bytes) or "" — 0 if absent.
 * Not BW_MUST_CHECK: an absent parameter and an empty one mean the same to every caller. */
int bw_api_query(struct evhttp_request *req, const char *name, char *out, size_t size);

/* ---- destructive actions: dry run, then confirm (api_confirm.c, docs/ACCESS.md) ---- */

enum bw_confirm_step {
    BW_CONFIRM_DRY_RUN, /* ?dry_run=1 or {"dry_run": true} */
    BW_CONFIRM_GO,      /* {"confirm_token": "..."}: *token set (borrowed from body) */
    BW_CONFIRM_MISSING, /* neither: answer with bw_api_confirm_required */
};
enum bw_confirm_step bw_api_confirm_step(struct evhttp_request *req, const void *body,
                                         const char **token) BW_MUST_CHECK;
/* 428 CONFIRM_REQUIRED. Frees req. */
void bw_api_confirm_required(struct evhttp_request *req);
/* Dry run: stores the plan's hash with a fresh confirm token (10 minutes) and replies 200
 * {dry_run, action, target, plan, confirm_token, expires_ms}. Steals plan_json (a json_t *).
 * The plan must be deterministic (ids and counts, no times).
 * Frees req and plan_json. */
void bw_api_confirm_offer(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, const char *org_id,
                          const char *action, const char *target, void *plan_json);
/* 1 if action needs a second admin's approval (an owner deleting the org, purging
 * transcripts): its dry run also opens a review item bound to the plan (review_id in the
 * reply), and the confirm waits for that review to be approved (409 APPROVAL_PENDING, ...). */
int bw_api_confirm_needs_review(const char *action,
                                const struct bw_key_record *caller) BW_MUST_CHECK;
/* Confirm: takes the token once; returns 1 if it was issued in org_id for this action and
 * target, is unexpired, and plan_json (computed now; borrowed) hashes like the dry run's. Else
 * it has replied (409 CONFIRM_INVALID, or a store error) and returns 0.
 * Frees req when it returns 0 (it has replied). */
int bw_api_confirm_check(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                         const char *org_id, const char *action, const char *target,
                         const char *token, const void *plan_json) BW_MUST_CHECK;

/* ---- checks that may block (DNS, a peer): one short-lived thread each (api_jobs.c) ---- */
#define BW_API_MAX_CHECKS 8 /* at once, every kind together (gw->verifying) */
/* Starts fn(arg) on a detached thread, counted in gw->verifying (at most BW_API_MAX_CHECKS) and
 * gw->inflight (a graceful shutdown waits for it). 0; or -1 with nothing counted: *busy 1 when
 * the cap is reached, 0 when the thread could not start. The job ends with bw_api_check_done. */
int bw_api_check_start(struct bw_gateway *gw, void *(*fn)(void *), void *arg,
                       int *busy) BW_MUST_CHECK;
/* Releases what bw_api_check_start counted (on the worker, when the job's result is used). */
void bw_api_check_done(struct bw_gateway *gw);

/* GET /metrics on the main listener (api_metrics.c): operator key only; the Prometheus text
 * exposition (metrics/metrics.h). Any other method: 405.
 * Frees req (it always replies). */
void bw_api_metrics_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req);

#endif
