/* egress_internal.h: what the egress module's files share. Not part of the contract. */
#ifndef BW_EGRESS_EGRESS_INTERNAL_H
#define BW_EGRESS_EGRESS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "egress/egress.h"

/* Writes a one-line reason into why (if why_size > 0); always NUL-terminates. */
void bw_egress_why(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies s[0..n) into out (size out_size) keeping only printable ASCII ('?' otherwise), for
 * quoting a host in a reason. Always NUL-terminates; truncates. */
void bw_egress_printable(const char *s, size_t n, char *out, size_t out_size);

/* Strict dotted-decimal IPv4 (RFC 6943 3.1.1 "strict" form: exactly four decimal parts 0..255,
 * no leading zeros). Returns 0 and *v4 (host order) on success, -1 otherwise. */
int bw_egress_parse_v4(const char *s, size_t n, uint32_t *v4) BW_MUST_CHECK;

/* 1 if s[0..n) "ends in a number" (WHATWG URL host parser): its last label, ignoring one
 * trailing dot, is all decimal digits or 0x-hex. Such a host is an IPv4 attempt to some parser,
 * so Bulwark accepts it only in strict form. */
int bw_egress_looks_numeric(const char *s, size_t n) BW_MUST_CHECK;

/* Normalises a host name (UTF-8, no brackets) to its lowercase A-label form with libidn2
 * (UTS #46 non-transitional, IDNA2008) and checks RFC 1035/1123 LDH syntax on the result:
 * labels 1..63 of [a-z0-9-] not starting or ending with '-', total <= 253, one trailing dot
 * dropped. Returns BW_OK, BW_E_DENIED (not a valid name) or BW_E_NOMEM. */
bw_err bw_egress_name_normalize(const char *raw, size_t n, char *out, size_t out_size, char *why,
                                size_t why_size) BW_MUST_CHECK;

/* Name rules on a normalised name: a static reason if it is denied, else NULL. */
const char *bw_egress_name_denied(const char *host);

/* 1 if the first `bits` bits of a and base are equal. */
int bw_egress_in_prefix(const uint8_t *a, const uint8_t *base, unsigned bits) BW_MUST_CHECK;

/* Allowlist lookups. family is 4 or 6; addr holds 4 or 16 bytes; port 0 matches CIDRs only. */
int bw_egress_policy_has_addr(const struct bw_egress_policy *p, int family, const uint8_t *addr,
                              uint16_t port) BW_MUST_CHECK;
/* 1 if a HOST:PORT entry names exactly this normalised host (name or literal text) and port. */
int bw_egress_policy_has_hostport(const struct bw_egress_policy *p, const char *host,
                                  uint16_t port) BW_MUST_CHECK;

/* URL syntax + normalisation only (no name rules, no address classification). */
bw_err bw_egress_parse_url(const char *url, struct bw_egress_target *out, char *why,
                           size_t why_size) BW_MUST_CHECK;

#endif
