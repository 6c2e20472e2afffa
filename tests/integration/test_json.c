/*
 * tests/integration/test_json.c — daemon/json.c, the scanner that reads stats messages without a cJSON tree.
 *
 * Its contract is to accept exactly what cJSON accepts (the daemon's errors must not depend on which reader a
 * message meets), so most tests here are differential: every input goes through msd_json_check() and through
 * cJSON_ParseWithLengthOpts(), and the verdicts and end offsets must agree. Then the readers are checked against
 * the values cJSON computes. Suite "integration" because it links the daemon's code (msd_core).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../xorshift.h"
#include "frame.h"
#include "json.h"

/* Checks text[0..len) with both readers; fails the test when they disagree. Returns the scanner's verdict. */
static int both(const char *text, size_t len, bool *strict_out)
{
    size_t end = 0;
    bool strict = false;
    int rc = msd_json_check(text, len, &end, &strict);
    const char *cend = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &cend, 0);
    cr_assert_eq(rc == 0, j != NULL, "scanner %s, cJSON %s: \"%.*s\"", rc == 0 ? "accepts" : "refuses",
                 j ? "accepts" : "refuses", (int)(len > 200 ? 200 : len), text);
    if (j)
        cr_assert_eq(end, (size_t)(cend - text), "end %zu, cJSON's %zu: \"%.*s\"", end, (size_t)(cend - text),
                     (int)(len > 200 ? 200 : len), text);
    cJSON_Delete(j);
    if (strict_out)
        *strict_out = rc == 0 && strict;
    return rc;
}

static int both_s(const char *text, bool *strict)
{
    return both(text, strlen(text), strict);
}

static const char stats_doc[] =
    "{\"type\":\"stats\",\"seq\":3,\"dropped\":0,\"time\":1732500000.25,"
    "\"heap\":{\"pool_bytes_in_use\":1000003,\"system_bytes_in_use\":2000000,\"arenas\":4},"
    "\"pools\":[{\"block_size\":16,\"pools\":3,\"blocks_in_use\":100,\"blocks_free\":50},"
    "{\"block_size\":32,\"pools\":3,\"blocks_in_use\":101,\"blocks_free\":50}],"
    "\"refcount\":{\"objects_alive\":30000,\"objects_created\":40003,\"objects_destroyed\":10000},"
    "\"types\":[{\"name\":\"Type0\",\"alive\":1003,\"bytes\":64000,\"created\":5003,\"destroyed\":4003},"
    "{\"name\":\"T\\u00e9\\ud83d\\ude00\\n\",\"alive\":-2.5e3,\"bytes\":0,\"created\":0,\"destroyed\":0}],"
    "\"gc\":{\"enabled\":true,\"generations\":[{\"count\":1,\"threshold\":700,\"collections\":3},"
    "{\"count\":1,\"threshold\":10,\"collections\":4},{\"count\":0,\"threshold\":10,\"collections\":5}],"
    "\"garbage\":0,\"pause_total_ns\":3000,\"pause_max_ns\":900,\"note\":null,\"x\":false},"
    "\"trace\":{\"tracing\":false,\"current\":0,\"peak\":0}}";

Test(json, accepts_valid_documents_where_cjson_does)
{
    static const char *valid[] = {
        "{}", "[]", "0", "-0", "1.5", "-1.25e-7", "1E+300", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "true",
        "false", "null", "[1,[2,[3,{}]],{\"a\":[]}]", " \t\r\n{ \"a\" : 1 , \"b\" : [ 1 , 2 ] } ",
        "{\"a\":1,\"a\":2}", "{\"\":0}", "\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"", "[\"\\u0000\"]",
        "\xEF\xBB\xBF{\"bom\":1}",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        bool strict;
        cr_expect_eq(both_s(valid[i], &strict), 0, "%s", valid[i]);
        cr_expect(strict, "strict JSON: %s", valid[i]);
    }
    bool strict;
    cr_expect_eq(both_s(stats_doc, &strict), 0);
    cr_expect(strict);
}

Test(json, refuses_each_kind_of_malformed_input)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[", "]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}",
        "[1,]", "[,1]", "[1 2]", "{\"a\":1 \"b\":2}", "{,}", "nul", "tru", "fals", "True", "NULL", "nan", "inf",
        "-inf", "+1", ".5", "-", "--1", "-+1", "0x10", "[0x10]", "[1e]", "[1e+]", "[1.2.3]", "[--1]", "\"abc",
        "\"abc\\\"", "\"\\x41\"", "\"\\u12\"", "\"\\u123\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\ud800x\\udc00\"", "\"\\ud83d\\u12\"", "\"\\", "{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "[{]}", "{\"a\"::1}",
        "\"\\'\"", "[1,,2]", "{\"a\":1}}", "[truex]", "[nullnull]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t end = 0;
        bool strict;
        int rc = msd_json_check(bad[i], strlen(bad[i]), &end, &strict);
        both_s(bad[i], NULL); /* the same verdict and end as cJSON */
        /* A value with something after it is "accepted" up to end: the caller refuses the trailing bytes. */
        cr_expect(rc == -EPROTO || end < strlen(bad[i]), "refused or ends early: %s", bad[i]);
    }
}

Test(json, cjson_leniencies_are_accepted_but_not_strict)
{
    static const char *lenient[] = {
        "[01]", "[1.]", "[-.5]", "[1.e5]", "[00.5]", "[-01]", "{\"a\":1\x0b}", "[\x01 1]", "\"tab\there\"",
        "\"nl\nhere\"", "\"\\uZZZZ\"", "\"\\u12G4\"", "\"\\uabc\\\\\"", "[\x1f]",
    };
    for (size_t i = 0; i < sizeof(lenient) / sizeof(lenient[0]); i++) {
        bool strict = true;
        cr_expect_eq(both_s(lenient[i], &strict), 0, "cJSON accepts %s", lenient[i]);
        cr_expect(!strict, "not strict: %s", lenient[i]);
    }
}

Test(json, bad_utf8_is_passed_through_as_cjson_does)
{
    static const char *bytes[] = {"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf8\x88\x80\x80\x80\"",
                                  "{\"\xc0\xaf\":1}"};
    for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        bool strict;
        cr_expect_eq(both_s(bytes[i], &strict), 0);
        cr_expect(strict, "UTF-8 validity is not part of strict (cJSON does not check it either)");
    }
    cr_expect_neq(both_s("\xff{}", NULL), 0, "a stray byte before the value");
}

static char *nested(size_t depth, char open, char close)
{
    char *s = malloc(2 * depth + 1);
    memset(s, open, depth);
    memset(s + depth, close, depth);
    s[2 * depth] = '\0';
    return s;
}

Test(json, nesting_is_limited_like_cjson)
{
    for (size_t d = MSD_JSON_DEPTH_MAX - 1; d <= MSD_JSON_DEPTH_MAX + 1; d++) {
        char *s = nested(d, '[', ']');
        int rc = both_s(s, NULL);
        cr_expect_eq(rc == 0, d <= MSD_JSON_DEPTH_MAX, "depth %zu", d);
        free(s);
    }
    /* Objects count too, mixed with arrays: {"a":[{"a":[...]}]} */
    char *s = malloc(8 * (MSD_JSON_DEPTH_MAX + 2) + 1), *w = s;
    for (size_t i = 0; i < MSD_JSON_DEPTH_MAX / 2; i++)
        w += sprintf(w, "{\"a\":[");
    w += sprintf(w, "{}");
    for (size_t i = 0; i < MSD_JSON_DEPTH_MAX / 2; i++)
        w += sprintf(w, "]}");
    cr_expect_neq(both_s(s, NULL), 0, "1001 levels");
    free(s);
    /* Very deep input costs no stack: a million open brackets are refused at the limit. */
    char *deep = nested(1000000, '[', ']');
    cr_expect_neq(both_s(deep, NULL), 0);
    free(deep);
}

Test(json, numbers_follow_strtod_whatever_their_length)
{
    /* Debian's cJSON 1.7.15 reads the whole run of number bytes (upstream 1.7.15 stopped at 63). */
    static const size_t lengths[] = {1, 15, 16, 62, 63, 64, 65, 300, 400, 5000};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t digits = lengths[i];
        char *buf = malloc(digits + 3);
        memset(buf + 1, '7', digits);
        buf[0] = '[';
        buf[digits + 1] = ']';
        buf[digits + 2] = '\0';
        bool strict;
        cr_expect_eq(both_s(buf, &strict), 0, "%zu digits", digits);
        cr_expect(strict);
        cJSON *j = cJSON_Parse(buf);
        double d = 0;
        cr_assert(msd_json_number((msd_jval){buf + 1, digits}, &d));
        cr_expect(d == j->child->valuedouble, "%zu digits: %g vs %g", digits, d, j->child->valuedouble);
        cJSON_Delete(j);
        free(buf);
    }
    static const char *nums[] = {"[1e999]", "[-1e999]", "[1e-999]", "[123456789012345678901234567890]",
                                 "[0.1]", "[9007199254740993]", "[-0.0]", "[4.9e-324]", "[1.7976931348623157e308]",
                                 "[1e+5]", "[1E-5]"};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        bool strict;
        cr_assert_eq(both_s(nums[i], &strict), 0, "%s", nums[i]);
        cr_expect(strict, "%s", nums[i]);
        cJSON *j = cJSON_Parse(nums[i]);
        double d = NAN;
        msd_jval v = {nums[i] + 1, strlen(nums[i]) - 2};
        cr_assert(msd_json_number(v, &d));
        double c = j->child->valuedouble;
        cr_expect(d == c || (isnan(d) && isnan(c)), "%s: %.17g vs cJSON %.17g", nums[i], d, c);
        cr_expect_eq(signbit(d), signbit(c), "%s", nums[i]);
        cJSON_Delete(j);
    }
}

Test(json, every_truncation_of_a_document_is_judged_like_cjson)
{
    size_t n = strlen(stats_doc);
    for (size_t cut = 0; cut <= n; cut++) {
        int rc = both(stats_doc, cut, NULL);
        cr_expect_eq(rc == 0, cut == n, "cut at %zu", cut);
    }
}

/* xorshift: a fixed seed, so a failure is reproducible. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) { return test_xorshift64(&rng); }

Test(json, random_mutations_agree_with_cjson)
{
    static const char alphabet[] = "{}[]:,\"\\ \t\n0123456789-+.eEuUabcdfnlrst\x01\x7f\xc3\xff";
    size_t n = strlen(stats_doc);
    char *buf = malloc(n + 16);
    for (int iter = 0; iter < 100000; iter++) {
        memcpy(buf, stats_doc, n);
        size_t len = n;
        int edits = 1 + (int)(next_rand() % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(next_rand() % len);
            char c = alphabet[next_rand() % (sizeof(alphabet) - 1)];
            switch (next_rand() % 3) {
            case 0: /* replace */
                buf[at] = c;
                break;
            case 1: /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
                break;
            default: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            }
        }
        both(buf, len, NULL);
    }
    free(buf);
}

/* The readers against cJSON's tree of the same text. */
Test(json, readers_match_cjson_values)
{
    size_t end;
    bool strict;
    cr_assert_eq(msd_json_check(stats_doc, strlen(stats_doc), &end, &strict), 0);
    msd_jval doc = {stats_doc, end};
    cJSON *j = cJSON_Parse(stats_doc);
    cr_assert(j);
    cr_expect(msd_json_string_is(msd_json_get(doc, "type"), "stats"));
    cr_expect(!msd_json_string_is(msd_json_get(doc, "type"), "stat"));
    cr_expect(!msd_json_string_is(msd_json_get(doc, "type"), "statss"));
    msd_jval types = msd_json_get(doc, "types");
    cr_assert_eq(msd_json_kind(types), MSD_J_ARRAY);
    const cJSON *ct = cJSON_GetObjectItem(j, "types");
    for (int i = 0; i < 2; i++) {
        char name[64];
        cr_assert(msd_json_string(msd_json_get(msd_json_at(types, (size_t)i), "name"), name, sizeof(name)));
        cr_expect_str_eq(name, cJSON_GetArrayItem(ct, i)->child->valuestring);
        double alive;
        cr_assert(msd_json_number(msd_json_get(msd_json_at(types, (size_t)i), "alive"), &alive));
        cr_expect_eq(alive, cJSON_GetObjectItem(cJSON_GetArrayItem(ct, i), "alive")->valuedouble);
    }
    cr_expect_eq(msd_json_kind(msd_json_at(types, 2)), MSD_J_NONE);
    msd_jval gc = msd_json_get(doc, "gc");
    cr_expect_eq(msd_json_kind(msd_json_get(gc, "enabled")), MSD_J_BOOL);
    cr_expect_eq(msd_json_kind(msd_json_get(gc, "note")), MSD_J_NULL);
    cr_expect_eq(msd_json_kind(msd_json_get(gc, "missing")), MSD_J_NONE);
    cr_expect_eq(msd_json_kind(msd_json_get(types, "name")), MSD_J_NONE, "not an object");
    /* Every top-level member, in order, with the key cJSON decoded. */
    msd_jiter it;
    msd_jval k, v;
    cr_assert(msd_json_iter(doc, &it));
    const cJSON *c = j->child;
    while (msd_json_next(&it, &k, &v)) {
        cr_assert(c != NULL);
        cr_expect(msd_json_string_is(k, c->string), "%s", c->string);
        c = c->next;
    }
    cr_expect(c == NULL, "as many members as cJSON's children");
    cJSON_Delete(j);
}

Test(json, keys_and_strings_decode_as_c_strings)
{
    /* cJSON's keys are C strings: "ty\u0000pe" is "ty", and "type\u0000x" is "type". The first match counts. */
    const char *t = "{\"ty\\u0000pe\":1,\"\\u0074ype\":2,\"type\\u0000x\":3,\"type\":4}";
    size_t end;
    bool strict;
    cr_assert_eq(msd_json_check(t, strlen(t), &end, &strict), 0);
    double d;
    cr_assert(msd_json_number(msd_json_get((msd_jval){t, end}, "type"), &d));
    cr_expect_eq(d, 2);
    cJSON *j = cJSON_Parse(t);
    cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "type")->valuedouble, 2);
    cr_expect_eq(msd_json_kind(msd_json_get((msd_jval){t, end}, "ty")), MSD_J_NUMBER);
    cJSON_Delete(j);
    /* Cut to the buffer, at a decoded NUL, and an invalid \u reads as U+0000 (as cJSON). */
    char buf[4];
    const char *s = "\"abcdef\"";
    cr_expect(msd_json_string((msd_jval){s, strlen(s)}, buf, sizeof(buf)));
    cr_expect_str_eq(buf, "abc");
    s = "\"ab\\uZZZZcd\"";
    cr_expect(msd_json_string((msd_jval){s, strlen(s)}, buf, sizeof(buf)));
    cr_expect_str_eq(buf, "ab");
    cr_expect(!msd_json_string((msd_jval){"12", 2}, buf, sizeof(buf)), "not a string");
    cr_expect_str_eq(buf, "");
}

/* The stats path of msd_msg_parse (no cJSON tree) keeps the errors the cJSON path had. */
static int parse(const char *s, msd_msg *m, char *err)
{
    return msd_msg_parse((const uint8_t *)s, strlen(s), m, err, 160);
}

Test(json, stats_messages_keep_their_errors)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"{\"type\":\"stats\",\"heap\":[]}", "stats: \"heap\" must be an object"},
        {"{\"type\":\"stats\",\"pools\":{}}", "stats: \"pools\" must be an array"},
        {"{\"type\":\"stats\",\"pools\":[1]}", "stats: \"pools\" must hold objects"},
        {"{\"type\":\"stats\",\"types\":[{\"alive\":1}]}", "stats: every entry of \"types\" needs a string \"name\""},
        {"{\"type\":\"stats\",\"types\":[{\"name\":1}]}", "stats: every entry of \"types\" needs a string \"name\""},
        {"{\"type\":\"stats\",\"gc\":{\"generations\":{}}}", "stats: \"gc.generations\" must be an array"},
        {"{\"type\":\"stats\",\"trace\":1}", "stats: \"trace\" must be an object"},
        {"{\"type\":\"stats\",\"heap\":{},\"heap\":[]}", NULL}, /* the first member counts */
        {"{\"type\":\"stats\",\"heap\":[], \"pools\":{}}", "stats: \"heap\" must be an object"},
        {"{\"type\":\"stats\"", "payload is not valid JSON"},
        {"{\"type\":\"stats\"} x", "trailing bytes after the JSON value"},
        {"[{\"type\":\"stats\"}]", "payload is not a JSON object"},
        {"{\"type\":[\"stats\"]}", "message without a string \"type\""},
        {"{\"type\":\"stats\",\"types\":[{\"name\":\"\\ud800\"}]}", "payload is not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msd_msg m;
        char err[160];
        int rc = parse(cases[i].text, &m, err);
        if (!cases[i].error) {
            cr_expect_eq(rc, 0, "%s: %s", cases[i].text, err);
            msd_msg_free(&m);
            continue;
        }
        cr_expect_eq(rc, -EPROTO, "%s", cases[i].text);
        cr_expect_str_eq(err, cases[i].error, "%s", cases[i].text);
    }
    /* "st\u0061ts" is "stats" to cJSON, so it is a stats message; the type is read as a C string. */
    msd_msg m;
    char err[160];
    cr_assert_eq(parse("{\"type\":\"st\\u0061ts\",\"heap\":{\"pool_bytes_in_use\":7}}", &m, err), 0);
    cr_expect_eq(m.type, MSD_MSG_STATS);
    cr_expect(m.json == NULL, "no tree for stats");
    msd_sample s;
    msd_sample_from_stats(&m, &s);
    cr_expect_eq(s.pool_bytes, 7);
    msd_msg_free(&m);
    cr_assert_eq(parse("{\"type\":\"stats\\u0000junk\",\"heap\":[]}", &m, err), -EPROTO);
    cr_expect_str_eq(err, "stats: \"heap\" must be an object");
}

Test(json, sample_ignores_non_finite_and_non_numbers)
{
    msd_msg m;
    char err[160];
    cr_assert_eq(parse("{\"type\":\"stats\",\"heap\":{\"pool_bytes_in_use\":1e999,\"system_bytes_in_use\":\"5\"},"
                       "\"refcount\":{\"objects_alive\":-3},\"gc\":{\"generations\":[{\"collections\":1},"
                       "[{\"collections\":2}],{\"collections\":3.5}],\"garbage\":true}}",
                       &m, err),
              0, "%s", err);
    msd_sample s;
    msd_sample_from_stats(&m, &s);
    cr_expect_eq(s.pool_bytes, 0, "inf reads as 0");
    cr_expect_eq(s.system_bytes, 0, "a string reads as 0");
    cr_expect_eq(s.objects_alive, -3);
    cr_expect_eq(s.collections[0], 1);
    cr_expect_eq(s.collections[1], 0, "an array element that is not an object");
    cr_expect_eq(s.collections[2], 3.5);
    cr_expect_eq(s.garbage, 0);
    msd_msg_free(&m);
}

/* ---- The registry's document and the history, from messages read in place ------------------------------- */

#include "registry.h"

static msd_app *hello_app(msd_registry *reg)
{
    msd_msg m;
    char err[160];
    cr_assert_eq(parse("{\"type\":\"hello\",\"protocol\":1,\"pid\":42,\"app\":\"a\\\"pp\"}", &m, err), 0, "%s", err);
    msd_app *app = msd_registry_add(reg, &m);
    msd_msg_free(&m);
    cr_assert(app);
    return app;
}

static const char *store(msd_registry *reg, msd_app *app, const char *stats)
{
    msd_msg m;
    char err[160];
    cr_assert_eq(parse(stats, &m, err), 0, "%s: %s", stats, err);
    cr_assert_eq(msd_registry_stats(reg, app, &m, 100.0, 1732500000.1234), 0);
    msd_msg_free(&m);
    return app->latest->data;
}

Test(json, strict_messages_are_served_byte_for_byte)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    const char *doc = store(reg, app, "{\"type\":\"stats\", \"id\":9,\"pid\":9,\"name\":\"x\",\"time\":1,"
                                      "\"heap\" : {\"a\": 1.50e3}, \"x\":[ \"\\u00e9\" ]}");
    cr_expect_str_eq(doc, "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":1732500000.123,"
                          "\"heap\" : {\"a\": 1.50e3},\"x\":[ \"\\u00e9\" ]}");
    cr_expect_eq(strlen(doc), app->latest->len);
    /* More members than msd_msg notes: the registry walks the text itself, with the same result. */
    char big[4096], want[4096];
    char *b = big + sprintf(big, "{\"type\":\"stats\""), *w = want + sprintf(want, "{\"id\":1,\"pid\":42,"
                                                                                     "\"name\":\"a\\\"pp\",\"time\":1732500000.123");
    for (int i = 0; i < MSD_MSG_MEMBERS + 10; i++) {
        b += sprintf(b, ",\"m%d\":[%d]", i, i);
        w += sprintf(w, ",\"m%d\":[%d]", i, i);
    }
    sprintf(b, "}");
    sprintf(w, "}");
    cr_expect_str_eq(store(reg, app, big), want);
    msd_registry_free(reg);
}

Test(json, lenient_messages_are_reprinted_as_valid_json)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    const char *doc = store(reg, app, "{\"type\":\"stats\",\"heap\":{\"a\":01,\"b\":1.},\"s\":\"tab\there\"}");
    cr_expect_str_eq(doc, "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":1732500000.123,"
                          "\"heap\":{\"a\":1,\"b\":1},\"s\":\"tab\\there\"}");
    size_t end;
    bool strict;
    cr_expect_eq(msd_json_check(doc, strlen(doc), &end, &strict), 0);
    cr_expect(strict, "what is served is strict JSON");
    msd_registry_free(reg);
}

Test(json, history_reads_every_type_beyond_the_noted_ones)
{
    size_t ntypes = MSD_MSG_TYPES + 50;
    char *text = malloc(64 * ntypes + 64), *w = text;
    w += sprintf(w, "{\"type\":\"stats\",\"types\":[");
    for (size_t i = 0; i < ntypes; i++)
        w += sprintf(w, "%s{\"bytes\":1,\"alive\":%zu,\"name\":\"T%zu\",\"name\":7}", i ? "," : "", i * 2, i);
    sprintf(w, "]}");
    msd_msg m;
    char err[160];
    cr_assert_eq(parse(text, &m, err), 0, "%s", err);
    cr_expect_eq(m.ntypes_noted, MSD_MSG_TYPES);
    msd_history h;
    msd_history_init(&h, 900);
    msd_sample s = {.t = 1};
    cr_assert_eq(msd_history_add(&h, &s, &m), 0);
    cr_expect_eq(h.ntypes, ntypes);
    cr_expect_eq(h.now.n, ntypes);
    cr_expect_str_eq(h.type_names[ntypes - 1], "T177");
    cr_expect_eq(h.now.alive[ntypes - 1], 2.0 * (double)(ntypes - 1));
    msd_history_free(&h);
    msd_msg_free(&m);
    free(text);
}

/* The document's "time" is formatted without printf: it must read exactly as "%.3f" did, ties included. */
Test(json, document_time_reads_as_printf_did)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    double walls[20000];
    size_t n = 0;
    static const double fixed[] = {1732500000.0625, 1732500000.0635, 1732500000.9995, 1732500000.9994999,
                                   1732500000.99951, 1732500000.5, 1732500000.0, 1048576.0005, 1048576.0015,
                                   4503599627370495.5, 1.5, 0.0004, 123.4565};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        walls[n++] = fixed[i];
    while (n < sizeof(walls) / sizeof(walls[0]))
        walls[n++] = 1.7e9 + (double)(next_rand() % 100000000000ull) / 1048576.0;
    for (size_t i = 0; i < n; i++) {
        msd_msg m;
        char err[160];
        cr_assert_eq(parse("{\"type\":\"stats\"}", &m, err), 0);
        cr_assert_eq(msd_registry_stats(reg, app, &m, 100.0, walls[i]), 0);
        msd_msg_free(&m);
        char want[128];
        snprintf(want, sizeof(want), "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":%.3f}", walls[i]);
        cr_assert_str_eq(app->latest->data, want, "wall %.17g", walls[i]);
    }
    msd_registry_free(reg);
}
