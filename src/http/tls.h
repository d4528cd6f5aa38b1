/* tls.h: TLS termination for the server's TLS listener (OpenSSL, libevent's OpenSSL
 * bufferevents). docs/CONFIG.md "TLS" and docs/SECURITY.md state the rules:
 *  - TLS 1.2 and 1.3 only; TLS 1.3 suites AES-GCM and ChaCha20-Poly1305; TLS 1.2 suites ECDHE
 *    with an AEAD only; the server's cipher order; no compression; no renegotiation;
 *    OpenSSL security level 2 (RSA/DH >= 2048 bits, no SHA-1 signatures);
 *  - no session resumption (no tickets, no session cache): every connection does a full
 *    handshake with a fresh ephemeral key, so no long-lived ticket key can undo forward secrecy;
 *  - the private key file must be a regular file owned by the gateway's user (or root), mode
 *    0600, or 0640 with the gateway's group; an encrypted key is refused (no prompt);
 *  - the key's bytes are read into a buffer that is wiped before it is freed, and no message
 *    ever carries them.
 *
 * Reload (SIGHUP): bw_tls_reload builds a whole new SSL_CTX from the files and swaps it in for
 * new connections only; a connection keeps the context it began with (SSL_new holds a
 * reference to it) until it closes. A new pair that fails any check is refused and the running
 * one stays.
 *
 * Threading: struct bw_tls's current context is shared by every worker thread and replaced by
 * the main thread; `mu` protects the pointer (held only to take a reference or to swap).
 * Everything else in it is set at bw_tls_new and read-only afterwards. */
#ifndef BW_HTTP_TLS_H
#define BW_HTTP_TLS_H

#include <stddef.h>

#include "config/config.h"
#include "util/err.h"

struct bufferevent;
struct event_base;
struct bw_tls;

/* Loads cert_file and key_file (borrowed; copied). A connection whose handshake has not
 * finished handshake_timeout_s after it was accepted is cut (a trickled handshake would
 * otherwise re-arm evhttp's idle timeout for ever). err gets a message that may name the files
 * but never holds key material. Errors: BW_E_INVALID (a file fails a check), BW_E_NOMEM.
 * Main thread, before the workers start. */
bw_err bw_tls_new(const char *cert_file, const char *key_file, int handshake_timeout_s,
                  struct bw_tls **out, char *err, size_t err_size) BW_MUST_CHECK;

/* Reloads both files into a new context and swaps it in for new connections. On any error the
 * running context stays and err says why. Main thread (the SIGHUP handler). */
bw_err bw_tls_reload(struct bw_tls *t, char *err, size_t err_size) BW_MUST_CHECK;

/* A one-line description of the certificate in force (serial, expiry, SHA-256 fingerprint),
 * for the startup and reload log lines. */
void bw_tls_describe(struct bw_tls *t, char *out, size_t size);

/* After every connection has closed (the server is stopped). NULL is a no-op. */
void bw_tls_free(struct bw_tls *t);

/* evhttp_set_bevcb's callback for the TLS listener (arg = the struct bw_tls): an OpenSSL
 * server bufferevent over the current context, with the strict HTTP guards
 * (server_guard.h) attached to its plaintext input. NULL on failure (evhttp drops the
 * connection). Any worker thread. */
struct bufferevent *bw_tls_bev(struct event_base *base, void *arg) BW_MUST_CHECK;

/* What the configuration exposes on the network, for the readiness `transport` control. */
struct bw_transport {
    int tls_on;              /* a listen_tls listener is configured */
    int plain_on;            /* a plain HTTP listener is configured */
    int plain_loopback_only; /* every plain listener is on a loopback address (or none is) */
    int plain_allowed;       /* allow_plain_http: true */
};

/* Pure: reads c (after command-line overrides). Thread-safe. */
void bw_transport_of(const struct bw_config *c, struct bw_transport *out);

/* 1 when host is an IPv4 loopback literal (127.0.0.0/8), else 0. */
int bw_tls_host_is_loopback(const char *host) BW_MUST_CHECK;

#endif
