/* text.h: the character profiles Bulwark's identifiers keep. Names that go into receipts
 * verbatim must be printable ASCII (the receipt profile, docs/EVIDENCE.md); these checks say
 * which names qualify, in one place for the config, the API and the proxy. */
#ifndef BW_UTIL_TEXT_H
#define BW_UTIL_TEXT_H

#include <stddef.h>

/* 1 if s[0..n) is visible ASCII, 0x21..0x7e: no space, no control byte, nothing above 0x7e
 * (a token that can go verbatim into a header line or a receipt). n = 0 gives 1: callers
 * check emptiness and length themselves. */
int bw_text_visible(const char *s, size_t n);
/* The same, also without '"' and '\\' (verbatim inside a JSON or quoted string). */
int bw_text_visible_unquoted(const char *s, size_t n);

/* A model name: 1..127 bytes of printable ASCII without spaces, quotes or backslashes. */
int bw_text_model_ok(const char *s);

/* An agent name: 1..63 bytes of letters, digits, '-', '_', '.'. */
int bw_text_agent_ok(const char *s);

#endif
