/*
 * fuzz_json.c — libFuzzer target for the JSON parser and the hkb encoding.
 *
 * Checks: hj_parse never misbehaves on arbitrary bytes; an object that parses encodes to
 * valid hkb, prints back to JSON that parses again, and that JSON encodes to the very same
 * bytes; and hkb_valid accepts or rejects the raw input as an hkb blob without crashing,
 * with whatever it accepts printing to JSON that parses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void check_round_trip(const uint8_t *data, size_t size) {
    hk_buf enc, text, again;
    hk_buf_init(&enc);
    hk_buf_init(&text);
    hk_buf_init(&again);
    if (hkb_from_json(&enc, (const char *)data, size) == HK_OK) {
        if (!hkb_valid(enc.data, enc.len) || hkb_size(enc.data) != enc.len) abort();
        if (hkb_to_json(&text, enc.data, enc.len) != HK_OK) abort();
        if (hkb_from_json(&again, (const char *)text.data, text.len) != HK_OK) abort();
        if (again.len != enc.len || memcmp(again.data, enc.data, enc.len) != 0) abort();
    }
    hk_buf_free(&enc);
    hk_buf_free(&text);
    hk_buf_free(&again);
}

static void check_tree(const uint8_t *data, size_t size) {
    hk_arena arena;
    hk_arena_init(&arena);
    hj_value *v;
    if (hj_parse((const char *)data, size, &arena, &v) == HK_OK) {
        hk_buf out;
        hk_buf_init(&out);
        hj_value *back;
        if (hj_write(&out, v) != HK_OK) abort();
        if (hj_parse((const char *)out.data, out.len, &arena, &back) != HK_OK) abort();
        if (back->type != v->type) abort();
        hk_buf_free(&out);
    }
    hk_arena_reset(&arena);
}

static void check_raw_hkb(const uint8_t *data, size_t size) {
    if (!hkb_valid(data, size)) return;
    if (hkb_size(data) != size) abort();
    hk_buf text;
    hk_buf_init(&text);
    if (hkb_to_json(&text, data, size) != HK_OK) abort();
    hk_arena arena;
    hk_arena_init(&arena);
    hj_value *v;
    if (hj_parse((const char *)text.data, text.len, &arena, &v) != HK_OK) abort();
    hk_arena_reset(&arena);
    hk_buf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_tree(data, size);
    check_round_trip(data, size);
    check_raw_hkb(data, size);
    return 0;
}
