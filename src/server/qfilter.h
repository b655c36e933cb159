/*
 * qfilter.h — Qdrant's filter JSON (as a client sends it over REST) to a HEKTOR filter.
 *
 * HEKTOR's filter grammar (src/db/filter.c) follows Qdrant's, so the translation is a
 * normalization: clauses given as one object become lists, members that are null are left
 * out (clients serialize absent options as null), and everything HEKTOR cannot answer —
 * full-text match, datetime and geo conditions, values_count, nested object filters,
 * has_vector, min_should, UUID ids — is refused with a message naming it, never dropped.
 */
#ifndef HK_SERVER_QFILTER_H
#define HK_SERVER_QFILTER_H

#include "core.h"
#include "json.h"

/* Appends the HEKTOR filter text for the Qdrant filter qf to out. HK_INVALID (hk_errmsg
 * names the construct and where it is) when qf cannot be translated. */
hk_status qf_translate(const hj_value *qf, hk_buf *out);

/* Translates and parses. A NULL or JSON-null qf gives *f = NULL (no filter). */
hk_status qf_parse(const hj_value *qf, hk_filter **f);

#endif
