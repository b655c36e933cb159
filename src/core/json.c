/*
 * json.c — the strict JSON parser (text -> arena tree) and the JSON writer. The binary
 * payload encoding lives in hkb.c.
 *
 * Decisions:
 *  - Recursive descent with an explicit depth limit. Children of the container being
 *    parsed are collected on two scratch stacks (values, members) and copied into the
 *    arena once the container closes, so the tree is flat arrays without realloc waste.
 *  - Repeated keys are resolved when an object closes: the member keeps the position of
 *    its first occurrence and the value of its last. Small objects compare pairwise,
 *    large ones sort (key, position) so hostile input cannot make this quadratic.
 *  - Numbers are validated and converted in one pass, exactly by Clinger's fast path when
 *    it applies (short mantissa, small exponent: nearly every float in a vector), else
 *    with strtod_l in the "C" locale; doubles are printed under
 *    uselocale("C"), so a host program's setlocale() cannot change what we read or write.
 *  - The writer replaces bytes that are not valid UTF-8 with U+FFFD, so whatever it is
 *    given, its output parses.
 *  - Floats (scores, vectors in answers) are written as the first of "%.6g" to "%.9g"
 *    that reads back as the same float, but computed with exact 128-bit integer
 *    arithmetic instead of snprintf and strtof (about ten times faster, same bytes);
 *    snprintf remains for subnormals and the few magnitudes that do not fit.
 */
#include "json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- "C" locale for number conversion ---- */

static locale_t json_c_locale;
static pthread_once_t json_c_locale_once = PTHREAD_ONCE_INIT;

static void json_c_locale_init(void) {
    json_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t json_locale(void) {
    pthread_once(&json_c_locale_once, json_c_locale_init);
    return json_c_locale;
}

static double json_strtod(const char *s, char **end) {
    locale_t loc = json_locale();
    return loc ? strtod_l(s, end, loc) : strtod(s, end);
}

/* ---- UTF-8 ---- */

size_t hj_utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

int hj_utf8_valid(const char *s, size_t len) {
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = hj_utf8_seq(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

static size_t utf8_put(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- parser ---- */

typedef struct hj_parser {
    const char *start, *p, *end;
    hk_arena *arena;
    hk_buf vals;  /* scratch stack of hj_value */
    hk_buf mems;  /* scratch stack of hj_member */
    hk_buf str;   /* unescaped string being built */
    unsigned depth;
} hj_parser;

static hk_status perr_at(const hj_parser *ps, const char *at, const char *what) {
    return hk_fail(HK_INVALID, "%s at offset %zu", what, (size_t)(at - ps->start));
}

static hk_status perr(const hj_parser *ps, const char *what) {
    return perr_at(ps, ps->p, what);
}

static hk_status nomem(void) {
    return hk_fail(HK_NOMEM, "out of memory while parsing JSON");
}

static void skip_ws(hj_parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static hk_status parse_value(hj_parser *ps, hj_value *out);

static int hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Reads a \uXXXX escape (ps->p at the backslash) and any low surrogate that must follow. */
static hk_status parse_u_escape(hj_parser *ps, uint32_t *cp) {
    const char *esc = ps->p;
    if (ps->end - ps->p < 6 || !hex4(ps->p + 2, cp))
        return perr(ps, "expected 4 hex digits after \\u");
    ps->p += 6;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return perr_at(ps, esc, "lone low surrogate");
    if (*cp < 0xD800 || *cp > 0xDBFF) return HK_OK;
    uint32_t lo;
    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
        return perr_at(ps, esc, "high surrogate without a low surrogate");
    ps->p += 6;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return HK_OK;
}

/* ps->p is at the opening quote. */
static hk_status parse_string(hj_parser *ps, const char **s, uint32_t *len) {
    const char *open = ps->p++;
    hk_buf_reset(&ps->str);
    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end) {
            uint8_t c = (uint8_t)*ps->p;
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            ps->p++;
        }
        if (ps->p > run && hk_buf_append(&ps->str, run, (size_t)(ps->p - run))) return nomem();
        if (ps->p >= ps->end) return perr_at(ps, open, "unterminated string");
        uint8_t c = (uint8_t)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) return perr(ps, "unescaped control character in string");
        if (c >= 0x80) {
            size_t n = hj_utf8_seq((const uint8_t *)ps->p, (const uint8_t *)ps->end);
            if (!n) return perr(ps, "invalid UTF-8 in string");
            if (hk_buf_append(&ps->str, ps->p, n)) return nomem();
            ps->p += n;
            continue;
        }
        if (ps->end - ps->p < 2) return perr_at(ps, open, "unterminated string");
        char e = ps->p[1], lit;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            uint32_t cp;
            hk_status st = parse_u_escape(ps, &cp);
            if (st) return st;
            uint8_t enc[4];
            if (hk_buf_append(&ps->str, enc, utf8_put(enc, cp))) return nomem();
            continue;
        }
        default: return perr(ps, "invalid escape in string");
        }
        if (hk_buf_putc(&ps->str, lit)) return nomem();
        ps->p += 2;
    }
    if (ps->str.len > UINT32_MAX) return perr_at(ps, open, "string longer than 4 GiB");
    char *copy = hk_arena_alloc(ps->arena, ps->str.len + 1);
    if (!copy) return nomem();
    if (ps->str.len) memcpy(copy, ps->str.data, ps->str.len);
    copy[ps->str.len] = '\0';
    *s = copy;
    *len = (uint32_t)ps->str.len;
    return HK_OK;
}

static const uint64_t pow10_u64[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};

/* Eight bytes of text as one integer, the first byte the lowest on any host. */
static uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The digits at the start of the 8 bytes in w, 8 at a time (SWAR): how many there are
 * (0 to 8), their value in *val. A byte is a digit when, xor '0', it is at most 9: adding
 * 0x76 then sets its top bit only for 10 and above (a byte that already has the top bit
 * set is caught by the or; its carry only disturbs later bytes). The digits are shifted to
 * the top, zeros before them, and combined pairwise: 10a+b, then 100x+y and 10^4 u+v. */
static int swar_digits(uint64_t w, uint32_t *val) {
    uint64_t x = w ^ 0x3030303030303030ull;
    uint64_t t = ((x + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
    int k = t ? __builtin_ctzll(t) >> 3 : 8;
    if (!k) {
        *val = 0;
        return 0;
    }
    uint64_t v = x << (8 * (8 - k));
    v = v * 10 + (v >> 8);
    v = ((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
         ((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >> 32;
    *val = (uint32_t)v;
    return k;
}

/* Numbers are validated and converted in one pass: up to 19 significant digits are
 * gathered into an integer mantissa on the way, eight at a time while they fit. Integers that fit int64 stay integers.
 * Clinger's fast path: when the mantissa fits 2^53 and the decimal exponent is within 22,
 * mantissa and power of ten are both exact doubles and one multiplication or division
 * rounds correctly, as strtod would. Vectors of floats in requests are nearly all such
 * numbers; the rest go to strtod. */
static hk_status parse_number(hj_parser *ps, hj_value *out) {
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *s = ps->p, *q = ps->p, *end = ps->end;
    int neg = 0, is_int = 1, digits = 0, exp10 = 0, fast = 1;
    uint64_t mant = 0;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= end || *q < '0' || *q > '9') return perr_at(ps, q, "expected a digit");
    if (*q == '0') {
        q++;
        if (q < end && *q >= '0' && *q <= '9') return perr_at(ps, q, "leading zero in number");
    } else {
        int k = 8;
        while (k == 8 && end - q >= 8 && digits + 8 <= 19) { /* 8 digits at a time */
            uint32_t v;
            k = swar_digits(load8(q), &v);
            mant = mant * pow10_u64[k] + v;
            digits += k;
            q += k;
        }
        for (; k == 8 && q < end && *q >= '0' && *q <= '9'; q++) {
            if (digits >= 19) { /* held at 20: a count of a huge literal must not overflow */
                digits = 20;
                fast = 0;
            } else {
                digits++;
                mant = mant * 10 + (uint64_t)(*q - '0');
            }
        }
    }
    if (q < end && *q == '.') {
        is_int = 0;
        q++;
        if (q >= end || *q < '0' || *q > '9') return perr_at(ps, q, "expected a digit after '.'");
        int k = 8;
        while (k == 8 && end - q >= 8 && digits + 8 <= 19 && exp10 > -100000) {
            uint32_t v;
            k = swar_digits(load8(q), &v);
            /* Zeros before the first nonzero digit are not significant; those inside
             * this run are counted anyway, which can only send a number with close to 19
             * digits to strtod, never change its value. */
            digits += mant || v ? k : 0;
            mant = mant * pow10_u64[k] + v;
            exp10 -= k;
            q += k;
        }
        for (; k == 8 && q < end && *q >= '0' && *q <= '9'; q++) {
            /* digits and exp10 are held in range however long the fraction: past them
             * the number goes to strtod anyway */
            if ((mant || *q != '0') && digits <= 19) digits++;
            if (digits > 19) fast = 0;
            else mant = mant * 10 + (uint64_t)(*q - '0');
            if (exp10 > -100000) exp10--;
            else fast = 0;
        }
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        is_int = 0;
        q++;
        int eneg = 0, e = 0;
        if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q >= end || *q < '0' || *q > '9') return perr_at(ps, q, "expected a digit in exponent");
        for (; q < end && *q >= '0' && *q <= '9'; q++)
            if (e <= 10000) e = e * 10 + (*q - '0');
        if (e > 10000) fast = 0;
        exp10 += eneg ? -e : e;
    }
    ps->p = q;
    if (is_int && fast && mant <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        out->type = HJ_INT;
        out->u.i = neg ? (int64_t)(0 - mant) : (int64_t)mant;
        return HK_OK;
    }
    if (fast && mant <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
        out->type = HJ_DOUBLE;
        out->u.d = neg ? -d : d;
        return HK_OK;
    }
    size_t n = (size_t)(q - s);
    char small[64], *tmp = small;
    if (n >= sizeof small && !(tmp = hk_malloc(n + 1))) return nomem();
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double d = json_strtod(tmp, NULL);
    if (tmp != small) hk_free(tmp);
    if (!isfinite(d)) return perr_at(ps, s, "number out of range");
    out->type = HJ_DOUBLE;
    out->u.d = d;
    return HK_OK;
}

static hk_status parse_literal(hj_parser *ps, const char *word, hj_type t, hj_value *out) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return perr(ps, "expected a value");
    ps->p += n;
    out->type = t;
    return HK_OK;
}

static hk_status enter(hj_parser *ps) {
    if (++ps->depth > HJ_MAX_DEPTH) return perr(ps, "nesting deeper than 64 levels");
    ps->p++;
    skip_ws(ps);
    return HK_OK;
}

static hk_status parse_array(hj_parser *ps, hj_value *out) {
    hk_status st = enter(ps);
    if (st) return st;
    size_t base = ps->vals.len;
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            hj_value v;
            memset(&v, 0, sizeof v);
            if ((st = parse_value(ps, &v))) return st;
            if (hk_buf_append(&ps->vals, &v, sizeof v)) return nomem();
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            return perr(ps, "expected ',' or ']'");
        }
    }
    size_t bytes = ps->vals.len - base, n = bytes / sizeof(hj_value);
    if (n > UINT32_MAX) return perr(ps, "array has more than 4294967295 items");
    out->type = HJ_ARRAY;
    out->n = (uint32_t)n;
    out->u.items = NULL;
    if (n) {
        if (!(out->u.items = hk_arena_alloc(ps->arena, bytes))) return nomem();
        memcpy(out->u.items, ps->vals.data + base, bytes);
    }
    ps->vals.len = base;
    ps->depth--;
    return HK_OK;
}

typedef struct member_ref {
    const char *key;
    uint32_t len, pos;
} member_ref;

static int member_ref_cmp(const void *a, const void *b) {
    const member_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int same_key(const hj_member *a, const hj_member *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Resolves repeated keys in m[0..n) in place; returns the new count. */
static hk_status dedupe_members(hj_member *m, size_t n, size_t *out_n) {
    size_t k = 0;
    if (n <= 32) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < k && !same_key(&m[j], &m[i])) j++;
            if (j < k) m[j].value = m[i].value;
            else m[k++] = m[i];
        }
        *out_n = k;
        return HK_OK;
    }
    member_ref *refs = hk_calloc(n, sizeof *refs);
    uint8_t *drop = hk_calloc(n, 1);
    if (!refs || !drop) {
        hk_free(refs);
        hk_free(drop);
        return nomem();
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (member_ref){m[i].key, m[i].key_len, (uint32_t)i};
    qsort(refs, n, sizeof *refs, member_ref_cmp);
    for (size_t g = 0; g < n;) {
        size_t e = g + 1;
        while (e < n && refs[e].len == refs[g].len &&
               memcmp(refs[e].key, refs[g].key, refs[g].len) == 0)
            e++;
        if (e - g > 1) {
            m[refs[g].pos].value = m[refs[e - 1].pos].value;
            for (size_t i = g + 1; i < e; i++) drop[refs[i].pos] = 1;
        }
        g = e;
    }
    for (size_t i = 0; i < n; i++)
        if (!drop[i]) m[k++] = m[i];
    hk_free(refs);
    hk_free(drop);
    *out_n = k;
    return HK_OK;
}

static hk_status parse_object(hj_parser *ps, hj_value *out) {
    hk_status st = enter(ps);
    if (st) return st;
    size_t base = ps->mems.len;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            hj_member m;
            memset(&m, 0, sizeof m);
            if (ps->p >= ps->end || *ps->p != '"') return perr(ps, "expected a string key");
            if ((st = parse_string(ps, &m.key, &m.key_len))) return st;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return perr(ps, "expected ':'");
            ps->p++;
            if ((st = parse_value(ps, &m.value))) return st;
            if (hk_buf_append(&ps->mems, &m, sizeof m)) return nomem();
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            return perr(ps, "expected ',' or '}'");
        }
    }
    size_t n = (ps->mems.len - base) / sizeof(hj_member);
    if (n > UINT32_MAX) return perr(ps, "object has more than 4294967295 members");
    if (n > 1 && (st = dedupe_members((hj_member *)(ps->mems.data + base), n, &n))) return st;
    out->type = HJ_OBJECT;
    out->n = (uint32_t)n;
    out->u.members = NULL;
    if (n) {
        size_t bytes = n * sizeof(hj_member);
        if (!(out->u.members = hk_arena_alloc(ps->arena, bytes))) return nomem();
        memcpy(out->u.members, ps->mems.data + base, bytes);
    }
    ps->mems.len = base;
    ps->depth--;
    return HK_OK;
}

static hk_status parse_value(hj_parser *ps, hj_value *out) {
    skip_ws(ps);
    if (ps->p >= ps->end) return perr(ps, "expected a value");
    switch (*ps->p) {
    case '{': return parse_object(ps, out);
    case '[': return parse_array(ps, out);
    case '"':
        out->type = HJ_STRING;
        return parse_string(ps, &out->u.s, &out->n);
    case 't': return parse_literal(ps, "true", HJ_TRUE, out);
    case 'f': return parse_literal(ps, "false", HJ_FALSE, out);
    case 'n': return parse_literal(ps, "null", HJ_NULL, out);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, out);
        return perr(ps, "expected a value");
    }
}

hk_status hj_parse(const char *text, size_t len, hk_arena *arena, hj_value **out) {
    *out = NULL;
    if (!text && len) return hk_fail(HK_INVALID, "JSON text is NULL");
    hj_parser ps;
    memset(&ps, 0, sizeof ps);
    ps.start = ps.p = text ? text : "";
    ps.end = ps.start + len;
    ps.arena = arena;
    hk_buf_init(&ps.vals);
    hk_buf_init(&ps.mems);
    hk_buf_init(&ps.str);
    /* Room for the values of a long array up front (an item takes at least two bytes of
     * text): one allocation instead of a doubling series for a vector of numbers. */
    hk_buf_reserve(&ps.vals, len < 2048 ? len * sizeof(hj_value) / 2 + 64 : 16384);
    hj_value *root = hk_arena_alloc(arena, sizeof *root);
    hk_status st = root ? HK_OK : nomem();
    if (!st) {
        memset(root, 0, sizeof *root);
        st = parse_value(&ps, root);
    }
    if (!st) {
        skip_ws(&ps);
        if (ps.p < ps.end) st = perr(&ps, "unexpected data after the JSON value");
    }
    hk_buf_free(&ps.vals);
    hk_buf_free(&ps.mems);
    hk_buf_free(&ps.str);
    if (!st) *out = root;
    return st;
}

/* ---- tree helpers ---- */

const char *hj_type_name(hj_type t) {
    switch (t) {
    case HJ_NULL: return "null";
    case HJ_FALSE:
    case HJ_TRUE: return "boolean";
    case HJ_INT: return "integer";
    case HJ_DOUBLE: return "number";
    case HJ_STRING: return "string";
    case HJ_ARRAY: return "array";
    case HJ_OBJECT: return "object";
    }
    return "unknown";
}

const hj_value *hj_get(const hj_value *obj, const char *key) {
    if (!obj || obj->type != HJ_OBJECT) return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->n; i++) {
        const hj_member *m = &obj->u.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0) return &m->value;
    }
    return NULL;
}

int hj_is_number(const hj_value *v) {
    return v && (v->type == HJ_INT || v->type == HJ_DOUBLE);
}

double hj_number(const hj_value *v) {
    if (!v) return 0;
    if (v->type == HJ_INT) return (double)v->u.i;
    if (v->type == HJ_DOUBLE) return v->u.d;
    return 0;
}

/* ---- writer ---- */

hk_status hj_write_string(hk_buf *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t orig = out->len;
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    hk_status st = hk_buf_reserve(out, len + 2);
    if (!st) st = hk_buf_putc(out, '"');
    while (!st && p < end) {
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p > run && (st = hk_buf_append(out, run, (size_t)(p - run)))) break;
        if (p >= end) break;
        uint8_t c = *p;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        if (c >= 0x80) {
            size_t k = hj_utf8_seq(p, end);
            st = k ? hk_buf_append(out, p, k) : hk_buf_puts(out, "\\ufffd");
            p += k ? k : 1;
            continue;
        }
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        st = hk_buf_append(out, esc, n);
        p++;
    }
    if (!st) st = hk_buf_putc(out, '"');
    if (st) out->len = orig;
    return st;
}

/* ---- floats: the shortest of %.6g to %.9g that reads back ---- */

__extension__ typedef unsigned __int128 u128;

static u128 pow10_u128(int n) { /* n <= 38 */
    return n < 20 ? pow10_u64[n] : (u128)pow10_u64[19] * pow10_u64[n - 19];
}

/* Bits 10^n needs, rounded up (1701/512 > log2 10). */
static int pow10_bits(int n) { return n > 0 ? (n * 1701 >> 9) + 1 : 0; }

/* v = m * 2^e (m < 2^24) at decimal scale s: v * 10^s = a / b with a = m * 10^max(s,0) *
 * 2^max(e,0) and b = 10^max(-s,0) * 2^max(-e,0), both exact. 0 when they do not fit
 * 128 bits (with room for the comparisons below). */
static int float_scale(uint32_t m, int e, int s, u128 *a, u128 *b, u128 *g) {
    int sp = s > 0 ? s : 0, sn = s < 0 ? -s : 0, ep = e > 0 ? e : 0, en = e < 0 ? -e : 0;
    if (24 + pow10_bits(sp) + ep > 125 || pow10_bits(sn) + en > 125 || sp > 38 || sn > 38) return 0;
    *g = pow10_u128(sp) << ep;
    *a = *g * m;
    *b = pow10_u128(sn) << en;
    return 1;
}

/* Writes v = (neg ? -1 : 1) * n * 10^(x - p + 1), n of exactly p digits, the way "%.*g"
 * with precision p does: trailing zeros of the fraction dropped, exponent form when x < -4
 * or x >= p. Returns the length. (Byte loops: the copies are a few bytes, where memcpy's
 * string instructions cost more than the rest.) */
static size_t format_g(char *o, int neg, uint64_t n, int p, int x) {
    char dig[24];
    for (int i = p - 1; i >= 0; i--, n /= 10) dig[i] = (char)('0' + n % 10);
    int nd = p;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    size_t len = 0;
    if (neg) o[len++] = '-';
    if (x < -4 || x >= p) {
        o[len++] = dig[0];
        if (nd > 1) o[len++] = '.';
        for (int i = 1; i < nd; i++) o[len++] = dig[i];
        o[len++] = 'e';
        o[len++] = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100) o[len++] = (char)('0' + ax / 100);
        o[len++] = (char)('0' + ax / 10 % 10);
        o[len++] = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++) o[len++] = i < nd ? dig[i] : '0';
        if (nd > x + 1) o[len++] = '.';
        for (int i = x + 1; i < nd; i++) o[len++] = dig[i];
    } else {
        o[len++] = '0';
        o[len++] = '.';
        for (int i = -1; i > x; i--) o[len++] = '0';
        for (int i = 0; i < nd; i++) o[len++] = dig[i];
    }
    return len;
}

/* The exact path of hj_write_float for a normal float (bits of its magnitude); 0 when its
 * numbers do not fit 128 bits and the caller must use snprintf. */
static size_t float_shortest(char *o, int neg, uint32_t bits) {
    int bexp = (int)(bits >> 23);
    uint32_t m = (bits & 0x7FFFFFu) | 0x800000u;
    int e = bexp - 150;
    /* v is in [2^(e+23), 2^(e+24)): its decimal exponent x is this or one more. */
    int x = (int)floor((double)(e + 23) * 0.30102999566398120);
    int lower_half = m == 0x800000u && bexp > 1; /* the float below is half as far away */
    for (int p = 6; p <= 9; p++) {
        u128 a, b, g, q, r;
        for (;;) {
            if (!float_scale(m, e, p - 1 - x, &a, &b, &g)) return 0;
            if (p - 1 - x >= 0) { /* b is a power of two */
                int sh = e < 0 ? -e : 0;
                q = a >> sh;
                r = a & (((u128)1 << sh) - 1);
            } else {
                q = a / b;
                r = a % b;
            }
            if (q >= pow10_u64[p]) x++;
            else if (q < pow10_u64[p - 1]) x--;
            else break;
        }
        /* Round to nearest, ties to even, as printf does with the exact binary value. */
        u128 n = q + (2 * r > b || (2 * r == b && (q & 1)));
        int ok = p == 9;
        if (!ok) {
            /* n * 10^-s reads back as v when it is within half the gap to v's neighbour on
             * its side (a tie goes to the even mantissa): in units of 1 / (b * 10^s) the
             * distance is r or b - r and half the gap above is g / 2. */
            int below = n == q;
            u128 dist = below ? r : b - r;
            u128 twice = below && lower_half ? 4 * dist : 2 * dist;
            ok = twice < g || (twice == g && !(m & 1));
        }
        if (ok) {
            int xx = x;
            if (n == pow10_u64[p]) { /* rounded up to the next power of ten */
                n /= 10;
                xx++;
            }
            return format_g(o, neg, (uint64_t)n, p, xx);
        }
    }
    return 0;
}

hk_status hj_write_float(hk_buf *out, float f) {
    if (!isfinite(f)) return hk_buf_puts(out, "null");
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    int neg = (int)(bits >> 31);
    bits &= 0x7FFFFFFFu;
    if (!bits) return hk_buf_puts(out, neg ? "-0" : "0");
    char buf[40];
    size_t len = bits >= 0x800000u ? float_shortest(buf, neg, bits) : 0;
    if (len) return hk_buf_append(out, buf, len);
    /* Subnormals, and magnitudes whose exact arithmetic would not fit 128 bits. */
    locale_t loc = json_locale(), old = loc ? uselocale(loc) : (locale_t)0;
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (prec == 9 || (loc ? strtof_l(buf, NULL, loc) : strtof(buf, NULL)) == f) break;
    }
    if (loc) uselocale(old);
    return hk_buf_puts(out, buf);
}

hk_status hj_write_uint(hk_buf *out, uint64_t v) {
    char buf[20];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return hk_buf_append(out, buf + i, sizeof buf - i);
}

hk_status hj_write_int(hk_buf *out, int64_t v) {
    if (v >= 0) return hj_write_uint(out, (uint64_t)v);
    hk_status st = hk_buf_putc(out, '-');
    return st ? st : hj_write_uint(out, 0 - (uint64_t)v);
}

hk_status hj_write_double(hk_buf *out, double d) {
    if (!isfinite(d)) return hk_buf_puts(out, "null");
    char buf[40];
    locale_t loc = json_locale(), old = loc ? uselocale(loc) : (locale_t)0;
    /* 15 digits round-trip every decimal they can express, so a %.15g that reads back is
     * the shortest form; subnormals have fewer digits of precision and start lower. */
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (prec == 17 || json_strtod(buf, NULL) == d) break;
    }
    if (loc) uselocale(old);
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
    return hk_buf_puts(out, buf);
}

static hk_status write_value(hk_buf *out, const hj_value *v) {
    hk_status st = HK_OK;
    switch (v->type) {
    case HJ_NULL: return hk_buf_puts(out, "null");
    case HJ_FALSE: return hk_buf_puts(out, "false");
    case HJ_TRUE: return hk_buf_puts(out, "true");
    case HJ_INT: return hj_write_int(out, v->u.i);
    case HJ_DOUBLE: return hj_write_double(out, v->u.d);
    case HJ_STRING: return hj_write_string(out, v->u.s, v->n);
    case HJ_ARRAY:
        st = hk_buf_putc(out, '[');
        for (uint32_t i = 0; !st && i < v->n; i++) {
            if (i) st = hk_buf_putc(out, ',');
            if (!st) st = write_value(out, &v->u.items[i]);
        }
        return st ? st : hk_buf_putc(out, ']');
    case HJ_OBJECT:
        st = hk_buf_putc(out, '{');
        for (uint32_t i = 0; !st && i < v->n; i++) {
            const hj_member *m = &v->u.members[i];
            if (i) st = hk_buf_putc(out, ',');
            if (!st) st = hj_write_string(out, m->key, m->key_len);
            if (!st) st = hk_buf_putc(out, ':');
            if (!st) st = write_value(out, &m->value);
        }
        return st ? st : hk_buf_putc(out, '}');
    }
    return hk_fail(HK_INVALID, "JSON value has unknown type %d", (int)v->type);
}

hk_status hj_write(hk_buf *out, const hj_value *v) {
    size_t orig = out->len;
    hk_status st = write_value(out, v);
    if (st) out->len = orig;
    return st;
}
