/* bulwark policy: validate a policy file, or evaluate one OpenAI request body against it.
 * The language is in docs/POLICY.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "policy/engine.h"
#include "util/codec.h"
#include "util/json.h"

#define MAX_REQUEST_BYTES (16u << 20)
#define MAX_REQUEST_DEPTH 64

static const char usage[] =
    "usage: bulwark policy check FILE\n"
    "       bulwark policy eval --policy FILE --request REQUEST.json [--route R] [--org O]\n"
    "                           [--agent A] [--role ROLE] [--cost USD] [--time UNIX_SECONDS]\n"
    "\n"
    "check compiles FILE strictly and exits 0, or prints \"FILE:LINE: why\" and exits 1.\n"
    "eval decides REQUEST.json (an OpenAI request body: model, max_tokens, tools and messages\n"
    "are read from it) and prints one JSON object: decision, reason, rule, layer,\n"
    "policy_sha256, the declared tools' own decisions, and the approval terms when one is\n"
    "required. Defaults: --route chat --org default --agent default --role agent, the current\n"
    "time, no cost estimate. Exit 0 whatever the decision; 1 if the files cannot be used.\n";

static int check(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_policy;
    if (argc < 3)
        return bw_cli_usage_error(cmd, "check needs FILE");
    if (argc > 3)
        return bw_cli_usage_error(cmd, "unexpected argument '%.64s'", argv[3]);
    struct bw_policy *p = NULL;
    char err[512] = "";
    if (bw_policy_load(argv[2], &p, err, sizeof err) != BW_OK)
        return bw_cli_fail(cmd, "%s", err);
    char hex[65];
    if (bw_hex_encode(bw_policy_sha256(p), 32, hex, sizeof hex) != BW_OK)
        hex[0] = 0;
    printf("%s: ok, %zu rules, sha256 %s\n", argv[2], bw_policy_rule_count(p), hex);
    bw_policy_unref(p);
    return 0;
}

struct eval_args {
    const char *policy, *request, *route, *org, *agent, *role;
    double cost;
    int64_t now_s;
};

static int parse_number(const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !*s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_eval_args(int argc, char **argv, struct eval_args *a) {
    const struct bw_cmd *cmd = &bw_cmd_policy;
    *a = (struct eval_args){NULL, NULL, "chat", "default", "default", "agent", -1, time(NULL)};
    for (int i = 2; i < argc; i += 2) { /* every flag takes a value */
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(f, "--policy") == 0    ? &a->policy
                            : strcmp(f, "--request") == 0 ? &a->request
                            : strcmp(f, "--route") == 0   ? &a->route
                            : strcmp(f, "--org") == 0     ? &a->org
                            : strcmp(f, "--agent") == 0   ? &a->agent
                            : strcmp(f, "--role") == 0    ? &a->role
                                                          : NULL;
        double d;
        if (slot && v)
            *slot = v;
        else if (strcmp(f, "--cost") == 0 && v && parse_number(v, &d) == 0 && d >= 0)
            a->cost = d;
        else if (strcmp(f, "--time") == 0 && v && parse_number(v, &d) == 0 && d >= 0 && d < 1e15)
            a->now_s = (int64_t)d;
        else
            return bw_cli_usage_error(cmd, "unexpected or incomplete argument '%.64s'", f);
    }
    if (!a->policy || !a->request)
        return bw_cli_usage_error(cmd, "eval needs --policy FILE and --request REQUEST.json");
    return 0;
}

static bw_err read_request(const char *path, json_t **out, char *why, size_t why_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(errno));
        return BW_E_IO;
    }
    char *buf = malloc(MAX_REQUEST_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_REQUEST_BYTES + 1, f) : 0;
    (void)fclose(f); /* read only: a close error loses nothing */
    bw_err e = BW_E_NOMEM;
    if (buf && n > MAX_REQUEST_BYTES) {
        snprintf(why, why_size, "%s: larger than %u bytes", path, MAX_REQUEST_BYTES);
        e = BW_E_TOO_LARGE;
    } else if (buf) {
        char jwhy[160] = "";
        e = bw_json_parse(buf, n, MAX_REQUEST_DEPTH, out, jwhy, sizeof jwhy);
        if (e != BW_OK)
            snprintf(why, why_size, "%s: %s", path, jwhy);
    }
    free(buf);
    return e;
}

static bw_err put(json_t *o, const char *k, json_t *v) {
    return json_object_set_new(o, k, v) == 0 ? BW_OK : BW_E_NOMEM;
}

static bw_err decision_json(const struct bw_policy_decision *d, json_t *o) {
    char hex[65];
    BW_TRY(bw_hex_encode(d->policy_sha256, 32, hex, sizeof hex));
    BW_TRY(put(o, "decision", json_string(bw_policy_effect_name(d->effect))));
    BW_TRY(put(o, "reason", json_string(d->reason)));
    BW_TRY(put(o, "rule", d->rule[0] ? json_string(d->rule) : json_null()));
    BW_TRY(put(o, "layer", json_string(d->layer ? d->layer : "default")));
    BW_TRY(put(o, "policy_sha256", json_string(hex)));
    if (d->effect == BW_POLICY_REQUIRE_APPROVAL)
        BW_TRY(put(o, "approval",
                   json_pack("{s:s,s:i,s:i}", "reviewer_role", d->reviewer_role, "quorum",
                             (int)d->quorum, "expires_in_s", (int)d->expiry_s)));
    return BW_OK;
}

/* The request's decision, then each declared tool's own decision (what a strip removed). */
static bw_err eval_json(const struct bw_policy *p, const struct bw_policy_input *in, json_t **out) {
    struct bw_policy_decision d, td;
    bw_err e = bw_policy_eval(p, in, &d);
    json_t *o = json_object(), *tools = json_array();
    if (e == BW_OK)
        e = o && tools ? decision_json(&d, o) : BW_E_NOMEM;
    for (size_t i = 0; e == BW_OK && i < in->n_tools; i++) {
        json_t *t = json_object();
        e = t ? put(t, "name", json_string(in->tools[i].name)) : BW_E_NOMEM;
        if (e == BW_OK)
            e = bw_policy_decide_tools(p, in, &in->tools[i], 1, &td);
        if (e == BW_OK)
            e = decision_json(&td, t);
        if (e == BW_OK)
            json_object_del(t, "policy_sha256"); /* once, at the top */
        if (json_array_append_new(tools, t) != 0 && e == BW_OK)
            e = BW_E_NOMEM;
    }
    if (e == BW_OK && in->n_tools)
        e = put(o, "tools", json_incref(tools));
    json_decref(tools);
    if (e != BW_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return BW_OK;
}

static int eval(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_policy;
    struct eval_args a;
    int rc = parse_eval_args(argc, argv, &a);
    if (rc)
        return rc;
    struct bw_policy *p = NULL;
    json_t *body = NULL, *out = NULL;
    struct bw_policy_request_view v;
    char why[512] = "";
    memset(&v, 0, sizeof v);
    if (bw_policy_load(a.policy, &p, why, sizeof why) != BW_OK ||
        read_request(a.request, &body, why, sizeof why) != BW_OK) {
        rc = bw_cli_fail(cmd, "%s", why);
        goto out;
    }
    bw_err e = bw_policy_request_view_init(&v, body);
    if (e != BW_OK) {
        rc = bw_cli_fail(cmd, "%s: not a usable request body (%s)", a.request, bw_err_str(e));
        goto out;
    }
    struct bw_policy_input in = {a.org,        a.agent, a.role,  a.route,   v.model,
                                 v.max_tokens, a.cost,  v.tools, v.n_tools, v.texts,
                                 v.n_texts,    a.now_s, NULL,    NULL,      NULL};
    if (eval_json(p, &in, &out) != BW_OK) {
        rc = bw_cli_fail(cmd, "evaluation failed");
        goto out;
    }
    char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc = text ? 0 : bw_cli_fail(cmd, "out of memory");
    if (text)
        printf("%s\n", text);
    free(text);
out:
    json_decref(out);
    bw_policy_request_view_cleanup(&v);
    json_decref(body);
    bw_policy_unref(p);
    return rc;
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_policy;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    if (argc < 2)
        return bw_cli_usage_error(cmd, "expected check or eval");
    if (strcmp(argv[1], "check") == 0)
        return check(argc, argv);
    if (strcmp(argv[1], "eval") == 0)
        return eval(argc, argv);
    return bw_cli_usage_error(cmd, "unknown subcommand '%.64s'", argv[1]);
}

const struct bw_cmd bw_cmd_policy = {
    .name = "policy",
    .summary = "check a policy file, or evaluate a request against it",
    .usage = usage,
    .run = run,
};
