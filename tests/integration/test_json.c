/*
 * tests/integration/test_json.c — daemon/json.c (strict JSON without a tree), the one-pass reading of stats
 * messages into the typed model (daemon/message.c), and the document the API serves from it (daemon/appdoc.c).
 *
 * Strict JSON is a subset of what cJSON accepts, so the differential tests are one-sided: whatever the scanner
 * accepts cJSON accepts, ending at the same byte, and whatever cJSON refuses the scanner refuses. Where cJSON
 * is lenient (the leniencies the daemon accepted until issue 14) the scanner must refuse, with a reason. The
 * model's values are checked against cJSON's tree of the same text. Suite "integration" because it links the
 * daemon's code (msd_core), which the unit suite (libmemscope only) does not.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../xorshift.h"
#include "appdoc.h"
#include "json.h"
#include "jsonstr.h"
#include "message.h"
#include "scratch_model.h"
#include "registry.h"

/* Checks text[0..len) with both readers; fails the test when the scanner accepts what cJSON refuses or ends
 * elsewhere. Returns the scanner's verdict; *spaced as msd_json_check() says. */
static int both(const char *text, size_t len, bool *spaced)
{
    size_t end = 0;
    msd_json_error err = {0};
    bool sp = false;
    int rc = msd_json_check(text, len, &end, &sp, &err);
    const char *cend = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &cend, 0);
    if (rc == 0) {
        cr_assert(j != NULL, "the scanner accepts what cJSON refuses: \"%.*s\"", (int)(len > 200 ? 200 : len), text);
        cr_assert_eq(end, (size_t)(cend - text), "end %zu, cJSON's %zu: \"%.*s\"", end, (size_t)(cend - text),
                     (int)(len > 200 ? 200 : len), text);
    } else {
        cr_assert(err.reason != NULL && err.at <= len, "a refusal says why and where");
    }
    cJSON_Delete(j);
    if (spaced)
        *spaced = sp;
    return rc;
}

static int both_s(const char *text, bool *spaced)
{
    return both(text, strlen(text), spaced);
}

/* The reason msd_json_check() gives for text, or NULL when it accepts it. */
static const char *reason(const char *text)
{
    msd_json_error err = {0};
    size_t end;
    if (msd_json_check(text, strlen(text), &end, NULL, &err) == 0)
        return NULL;
    return err.reason;
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

Test(json, accepts_valid_documents)
{
    static const char *valid[] = {
        "{}", "[]", "0", "-0", "1.5", "-1.25e-7", "1E+300", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "true",
        "false", "null", "[1,[2,[3,{}]],{\"a\":[]}]", "{\"a\":1,\"a\":2}", "{\"\":0}",
        "\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"", "[\"\\u0000\"]", "\xEF\xBB\xBF{\"bom\":1}",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", /* UTF-8 of 2, 3 and 4 bytes */
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        bool spaced = true;
        cr_expect_eq(both_s(valid[i], &spaced), 0, "%s: %s", valid[i], reason(valid[i]));
        cr_expect(!spaced, "%s", valid[i]);
    }
    bool spaced;
    cr_expect_eq(both_s(" \t\r\n{ \"a\" : 1 , \"b\" : [ 1 , 2 ] } ", &spaced), 0);
    cr_expect(spaced, "whitespace between tokens is noted");
    cr_expect_eq(both_s(stats_doc, &spaced), 0);
    cr_expect(!spaced);
}

Test(json, refuses_each_kind_of_malformed_input)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[", "]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}",
        "[1,]", "[,1]", "[1 2]", "{\"a\":1 \"b\":2}", "{,}", "nul", "tru", "fals", "True", "NULL", "nan", "inf",
        "-inf", "+1", ".5", "-", "--1", "-+1", "0x10", "[0x10]", "[1e]", "[1e+]", "[1.2.3]", "[--1]", "\"abc",
        "\"abc\\\"", "\"\\x41\"", "\"\\u12\"", "\"\\u123\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\ud800x\\udc00\"", "\"\\ud83d\\u12\"", "\"\\", "{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "[{]}", "{\"a\"::1}",
        "\"\\'\"", "[1,,2]", "{\"a\":1}}", "[truex]", "[nullnull]", "\xff{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t end = 0;
        int rc = msd_json_check(bad[i], strlen(bad[i]), &end, NULL, NULL);
        both_s(bad[i], NULL);
        /* A value with something after it is "accepted" up to end: the caller refuses the trailing bytes. */
        cr_expect(rc == -EPROTO || end < strlen(bad[i]), "refused or ends early: %s", bad[i]);
    }
}

/* Issue 14: the daemon used to accept what Debian's cJSON 1.7.15 accepts. A message that needs any of these is
 * now a protocol error, and the log says which rule it broke. */
Test(json, cjson_leniencies_are_refused_with_a_reason)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"[01]", "leading zero"},       {"[-01]", "leading zero"},       {"[00.5]", "leading zero"},
        {"[1.]", "decimal point"},      {"[1.e5]", "decimal point"},     {"[-.5]", "follow '-'"},
        {"\"tab\there\"", "control"},   {"\"nl\nhere\"", "control"},     {"[\"\x1f\"]", "control"},
        {"\"\\uZZZZ\"", "hex digits"},  {"\"\\u12G4\"", "hex digits"},   {"\"\\uabc\\\\\"", "hex digits"},
        {"{\"a\":1\x0b}", "after an object member"},                     {"[\x01 1]", "value was expected"},
        {"\"\xff\"", "UTF-8"}, {"\"\xc3\"", "UTF-8"}, {"\"\xed\xa0\x80\"", "UTF-8"}, /* an encoded surrogate */
        {"\"\xf8\x88\x80\x80\x80\"", "UTF-8"}, {"{\"\xc0\xaf\":1}", "UTF-8"},           /* overlong '/' */
        {"\"\xf4\x90\x80\x80\"", "UTF-8"},                                               /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = reason(cases[i].text);
        cr_expect_not_null(why, "refused: %s", cases[i].text);
        if (why)
            cr_expect(strstr(why, cases[i].why) != NULL, "%s: \"%s\" says %s", cases[i].text, why, cases[i].why);
        both_s(cases[i].text, NULL);
    }
    /* The offset points at the offending byte. */
    msd_json_error err;
    size_t end;
    cr_assert_eq(msd_json_check("{\"a\":[1,2,03]}", 14, &end, NULL, &err), -EPROTO);
    cr_expect_eq(err.at, 11, "the '3' after the leading zero: %zu", err.at);
}

static char *nested(size_t depth, char open, char close)
{
    char *s = malloc(2 * depth + 1);
    memset(s, open, depth);
    memset(s + depth, close, depth);
    s[2 * depth] = '\0';
    return s;
}

Test(json, nesting_is_limited)
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

Test(json, numbers_read_as_strtod_whatever_their_length)
{
    static const size_t lengths[] = {1, 15, 16, 62, 63, 64, 65, 300, 400, 5000};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t digits = lengths[i];
        char *buf = malloc(digits + 3);
        memset(buf + 1, '7', digits);
        buf[0] = '[';
        buf[digits + 1] = ']';
        buf[digits + 2] = '\0';
        cr_expect_eq(both_s(buf, NULL), 0, "%zu digits", digits);
        cJSON *j = cJSON_Parse(buf);
        double d = msd_json_number((msd_jval){buf + 1, digits});
        cr_expect(d == j->child->valuedouble, "%zu digits: %g vs %g", digits, d, j->child->valuedouble);
        cJSON_Delete(j);
        free(buf);
    }
    static const char *nums[] = {"[1e999]", "[-1e999]", "[1e-999]", "[123456789012345678901234567890]",
                                 "[0.1]", "[9007199254740993]", "[-0.0]", "[4.9e-324]", "[1.7976931348623157e308]",
                                 "[1e+5]", "[1E-5]"};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        cr_assert_eq(both_s(nums[i], NULL), 0, "%s", nums[i]);
        cJSON *j = cJSON_Parse(nums[i]);
        double d = msd_json_number((msd_jval){nums[i] + 1, strlen(nums[i]) - 2}), c = j->child->valuedouble;
        cr_expect(d == c || (isnan(d) && isnan(c)), "%s: %.17g vs cJSON %.17g", nums[i], d, c);
        cr_expect_eq(signbit(d), signbit(c), "%s", nums[i]);
        cJSON_Delete(j);
    }
}

Test(json, every_truncation_of_a_document_is_refused)
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

Test(json, random_mutations_never_pass_what_cjson_refuses)
{
    static const char alphabet[] = "{}[]:,\"\\ \t\n0123456789-+.eEuUabcdfnlrst\x01\x7f\xc3\xff";
    size_t n = strlen(stats_doc);
    char *buf = malloc(n + 16);
    size_t accepted = 0;
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
        accepted += both(buf, len, NULL) == 0;
    }
    cr_expect(accepted > 1000 && accepted < 99000, "the mutations reach both verdicts: %zu accepted", accepted);
    free(buf);
}

/* The pull parser walks the document as cJSON's tree has it: every member in order, values read alike. */
Test(json, pull_parser_reads_what_cjson_reads)
{
    cJSON *j = cJSON_Parse(stats_doc);
    cr_assert(j);
    msd_jp jp;
    msd_jval key, tok;
    msd_jp_init(&jp, stats_doc, strlen(stats_doc));
    cr_assert(msd_jp_object(&jp));
    const cJSON *c = j->child;
    while (msd_jp_member(&jp, &key)) {
        cr_assert(c != NULL);
        cr_expect(msd_json_string_is(key, c->string), "%s", c->string);
        double d;
        if (cJSON_IsNumber(c)) {
            cr_assert(msd_jp_number(&jp, &d, false));
            cr_expect_eq(d, c->valuedouble, "%s", c->string);
        } else if (cJSON_IsString(c)) {
            cr_assert(msd_jp_string(&jp, &tok));
            char buf[64];
            msd_json_string(tok, buf, sizeof(buf));
            cr_expect_str_eq(buf, c->valuestring);
        } else {
            cr_expect(!msd_jp_number(&jp, &d, true), "%s is not a number", c->string);
            msd_jval span;
            cr_assert(msd_jp_skip(&jp, &span));
            cr_expect(span.p[0] == '{' || span.p[0] == '[');
        }
        c = c->next;
    }
    cr_expect(c == NULL, "as many members as cJSON's children");
    cr_expect(msd_jp_finish(&jp));
    cr_expect_null(jp.err.reason);
    cJSON_Delete(j);
    /* After an error every call fails, and the first error stays. */
    msd_jp_init(&jp, "{\"a\":01,\"b\":x}", 14);
    cr_assert(msd_jp_object(&jp));
    cr_assert(msd_jp_member(&jp, &key));
    double d;
    cr_expect(!msd_jp_number(&jp, &d, false));
    cr_expect(!msd_jp_member(&jp, &key));
    cr_expect(strstr(jp.err.reason, "leading zero") != NULL, "%s", jp.err.reason);
}

/* The pull parser's number reader against strtod and the validator: every length of integer part (the fast path
 * reads 8 digits at a time, 16 bytes at most), with and without a sign, leading zero, fraction or exponent,
 * followed by another byte or by the end of the text within a few bytes (where the fast path may not read). */
Test(json, pull_parser_numbers_read_as_strtod)
{
    static const char *tails[] = {"", ".5", "e3", "E-2", ".25e+1", ".", "e", "x"};
    static const char *leads[] = {"", "-", "0", "-0", "00", "-00"};
    char text[96], num[64];
    size_t checked = 0;
    for (size_t l = 0; l < sizeof(leads) / sizeof(leads[0]); l++)
        for (int digits = 0; digits <= 20; digits++)
            for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++)
                for (int pad = 0; pad <= 17; pad++) {
                    int n = snprintf(num, sizeof(num), "%s", leads[l]);
                    for (int k = 0; k < digits; k++)
                        num[n++] = (char)('1' + (k * 7 + digits) % 9);
                    n += snprintf(num + n, sizeof(num) - (size_t)n, "%s", tails[t]);
                    if (n == 0)
                        continue; /* "[]": no element */
                    int len = snprintf(text, sizeof(text), "[%s%*s]", num, pad, "");
                    bool valid = msd_json_check(text, (size_t)len, NULL, NULL, NULL) == 0;
                    msd_jp jp;
                    double d = -1;
                    msd_jp_init(&jp, text, (size_t)len);
                    cr_assert(msd_jp_array(&jp) && msd_jp_element(&jp));
                    bool read = msd_jp_number(&jp, &d, false);
                    if (!valid) {
                        /* the validator refuses the text: the number itself, or the stray byte after it */
                        if (read)
                            cr_expect(!msd_jp_element(&jp) && jp.err.reason, "%s: refused after it", text);
                        continue;
                    }
                    cr_assert(read, "%s", text);
                    cr_expect_eq(msd_jp_offset(&jp), 1 + strlen(num), "%s: the cursor after the number", text);
                    double want = strtod(num, NULL);
                    cr_expect(d == want && signbit(d) == signbit(want), "%s: %.17g, strtod %.17g", text, d, want);
                    checked++;
                }
    cr_expect_gt(checked, 1000, "valid numbers were checked: %zu", checked);
}

/* A guessed member name matches only the whole name as sent; a wrong guess (a prefix, a longer name, an escaped
 * spelling of it) falls back to the scan and reads the member all the same. */
Test(json, guessed_member_names_match_only_the_whole_name)
{
    static const struct {
        const char *text, *guess;
        bool guessed;
        const char *key; /* the key token read */
    } cases[] = {
        {"{\"abc\":1}", "abc", true, "\"abc\""},
        {"{\"abc\":1}", "ab", false, "\"abc\""},
        {"{\"ab\":1}", "abc", false, "\"ab\""},
        {"{\"\\u0061bc\":1}", "abc", false, "\"\\u0061bc\""},
        {"{ \"abc\" : 1 }", "abc", true, "\"abc\""},
        {"{\"abcdefghijklmnopqrstuvwxyz0123\":1}", "abcdefghijklmnopqrstuvwxyz0123", true,
         "\"abcdefghijklmnopqrstuvwxyz0123\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msd_jp jp;
        msd_jval key;
        double d;
        msd_jp_init(&jp, cases[i].text, strlen(cases[i].text));
        cr_assert(msd_jp_object(&jp));
        cr_assert(msd_jp_member_guess(&jp, cases[i].guess, strlen(cases[i].guess), &key), "%s", cases[i].text);
        cr_expect_eq(jp.guessed, cases[i].guessed, "%s guessing %s", cases[i].text, cases[i].guess);
        cr_expect(key.n == strlen(cases[i].key) && memcmp(key.p, cases[i].key, key.n) == 0, "%s", cases[i].text);
        cr_expect(msd_jp_number(&jp, &d, false) && d == 1);
        cr_expect(!msd_jp_member_guess(&jp, cases[i].guess, strlen(cases[i].guess), &key) && !jp.guessed);
        cr_expect(msd_jp_finish(&jp) && !jp.err.reason, "%s", cases[i].text);
    }
    /* Cut anywhere, a member is refused, never read past the text's end (ASan watches the reads). */
    const char *full = "{\"abc\":1}";
    for (size_t cut = 1; cut < strlen(full); cut++) {
        char *t = malloc(cut);
        memcpy(t, full, cut);
        msd_jp jp;
        msd_jval key;
        double d;
        msd_jp_init(&jp, t, cut);
        cr_assert(msd_jp_object(&jp));
        bool ok = msd_jp_member_guess(&jp, "abc", 3, &key) && (msd_jp_number(&jp, &d, false) || msd_jp_skip(&jp, NULL)) &&
                  !msd_jp_member_guess(&jp, "abc", 3, &key) && msd_jp_finish(&jp);
        cr_expect(!ok && jp.err.reason, "cut at %zu is refused", cut);
        free(t);
    }
}

Test(json, strings_decode_as_c_strings)
{
    char buf[8];
    const char *s = "\"abcdefghij\"";
    cr_expect_eq(msd_json_string((msd_jval){s, strlen(s)}, buf, sizeof(buf)), 7, "cut to the buffer");
    cr_expect_str_eq(buf, "abcdefg");
    s = "\"ab\\u0000cd\"";
    msd_json_string((msd_jval){s, strlen(s)}, buf, sizeof(buf));
    cr_expect_str_eq(buf, "ab", "a \\u0000 ends the C string, as cJSON's keys");
    s = "\"\\u00e9\\u00e9\\u00e9\\u00e9\"";
    cr_expect_eq(msd_json_string((msd_jval){s, strlen(s)}, buf, sizeof(buf)), 6, "never half a UTF-8 sequence");
    cr_expect_eq(msd_json_string((msd_jval){"12", 2}, buf, sizeof(buf)), 0, "not a string");
    cr_expect_str_eq(buf, "");
    cr_expect(msd_json_string_is((msd_jval){"\"st\\u0061ts\"", 12}, "stats"));
    cr_expect(!msd_json_string_is((msd_jval){"\"stat\"", 6}, "stats"));
    cr_expect(!msd_json_string_is((msd_jval){"\"statss\"", 8}, "stats"));
    /* Quoting for the documents (common/jsonstr.h): quotes, backslashes and control bytes escaped, valid UTF-8 as
     * it is, every byte of an invalid sequence U+FFFD; the result is JSON a parser nobody here wrote reads back. */
    const char *raw = "a\"b\\\n\x01\xc3\xa9\xff\xed\xa0\x80\xe2\x82";
    const char *want = "\"a\\\"b\\\\\\u000a\\u0001\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"";
    char q[MSC_JSON_STR_MAX(16)];
    size_t n = msc_json_str(q, raw, strlen(raw));
    cr_expect_eq(n, strlen(want));
    cr_expect(memcmp(q, want, n) == 0, "%.*s", (int)n, q);
    cJSON *back = cJSON_ParseWithLength(q, n);
    cr_expect(cJSON_IsString(back) && strncmp(back->valuestring, "a\"b\\\n\x01\xc3\xa9", 7) == 0);
    cJSON_Delete(back);
    /* Streaming into a small window: whole characters only, the same bytes in the end. */
    char part[7], joined[sizeof q];
    size_t len = 0;
    const unsigned char *p = (const unsigned char *)raw, *e = p + strlen(raw);
    while (p < e) {
        size_t k = msc_json_escape(part, sizeof part, &p, e);
        cr_assert_gt(k, 0, "a window of 6 bytes always takes a character");
        memcpy(joined + len, part, k);
        len += k;
    }
    cr_expect_eq(len + 2, n);
    cr_expect(memcmp(joined, q + 1, len) == 0);
}

Test(json, compact_drops_only_the_whitespace_between_tokens)
{
    const char *spaced = "{ \"a\" : [ 1 , 2.5e3 ,\n\"x  y\\\" z\" ] ,\t\"b\" : { } }";
    msc_buf out = MSC_BUF_INIT;
    cr_assert_eq(msd_json_compact((msd_jval){spaced, strlen(spaced)}, &out), 0);
    cr_expect_eq(out.len, strlen("{\"a\":[1,2.5e3,\"x  y\\\" z\"],\"b\":{}}"));
    cr_expect(memcmp(msc_buf_bytes(&out), "{\"a\":[1,2.5e3,\"x  y\\\" z\"],\"b\":{}}", out.len) == 0, "%.*s",
              (int)out.len, msc_buf_bytes(&out));
    /* The same tree, whatever the spacing. */
    cJSON *a = cJSON_Parse(spaced), *b = cJSON_ParseWithLength(msc_buf_bytes(&out), out.len);
    cr_expect(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    msc_buf_free(&out);
}

/* ---- Stats messages into the model --------------------------------------------------------------------------- */


static int parse(const char *s, msd_msg *m, char *err)
{
    return msd_msg_parse((const uint8_t *)s, strlen(s), scratch(), m, err, 200);
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
        {"{\"pools\":{}, \"heap\":[], \"type\":\"stats\"}", "stats: \"heap\" must be an object"}, /* fixed order */
        {"{\"type\":\"stats\"} x", "trailing bytes after the JSON value"},
        {"[{\"type\":\"stats\"}]", "payload is not a JSON object"},
        {"{\"type\":[\"stats\"]}", "message without a string \"type\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msd_msg m;
        char err[200];
        int rc = parse(cases[i].text, &m, err);
        if (!cases[i].error) {
            cr_expect_eq(rc, 0, "%s: %s", cases[i].text, err);
            msd_msg_free(&m);
            continue;
        }
        cr_expect_eq(rc, -EPROTO, "%s", cases[i].text);
        cr_expect_str_eq(err, cases[i].error, "%s", cases[i].text);
    }
    /* Text that is not JSON: the reason and the byte, for the log. */
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"{\"type\":\"stats\"", "payload is not valid JSON: the text ends inside a container (byte 15)"},
        {"{\"type\":\"stats\",\"types\":[{\"name\":\"\\ud800\"}]}",
         "payload is not valid JSON: a UTF-16 high surrogate not followed by a low one (byte 34)"},
        {"{\"type\":\"stats\",\"heap\":{\"a\":01}}", "payload is not valid JSON: a leading zero in a number (byte 29)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msd_msg m;
        char err[200];
        cr_expect_eq(parse(bad[i].text, &m, err), -EPROTO, "%s", bad[i].text);
        cr_expect_str_eq(err, bad[i].error, "%s", bad[i].text);
    }
    /* "st\u0061ts" is "stats", read as a C string; so is "stats\u0000junk". */
    msd_msg m;
    char err[200];
    cr_assert_eq(parse("{\"type\":\"st\\u0061ts\",\"heap\":{\"pool_bytes_in_use\":7}}", &m, err), 0);
    cr_expect_eq(m.type, MSD_MSG_STATS);
    cr_expect(m.json == NULL, "no tree for stats");
    cr_expect_eq(m.stats->heap.pool_bytes_in_use, 7);
    msd_msg_free(&m);
    cr_assert_eq(parse("{\"type\":\"stats\\u0000junk\",\"heap\":[]}", &m, err), -EPROTO);
    cr_expect_str_eq(err, "stats: \"heap\" must be an object");
}

/* Every field the model has, against cJSON's tree of the same message; what the message lacks is NAN. */
Test(json, the_model_holds_the_message_values)
{
    msd_msg m;
    char err[200];
    cr_assert_eq(parse(stats_doc, &m, err), 0, "%s", err);
    cJSON *j = cJSON_Parse(stats_doc);
    const msd_stats *s = m.stats;
    cr_expect_eq(s->sections, MSD_SEC_HEAP | MSD_SEC_POOLS | MSD_SEC_REFCOUNT | MSD_SEC_TYPES | MSD_SEC_GC | MSD_SEC_TRACE);
    cr_expect_eq(s->seq, 3);
    cr_expect_eq(s->heap.pool_bytes_in_use, 1000003);
    cr_expect_eq(s->heap.system_bytes_in_use, 2000000);
    cr_expect(isnan(s->heap.blocks_in_use), "absent");
    cr_assert_eq(s->npools, 2);
    cr_expect_eq(s->pools[1].block_size, 32);
    cr_expect_eq(s->pools[1].blocks_in_use, 101);
    cr_expect_eq(s->refcount.objects_created, 40003);
    const cJSON *ct = cJSON_GetObjectItem(j, "types");
    cr_assert_eq(s->ntypes, (size_t)cJSON_GetArraySize(ct));
    for (size_t i = 0; i < s->ntypes; i++) {
        const cJSON *t = cJSON_GetArrayItem(ct, (int)i);
        cr_expect_str_eq(s->types[i].name, cJSON_GetObjectItem(t, "name")->valuestring);
        cr_expect_eq(s->types[i].alive, cJSON_GetObjectItem(t, "alive")->valuedouble);
        cr_expect_eq(s->types[i].bytes, cJSON_GetObjectItem(t, "bytes")->valuedouble);
    }
    cr_expect_eq(s->gc.enabled, 1);
    cr_assert_eq(s->gc.ngens, 3);
    cr_expect_eq(s->gc.gens[2].collections, 5);
    cr_expect_eq(s->gc.gens[0].threshold, 700);
    cr_expect(isnan(s->gc.gens[0].collected));
    cr_expect_eq(s->gc.pause_max_ns, 900);
    cr_expect_eq(s->trace.tracing, 0);
    cr_expect(isnan(s->trace.nframes));
    cJSON_Delete(j);
    msd_msg_free(&m);
}

Test(json, non_numbers_and_non_finite_numbers_are_absent)
{
    msd_msg m;
    char err[200];
    cr_assert_eq(parse("{\"type\":\"stats\",\"heap\":{\"pool_bytes_in_use\":1e999,\"system_bytes_in_use\":\"5\"},"
                       "\"refcount\":{\"objects_alive\":-3},\"gc\":{\"generations\":[{\"collections\":1},"
                       "[{\"collections\":2}],{\"collections\":3.5}],\"garbage\":true,\"enabled\":false}}",
                       &m, err),
              0, "%s", err);
    msd_sample s;
    msd_sample_of(m.stats, 0, &s);
    cr_expect_eq(s.pool_bytes, 0, "inf reads as 0");
    cr_expect_eq(s.system_bytes, 0, "a string reads as 0");
    cr_expect_eq(s.objects_alive, -3);
    cr_expect_eq(s.collections[0], 1);
    cr_expect_eq(s.collections[1], 0, "an array element that is not an object");
    cr_expect_eq(s.collections[2], 3.5);
    cr_expect_eq(s.garbage, 0, "a boolean is no number");
    cr_expect(isnan(m.stats->gc.garbage));
    cr_expect_eq(m.stats->gc.enabled, 0, "a boolean member");
    msd_msg_free(&m);
}

Test(json, types_beyond_any_fixed_table_reach_the_history)
{
    size_t ntypes = 700;
    char *text = malloc(64 * ntypes + 64), *w = text;
    w += sprintf(w, "{\"type\":\"stats\",\"types\":[");
    for (size_t i = 0; i < ntypes; i++)
        w += sprintf(w, "%s{\"bytes\":1,\"alive\":%zu,\"name\":\"T%zu\",\"name\":7}", i ? "," : "", i * 2, i);
    sprintf(w, "]}");
    msd_msg m;
    char err[200];
    cr_assert_eq(parse(text, &m, err), 0, "%s", err);
    cr_expect_eq(m.stats->ntypes, ntypes);
    cr_expect_str_eq(m.stats->types[ntypes - 1].name, "T699", "the first name counts");
    msd_history h;
    msd_history_init(&h, 900);
    cr_assert_eq(msd_history_add(&h, 1, m.stats), 0);
    cr_expect_eq(h.ntypes, MSD_TYPES_MAX, "the growth analysis keeps at most MSD_TYPES_MAX names");
    cr_expect_str_eq(msd_history_type_name(&h, MSD_TYPES_MAX - 1), "T511");
    cr_expect_eq(h.now.alive[MSD_TYPES_MAX - 1], 2.0 * (MSD_TYPES_MAX - 1));
    msd_history_free(&h);
    msd_msg_free(&m);
    free(text);
}

/* ---- The document served from the model ------------------------------------------------------------------- */

static msd_app *hello_app(msd_registry *reg)
{
    msd_msg m;
    char err[200];
    cr_assert_eq(parse("{\"type\":\"hello\",\"protocol\":1,\"pid\":42,\"app\":\"a\\\"pp\"}", &m, err), 0, "%s", err);
    msd_app *app = msd_registry_add(reg, &m);
    msd_msg_free(&m);
    cr_assert(app);
    return app;
}

/* Stores a stats message as ipc.c does, and returns the app's document (valid until the next call). */
static const char *store_at(msd_registry *reg, msd_app *app, const char *stats, double wall)
{
    static msd_blob *doc;
    msd_msg m;
    char err[200];
    cr_assert_eq(parse(stats, &m, err), 0, "%s: %s", stats, err);
    cr_assert_eq(msd_registry_stats(reg, app, scratch_slot(), 100.0, wall), 0);
    msd_msg_free(&m);
    msd_blob_unref(doc);
    doc = msd_appdoc_latest(app);
    cr_assert(doc);
    cr_assert_eq(strlen(doc->data), doc->len);
    return doc->data;
}

static const char *store(msd_registry *reg, msd_app *app, const char *stats)
{
    return store_at(reg, app, stats, 1732500000.1234);
}

Test(json, documents_hold_the_members_as_sent)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    cr_expect_null(msd_appdoc_latest(app), "no document before the first stats");
    const char *doc = store(reg, app, "{\"type\":\"stats\",\"id\":9,\"pid\":9,\"name\":\"x\",\"time\":1,"
                                      "\"heap\":{\"a\":1.50e3},\"x\":[\"\\u00e9\"]}");
    cr_expect_str_eq(doc, "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":1732500000.123,"
                          "\"heap\":{\"a\":1.50e3},\"x\":[\"\\u00e9\"]}");
    /* More members than the parser notes on its way: the body is built from a second walk, with the same result. */
    char big[4096], want[4096];
    char *b = big + sprintf(big, "{\"type\":\"stats\""), *w = want + sprintf(want, "{\"id\":1,\"pid\":42,"
                                                                                     "\"name\":\"a\\\"pp\",\"time\":1732500000.123");
    for (int i = 0; i < 80; i++) {
        b += sprintf(b, ",\"m%d\" : [ %d ]", i, i);
        w += sprintf(w, ",\"m%d\":[%d]", i, i);
    }
    sprintf(b, "}");
    sprintf(w, "}");
    cr_expect_str_eq(store(reg, app, big), want);
    msd_registry_free(reg);
}

/* Issue 14, defect 2: an agent in another language may send indented JSON (json.dumps(indent=2)). The document
 * is compact all the same — the event stream sends it as one `data:` line — and holds the same values. */
Test(json, documents_are_compact_whatever_the_agent_sends)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    const char *indented = "{\n  \"type\": \"stats\",\n  \"heap\": {\n    \"pool_bytes_in_use\": 4096\n  },\n"
                           "  \"types\": [\n    {\n      \"name\": \"A  B\",\n      \"alive\": 2\n    }\n  ]\n}\n";
    const char *doc = store(reg, app, indented);
    cr_expect_null(strchr(doc, '\n'), "one line: %s", doc);
    cr_expect_str_eq(doc, "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":1732500000.123,"
                          "\"heap\":{\"pool_bytes_in_use\":4096},\"types\":[{\"name\":\"A  B\",\"alive\":2}]}");
    cr_expect_eq(app->stats->heap.pool_bytes_in_use, 4096);
    msd_registry_free(reg);
}

/* The document's "time" is formatted without printf: it must read exactly as "%.3f" did, ties included. */
Test(json, document_time_reads_as_printf_did)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_app *app = hello_app(reg);
    static double walls[20000];
    size_t n = 0;
    static const double fixed[] = {1732500000.0625, 1732500000.0635, 1732500000.9995, 1732500000.9994999,
                                   1732500000.99951, 1732500000.5, 1732500000.0, 1048576.0005, 1048576.0015,
                                   4503599627370495.5, 1.5, 0.0004, 123.4565};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        walls[n++] = fixed[i];
    while (n < sizeof(walls) / sizeof(walls[0]))
        walls[n++] = 1.7e9 + (double)(next_rand() % 100000000000ull) / 1048576.0;
    for (size_t i = 0; i < n; i++) {
        const char *doc = store_at(reg, app, "{\"type\":\"stats\"}", walls[i]);
        char want[128];
        snprintf(want, sizeof(want), "{\"id\":1,\"pid\":42,\"name\":\"a\\\"pp\",\"time\":%.3f}", walls[i]);
        cr_assert_str_eq(doc, want, "wall %.17g", walls[i]);
    }
    msd_registry_free(reg);
}
