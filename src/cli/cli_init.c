/* bulwark init: creates a data directory with keys, database, ledger and default config. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "config/config.h"
#include "ledger/ledger.h"
#include "store/identity.h"
#include "store/store.h"
#include "util/time.h"
#include "vault/keyring.h"

#define PATH_SIZE 4096

static const char usage[] =
    "usage: bulwark init --data DIR [--database URL [--join] [--master-key FILE]]\n"
    "\n"
    "Creates DIR (mode 0700) holding a master key and the ledger's signing key (files mode\n"
    "0600, never printed), the SQLite database, an org named 'default' with an owner member\n"
    "(owner@default.invalid) and that person's admin key and agent key, and a default\n"
    "bulwark.yaml. Prints one JSON object with org_id, owner_member_id, admin_key, agent_key\n"
    "and public_key (the ledger's verifier key). The keys are shown only once: only\n"
    "their hashes are stored. Refuses to touch an existing DIR.\n"
    "\n"
    "  --database URL    use PostgreSQL (postgres://user@host/db; the schema applied by the owner\n"
    "                    role) instead of DIR/bulwark.db; no password in the URL: use PGPASSWORD\n"
    "                    or a .pgpass file\n"
    "  --join            add a replica to a database another init populated: creates only this\n"
    "                    replica's ledger and config; prints {\"public_key\":..}\n"
    "  --master-key FILE the master key to share (mode 0600), copied into DIR; or set\n"
    "                    BULWARK_MASTER_KEY. Every replica needs the same master key.\n";

struct init_opts {
    const char *dir, *database, *master_key;
    int join;
};

struct paths {
    char dir[PATH_SIZE], master[PATH_SIZE], db[PATH_SIZE], ledger[PATH_SIZE], config[PATH_SIZE];
};

static int make_paths(const char *dir, struct paths *p) {
    int bad = snprintf(p->dir, PATH_SIZE, "%s", dir) >= PATH_SIZE;
    bad |= snprintf(p->master, PATH_SIZE, "%s/master.key", dir) >= PATH_SIZE;
    bad |= snprintf(p->db, PATH_SIZE, "%s/bulwark.db", dir) >= PATH_SIZE;
    bad |= snprintf(p->ledger, PATH_SIZE, "%s/ledger", dir) >= PATH_SIZE;
    bad |= snprintf(p->config, PATH_SIZE, "%s/bulwark.yaml", dir) >= PATH_SIZE;
    return bad ? -1 : 0;
}

static bw_err write_bytes(const char *path, const void *p, size_t n, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return BW_E_IO;
    int ok = write(fd, p, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    return ok ? BW_OK : BW_E_IO;
}

/* The default config, pointing at the database when one was given. */
static bw_err write_config(const char *path, const char *database) {
    if (!database)
        return write_bytes(path, bw_config_default_text, strlen(bw_config_default_text), 0600);
    char text[8192];
    int n = snprintf(text, sizeof text, "%sdatabase: \"%s\"\n", bw_config_default_text, database);
    if (n < 0 || (size_t)n >= sizeof text)
        return BW_E_TOO_LARGE;
    return write_bytes(path, text, (size_t)n, 0600);
}

/* A shared master key: copied from a file (which must be 0600 and 32 bytes), or none to write
 * when it comes from the environment. */
static bw_err place_master_key(const struct init_opts *o, const char *dest) {
    if (getenv(BW_MASTER_ENV))
        return BW_OK; /* every process of this replica reads it from the environment */
    if (!o->master_key)
        return o->join ? BW_E_INVALID : bw_master_create(dest);
    struct bw_master *m = NULL;
    BW_TRY(bw_master_load(o->master_key, &m)); /* checks mode and length */
    bw_master_free(m);
    uint8_t *key = sodium_malloc(BW_MASTER_KEY_BYTES);
    if (!key)
        return BW_E_NOMEM;
    FILE *f = fopen(o->master_key, "rb");
    bw_err e = f && fread(key, 1, BW_MASTER_KEY_BYTES, f) == BW_MASTER_KEY_BYTES ? BW_OK : BW_E_IO;
    if (f)
        (void)fclose(f); /* read only: a close error loses nothing */
    if (e == BW_OK)
        e = write_bytes(dest, key, BW_MASTER_KEY_BYTES, 0600);
    sodium_free(key);
    return e;
}

/* The person init's keys belong to (docs/ACCESS.md "Principals"): one owner member. */
static bw_err new_owner(struct bw_store *s, const char *org_id, char id[BW_ID_SIZE]) {
    struct bw_member_record m;
    memset(&m, 0, sizeof m);
    bw_store_new_id("mem", m.id);
    snprintf(m.org_id, sizeof m.org_id, "%s", org_id);
    snprintf(m.email, sizeof m.email, "owner@default.invalid");
    snprintf(m.role, sizeof m.role, "owner");
    m.created_ms = bw_now_ms();
    BW_TRY(bw_store_member_insert(s, &m));
    memcpy(id, m.id, BW_ID_SIZE);
    return BW_OK;
}

static bw_err new_key(struct bw_store *s, const uint8_t pepper[32], const char *org_id,
                      const char *owner, const char *role, const char *agent,
                      char key[BW_KEY_SIZE]) {
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    bw_store_new_id("key", k.id);
    snprintf(k.org_id, sizeof k.org_id, "%s", org_id);
    snprintf(k.member_id, sizeof k.member_id, "%s", owner);
    snprintf(k.role, sizeof k.role, "%s", role);
    snprintf(k.agent, sizeof k.agent, "%s", agent);
    snprintf(k.name, sizeof k.name, "init %s", role);
    snprintf(k.created_by, sizeof k.created_by, "cli");
    k.created_ms = bw_now_ms();
    bw_auth_key_generate(key);
    bw_auth_key_hash(pepper, key, strlen(key), k.hash);
    return bw_store_key_insert(s, &k);
}

static bw_err new_agent(struct bw_store *s, const char *org_id, const char *name) {
    struct bw_agent_record a;
    memset(&a, 0, sizeof a);
    bw_store_new_id("agt", a.id);
    snprintf(a.org_id, sizeof a.org_id, "%s", org_id);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.created_ms = bw_now_ms();
    return bw_store_agent_insert(s, &a);
}

/* Everything after the directory exists: local files first, the database last (a database
 * write cannot be undone by removing DIR). Keys go to the caller's secure buffers. */
static bw_err populate(const struct init_opts *o, const struct paths *p, char *org_id, char *owner,
                       char *admin_key, char *agent_key, char *vkey, size_t vkey_size) {
    bw_err result = BW_OK;
    struct bw_keyring *keys = NULL;
    struct bw_store *s = NULL;
    uint8_t *pepper = sodium_malloc(32);
    if (!pepper)
        return BW_E_NOMEM;
    BW_GOTO(place_master_key(o, p->master));
    BW_GOTO(bw_keyring_load(p->dir, &keys));
    BW_GOTO_IF(mkdir(p->ledger, 0700) != 0, BW_E_IO);
    BW_GOTO(bw_ledger_create(p->ledger, "bulwark", vkey, vkey_size));
    BW_GOTO(write_config(p->config, o->database));
    BW_GOTO(bw_store_open(o->database ? o->database : p->db, 1, &s));
    /* The pepper record is made here (or, for --join, found: the first replica made it), so
     * every later start opens it rather than derives it (auth.h). A joining replica whose
     * master key is not the one that wrapped it fails here, before it can serve. A second
     * plain init on a populated database fails first on the org (BW_E_EXISTS: use --join). */
    if (o->join) {
        BW_GOTO(bw_auth_pepper_load(s, keys, pepper));
    } else {
        BW_GOTO(bw_store_org_create(s, "default", org_id));
        BW_GOTO(bw_auth_pepper_load(s, keys, pepper));
        BW_GOTO(new_agent(s, org_id, "default"));
        BW_GOTO(new_owner(s, org_id, owner));
        BW_GOTO(new_key(s, pepper, org_id, owner, "admin", "", admin_key));
        BW_GOTO(new_key(s, pepper, org_id, owner, "agent", "default", agent_key));
    }
out:
    bw_store_close(s);
    bw_keyring_free(keys);
    sodium_free(pepper);
    return result;
}

/* Removes what a failed init created, so the command can be retried. */
static void undo(const struct paths *p) {
    const char *ledger_files[] = {"signing.key", "origin", "log", "log.lock"};
    char path[PATH_SIZE + 32];
    for (size_t i = 0; i < sizeof ledger_files / sizeof ledger_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", p->ledger, ledger_files[i]);
        unlink(path);
    }
    rmdir(p->ledger);
    const char *db_side[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", p->db, db_side[i]);
        unlink(path);
    }
    unlink(p->db);
    unlink(p->master);
    unlink(p->config);
    rmdir(p->dir);
}

/* postgres://user:password@host/...: the config file must hold no secret. */
static int url_has_password(const char *url) {
    const char *auth = strstr(url, "://");
    if (!auth)
        return 0;
    auth += 3;
    const char *at = strchr(auth, '@');
    const char *slash = strchr(auth, '/');
    if (!at || (slash && slash < at))
        return 0;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    return colon != NULL;
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_init;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    struct init_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            o.database = argv[++i];
        else if (strcmp(argv[i], "--master-key") == 0 && i + 1 < argc)
            o.master_key = argv[++i];
        else if (strcmp(argv[i], "--join") == 0)
            o.join = 1;
        else
            return bw_cli_usage_error(cmd, "unexpected argument '%.64s'", argv[i]);
    }
    const char *dir = o.dir;
    if (!dir || !*dir)
        return bw_cli_usage_error(cmd, "--data DIR is required");
    if (o.database && !bw_store_is_postgres(o.database))
        return bw_cli_usage_error(cmd, "--database must be a postgres:// or postgresql:// URL");
    if (o.database && url_has_password(o.database))
        return bw_cli_usage_error(cmd,
                                  "no password in --database: use PGPASSWORD or a .pgpass file");
    if (o.join && !o.database)
        return bw_cli_usage_error(cmd, "--join needs --database");
    if (o.join && !o.master_key && !getenv(BW_MASTER_ENV))
        return bw_cli_usage_error(
            cmd, "--join needs the shared master key: --master-key FILE or " BW_MASTER_ENV);
    struct paths p;
    if (make_paths(dir, &p) != 0)
        return bw_cli_usage_error(cmd, "path too long");
    if (sodium_init() < 0)
        return bw_cli_fail(cmd, "libsodium failed to initialise");
    struct stat st;
    if (lstat(dir, &st) == 0)
        return bw_cli_fail(cmd, "%s already exists; refusing to overwrite a data directory", dir);
    if (mkdir(dir, 0700) != 0)
        return bw_cli_fail(cmd, "cannot create %s: %s", dir, strerror(errno));
    if (chmod(dir, 0700) != 0) { /* mkdir's mode is filtered by umask; be exact */
        rmdir(dir);
        return bw_cli_fail(cmd, "cannot set mode on %s: %s", dir, strerror(errno));
    }
    char org_id[BW_ID_SIZE] = "", owner[BW_ID_SIZE] = "";
    char vkey[512] = "";
    char *keys = sodium_malloc((size_t)2 * BW_KEY_SIZE);
    if (!keys) {
        undo(&p);
        return bw_cli_fail(cmd, "out of memory");
    }
    bw_err e = populate(&o, &p, org_id, owner, keys, keys + BW_KEY_SIZE, vkey, sizeof vkey);
    if (e != BW_OK) {
        sodium_free(keys);
        undo(&p);
        return bw_cli_fail(cmd, "initialisation failed (%s); nothing was kept%s", bw_err_str(e),
                           e == BW_E_EXISTS && o.database
                               ? " (the database already has an org 'default': add a replica"
                                 " with --join)"
                           : e == BW_E_NOT_FOUND && o.join
                               ? " (the database's key-hash pepper is sealed under another"
                                 " master key: give the replicas' shared key)"
                               : "");
    }
    if (o.join)
        printf("{\"public_key\":\"%s\"}\n", vkey);
    else
        printf("{\"org_id\":\"%s\",\"owner_member_id\":\"%s\",\"admin_key\":\"%s\","
               "\"agent_key\":\"%s\",\"public_key\":\"%s\"}\n",
               org_id, owner, keys, keys + BW_KEY_SIZE, vkey);
    /* the keys are shown only here: an output that did not arrive must fail the command */
    int lost = ferror(stdout) || fflush(stdout) != 0;
    sodium_free(keys); /* wipes */
    return lost ? bw_cli_fail(&bw_cmd_init, "cannot write the keys to stdout") : 0;
}

const struct bw_cmd bw_cmd_init = {
    .name = "init",
    .summary = "create a data directory: keys, database, ledger, default config",
    .usage = usage,
    .run = run,
};
