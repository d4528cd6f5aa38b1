/* origin.h: browser origins (RFC 6454), for the lists an org or the operator configures
 * (the widget's allowed origins, mcp.allowed_origins). */
#ifndef BW_HTTP_ORIGIN_H
#define BW_HTTP_ORIGIN_H

#define BW_HTTP_MAX_ORIGIN 256 /* bytes of one Origin header value we consider */

/* 1 if origin (NUL-terminated) is an origin exactly as a browser serializes it (RFC 6454 6.2,
 * WHATWG URL): "http" or "https", "://", a host, an optional ":" port, and nothing else. The
 * host is lowercase LDH labels (1..63 bytes each, no leading or trailing hyphen, no empty label,
 * no trailing dot; an IDN as its A-label "xn--..."), a dotted IPv4 address (four numbers 0..255
 * without leading zeros), or a bracketed IPv6 address in its canonical RFC 5952 form. The port
 * is 1..65535 without leading zeros and not the scheme's default (the browser omits 80 / 443).
 * No userinfo, path, query, fragment or wildcard. An entry a browser can never send would
 * never match, or would match something else than meant, so it is refused when listed. */
int bw_http_origin_valid(const char *origin);

#endif
