/* tls.c: the TLS listener's OpenSSL context, its reload, and its bufferevents (tls.h). */
#include "http/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/server_guard.h"

#define MAX_KEY_BYTES (64u << 10)

/* TLS 1.2: forward secrecy (ECDHE) and an AEAD only; no CBC, no RSA key exchange, no DHE. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS "X25519:P-256:P-384"

struct bw_tls {
    pthread_mutex_t mu;
    SSL_CTX *ctx; /* current context for new connections; under mu */
    char *cert_file;
    char *key_file;
    int handshake_timeout_s;
};

/* The SSL ex_data slot that holds a connection's handshake deadline. Written once, by
 * pthread_once in bw_tls_new (main thread, before any worker starts); read-only afterwards. */
static int deadline_index = -1;
/* Guards deadline_index's one-time setup. */
static pthread_once_t deadline_once = PTHREAD_ONCE_INIT;

/* ---- handshake deadline ----
 * evhttp's timeout is an idle timeout, re-armed by every byte, and the strict-HTTP slowloris
 * guard only sees plaintext: a client trickling its handshake would hold a connection for
 * ever. So each connection gets a timer when it is accepted; if the handshake has not finished
 * when it fires, the socket is shut down (evhttp then sees the error and frees the
 * connection). The timer lives in the SSL's ex_data and is freed with the SSL, on the
 * connection's worker thread, when the bufferevent is freed. */
struct handshake_deadline {
    struct event *timer;
    SSL *ssl;
};

static void deadline_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp) {
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct handshake_deadline *d = ptr;
    if (d) {
        event_free(d->timer);
        free(d);
    }
}

static void deadline_setup(void) {
    deadline_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, deadline_free);
}

static void deadline_fire(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct handshake_deadline *d = arg;
    int sfd = SSL_get_fd(d->ssl);
    if (!SSL_is_init_finished(d->ssl) && sfd >= 0)
        shutdown(sfd, SHUT_RDWR);
}

static bw_err arm_deadline(struct event_base *base, SSL *ssl, int seconds) {
    struct handshake_deadline *d = calloc(1, sizeof *d);
    if (!d)
        return BW_E_NOMEM;
    d->ssl = ssl;
    d->timer = evtimer_new(base, deadline_fire, d);
    if (!d->timer || !SSL_set_ex_data(ssl, deadline_index, d)) {
        event_free(d->timer);
        free(d);
        return BW_E_NOMEM;
    }
    struct timeval tv = {seconds, 0};
    return evtimer_add(d->timer, &tv) == 0 ? BW_OK : BW_E_NOMEM; /* d now freed with ssl */
}

/* PEM_read_bio_PrivateKey would prompt on the terminal for an encrypted key: never. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* The key file's mode and owner: readable by the gateway's user (or root's file), and at most
 * by the gateway's group besides. Checked on the open descriptor, so the file read is the
 * file checked. */
static bw_err key_mode_ok(int fd, const char *path, char *err, size_t err_size) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "listen_tls.key_file %s is not a regular file", path);
        return BW_E_INVALID;
    }
    unsigned mode = (unsigned)st.st_mode & 07777;
    int owner_ok = st.st_uid == geteuid() || st.st_uid == 0;
    int mode_ok = (mode & 0077) == 0 || ((mode & 0137) == 0 && st.st_gid == getegid());
    if (!owner_ok || !mode_ok) {
        snprintf(err, err_size,
                 "listen_tls.key_file %s has mode %04o (owner %u): the private key must be "
                 "mode 0600, or 0640 with the gateway's group, and owned by the gateway's user",
                 path, mode, (unsigned)st.st_uid);
        return BW_E_INVALID;
    }
    if (st.st_size <= 0 || (unsigned long long)st.st_size > MAX_KEY_BYTES) {
        snprintf(err, err_size, "listen_tls.key_file %s is empty or larger than %u bytes", path,
                 MAX_KEY_BYTES);
        return BW_E_INVALID;
    }
    return BW_OK;
}

/* Reads and parses the private key; the file's bytes are wiped before the buffer is freed. */
static bw_err load_key(const char *path, EVP_PKEY **out, char *err, size_t err_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, err_size, "listen_tls.key_file %s cannot be opened: %s", path,
                 strerror(errno));
        return BW_E_INVALID;
    }
    bw_err result = key_mode_ok(fd, path, err, err_size);
    unsigned char *buf = result == BW_OK ? malloc(MAX_KEY_BYTES + 1) : NULL;
    size_t len = 0;
    if (result == BW_OK && !buf)
        result = BW_E_NOMEM;
    while (result == BW_OK && len <= MAX_KEY_BYTES) {
        ssize_t n = read(fd, buf + len, MAX_KEY_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    EVP_PKEY *key = NULL;
    if (result == BW_OK && len > 0 && len <= MAX_KEY_BYTES) {
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
        BIO_free(bio);
    }
    if (buf) {
        OPENSSL_cleanse(buf, MAX_KEY_BYTES + 1);
        free(buf);
    }
    ERR_clear_error(); /* OpenSSL's queue says nothing useful here; never pass it on */
    if (result != BW_OK)
        return result;
    if (!key) {
        snprintf(err, err_size,
                 "listen_tls.key_file %s holds no usable private key (PEM, unencrypted)", path);
        return BW_E_INVALID;
    }
    *out = key;
    return BW_OK;
}

static void openssl_reason(char *out, size_t size) {
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, size, "%s", r ? r : "unknown error");
    ERR_clear_error();
}

static bw_err harden(SSL_CTX *ctx) {
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) || !SSL_CTX_set1_groups_list(ctx, GROUPS))
        return BW_E_INVALID;
    SSL_CTX_set_security_level(ctx, 2);
    /* NO_RENEGOTIATION refuses TLS 1.2 renegotiation both ways (OpenSSL 3 also refuses a
     * client-initiated one by default: SSL_OP_ALLOW_CLIENT_RENEGOTIATION stays clear) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    /* no resumption at all (tls.h): no server-side cache, no TLS 1.3 tickets */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (!SSL_CTX_set_num_tickets(ctx, 0))
        return BW_E_INVALID;
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return BW_OK;
}

static bw_err check_cert(SSL_CTX *ctx, const char *path, char *err, size_t err_size) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (!cert) {
        snprintf(err, err_size, "listen_tls.cert_file %s holds no certificate", path);
        return BW_E_INVALID;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        snprintf(err, err_size, "listen_tls.cert_file %s: the certificate has expired", path);
        return BW_E_INVALID;
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        ERR_clear_error();
        snprintf(err, err_size, "listen_tls.key_file does not match the certificate in %s", path);
        return BW_E_INVALID;
    }
    return BW_OK;
}

/* A whole new context from the files, or an error and nothing. */
static bw_err build_ctx(const char *cert_file, const char *key_file, SSL_CTX **out, char *err,
                        size_t err_size) {
    bw_err result = BW_OK;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || harden(ctx) != BW_OK) {
        char why[160];
        openssl_reason(why, sizeof why);
        snprintf(err, err_size, "TLS: cannot set up the OpenSSL context: %s", why);
        BW_GOTO(BW_E_INVALID);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        char why[160];
        openssl_reason(why, sizeof why);
        snprintf(err, err_size, "listen_tls.cert_file %s: cannot load a PEM certificate chain: %s",
                 cert_file, why);
        BW_GOTO(BW_E_INVALID);
    }
    BW_GOTO(load_key(key_file, &key, err, err_size));
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        char why[160];
        openssl_reason(why, sizeof why); /* e.g. "ee key too small": names no key material */
        snprintf(err, err_size, "listen_tls.key_file %s is refused: %s", key_file, why);
        BW_GOTO(BW_E_INVALID);
    }
    BW_GOTO(check_cert(ctx, cert_file, err, err_size));
    *out = ctx;
    ctx = NULL;
out:
    EVP_PKEY_free(key); /* OpenSSL wipes key material when it frees it */
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return result;
}

bw_err bw_tls_new(const char *cert_file, const char *key_file, int handshake_timeout_s,
                  struct bw_tls **out, char *err, size_t err_size) {
    if (pthread_once(&deadline_once, deadline_setup) != 0 || deadline_index < 0)
        return BW_E_NOMEM;
    struct bw_tls *t = calloc(1, sizeof *t);
    if (!t)
        return BW_E_NOMEM;
    t->handshake_timeout_s = handshake_timeout_s > 0 ? handshake_timeout_s : 30;
    t->cert_file = strdup(cert_file);
    t->key_file = strdup(key_file);
    if (!t->cert_file || !t->key_file || pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t->cert_file);
        free(t->key_file);
        free(t);
        return BW_E_NOMEM;
    }
    bw_err e = build_ctx(cert_file, key_file, &t->ctx, err, err_size);
    if (e != BW_OK) {
        bw_tls_free(t);
        return e;
    }
    *out = t;
    return BW_OK;
}

bw_err bw_tls_reload(struct bw_tls *t, char *err, size_t err_size) {
    SSL_CTX *fresh = NULL;
    BW_TRY(build_ctx(t->cert_file, t->key_file, &fresh, err, err_size));
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = fresh;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* drops our reference; open connections hold their own */
    return BW_OK;
}

/* The current context with a reference taken, for a reader outside the lock. */
static SSL_CTX *current_ctx(struct bw_tls *t) {
    pthread_mutex_lock(&t->mu);
    SSL_CTX *ctx = t->ctx;
    if (ctx && !SSL_CTX_up_ref(ctx))
        ctx = NULL;
    pthread_mutex_unlock(&t->mu);
    return ctx;
}

void bw_tls_describe(struct bw_tls *t, char *out, size_t size) {
    snprintf(out, size, "no certificate");
    SSL_CTX *ctx = current_ctx(t);
    X509 *cert = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    if (cert) {
        char serial[80] = "?", fp[65] = "?", until[40] = "?";
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex)
            snprintf(serial, sizeof serial, "%.64s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (X509_digest(cert, EVP_sha256(), md, &n) && n == 32)
            for (unsigned i = 0; i < n; i++)
                snprintf(fp + 2 * i, sizeof fp - 2 * i, "%02x", md[i]);
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) &&
            strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(until, sizeof until, "?"); /* contents undefined when it does not fit */
        snprintf(out, size, "serial %s, expires %s, sha256 %s", serial, until, fp);
    }
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

void bw_tls_free(struct bw_tls *t) {
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

struct bufferevent *bw_tls_bev(struct event_base *base, void *arg) {
    struct bw_tls *t = arg;
    SSL_CTX *ctx = current_ctx(t);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL; /* SSL_new takes its own reference on ctx */
    SSL_CTX_free(ctx);
    if (!ssl)
        return NULL;
    if (arm_deadline(base, ssl, t->handshake_timeout_s) != BW_OK) {
        SSL_free(ssl);
        return NULL;
    }
    /* fd -1: evhttp sets the accepted socket (BEV_CTRL_SET_FD starts the handshake). Free
     * closes the socket and frees ssl. */
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* A client that closes without close_notify ends its connection like a plain EOF: there
     * is no truncation attack on a request (framing is explicit) to guard against. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    if (bw_http_guard_attach(bev) != BW_OK) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

int bw_tls_host_is_loopback(const char *host) {
    struct in_addr a;
    if (!host || inet_pton(AF_INET, host, &a) != 1)
        return 0;
    return (ntohl(a.s_addr) >> 24) == 127;
}

void bw_transport_of(const struct bw_config *c, struct bw_transport *out) {
    memset(out, 0, sizeof *out);
    out->tls_on = c->tls_cert_file[0] != 0;
    out->plain_on = c->listen_host[0] != 0;
    out->plain_loopback_only = !out->plain_on || bw_tls_host_is_loopback(c->listen_host);
    out->plain_allowed = c->allow_plain_http != 0;
}
