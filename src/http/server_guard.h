/* server_guard.h: what stands between a client's bytes and evhttp (server.c's connections).
 *
 * Two guards run as callbacks on each connection's input buffer, before evhttp's read callback
 * sees the bytes (evbuffer callbacks run as the bytes are added):
 *  - slowloris: a request whose bytes are still trickling in client_timeout_s after its first
 *    byte is cut off (evhttp resets its read timeout on every byte);
 *  - strict framing (framing.h): each request head is held back from evhttp (the buffer's front
 *    is frozen) until it is complete and accepted; bodies are followed by their framing
 *    (Content-Length, or strict chunks) so the next head is found exactly where a strict
 *    recipient finds it. A refused request is replaced, in the buffer, by a stand-in request
 *    that evhttp parses and hands to the server, which answers it with the refusal (JSON, with
 *    Connection: close) after any earlier request on the connection; nothing the client sent
 *    after the refused part is read. Only when the refusal is found in the body of a request
 *    evhttp is already reading (a malformed chunk) is the answer written to the socket directly
 *    and the connection shut down.
 *
 * State is a table indexed by file descriptor (fds are unique process-wide while open), tagged
 * with the bufferevent so a reused fd number starts fresh. Only the thread that owns a
 * connection touches its entry; the table itself is set up once before the workers start. */
#ifndef BW_HTTP_SERVER_GUARD_H
#define BW_HTTP_SERVER_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct bufferevent;
struct event_base;
struct evhttp_request;

/* Once, before any worker starts. */
bw_err bw_http_guard_init(int client_timeout_s, size_t max_head_bytes,
                          uint64_t max_body_bytes) BW_MUST_CHECK;

/* evhttp_set_bevcb's callback: a socket bufferevent with both guards attached. */
struct bufferevent *bw_http_guard_bev(struct event_base *base, void *arg) BW_MUST_CHECK;

/* Attaches both guards to bev's input and output buffers. For a TLS bufferevent (tls.c) those
 * hold the plaintext, so the guards see exactly the bytes evhttp parses; a refusal found inside
 * a body is written through the TLS session before the socket is shut. */
bw_err bw_http_guard_attach(struct bufferevent *bev) BW_MUST_CHECK;

/* Call first for every request: if req is the stand-in for a refused request, answers it with
 * the refusal and returns 1 (req is then evhttp's); otherwise returns 0.
 * Frees req when it returns 1 (it has answered). */
int bw_http_guard_answer_refused(struct evhttp_request *req) BW_MUST_CHECK;

#endif
