/* text.h: the character profiles Bulwark's identifiers keep. Names that go into receipts
 * verbatim must be printable ASCII (the receipt profile, docs/EVIDENCE.md); these checks say
 * which names qualify, in one place for the config, the API and the proxy. */
#ifndef BW_UTIL_TEXT_H
#define BW_UTIL_TEXT_H

#include "util/err.h"

/* A model name: 1..127 bytes of printable ASCII without spaces, quotes or backslashes. */
int bw_text_model_ok(const char *s) BW_MUST_CHECK;

/* An agent name: 1..63 bytes of letters, digits, '-', '_', '.'. */
int bw_text_agent_ok(const char *s) BW_MUST_CHECK;

#endif
