/*
 * Unit tests for the daemon wire codec (wsgi_proto.c), plus a bounded
 * random-input run: decoding arbitrary bytes must never read outside the
 * buffer (this is built with ASan/UBSan) and must round-trip what was
 * encoded.
 */

#include "wsgi_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static wsgi_pair pair(const char *n, const char *v)
{
    wsgi_pair p;

    p.name = n;
    p.name_len = (uint32_t)strlen(n);
    p.value = v;
    p.value_len = (uint32_t)strlen(v);
    return p;
}

static void test_head(void)
{
    unsigned char buf[WSGI_PROTO_HEAD_SIZE];
    wsgi_frame_head h;

    wsgi_proto_put_head(buf, WSGI_FRAME_DATA, 123456);
    CHECK(wsgi_proto_get_head(buf, 8, WSGI_PROTO_MAX_PAYLOAD, &h) == 0,
          "head round trip");
    CHECK(h.type == WSGI_FRAME_DATA && h.length == 123456, "head values");
    CHECK(wsgi_proto_get_head(buf, 7, WSGI_PROTO_MAX_PAYLOAD, &h) ==
              WSGI_PROTO_SHORT,
          "short head");
    CHECK(wsgi_proto_get_head(buf, 8, 1000, &h) == WSGI_PROTO_TOO_BIG,
          "configured cap");
    wsgi_proto_put_head(buf, WSGI_FRAME_DATA, WSGI_PROTO_MAX_PAYLOAD + 1);
    CHECK(wsgi_proto_get_head(buf, 8, 0xffffffffu, &h) == WSGI_PROTO_TOO_BIG,
          "hard cap wins over a larger configured one");
    wsgi_proto_put_head(buf, 0, 1);
    CHECK(wsgi_proto_get_head(buf, 8, 100, &h) == WSGI_PROTO_BAD_TYPE,
          "type 0");
    wsgi_proto_put_head(buf, WSGI_FRAME_MAX + 1, 1);
    CHECK(wsgi_proto_get_head(buf, 8, 100, &h) == WSGI_PROTO_BAD_TYPE,
          "type past max");
    wsgi_proto_put_head(buf, WSGI_FRAME_END, 0);
    buf[0] = 'X';
    CHECK(wsgi_proto_get_head(buf, 8, 100, &h) == WSGI_PROTO_BAD_MAGIC,
          "magic");
    buf[0] = 'W';
    buf[2] = WSGI_PROTO_VERSION + 1;
    CHECK(wsgi_proto_get_head(buf, 8, 100, &h) == WSGI_PROTO_BAD_VERSION,
          "version");
}

static void test_pairs(void)
{
    wsgi_pair in[4], out[4];
    unsigned char buf[256];
    long size;
    int n = -1;

    in[0] = pair("REQUEST_METHOD", "GET");
    in[1] = pair("PATH_INFO", "/caf\xe9");
    in[2] = pair("EMPTY", "");
    in[3] = pair("", "empty name is carried too");
    size = wsgi_proto_put_pairs(buf, sizeof(buf), in, 4);
    CHECK(size == (long)wsgi_proto_pairs_size(in, 4), "size matches");
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size, out, 4, &n) == 0 && n == 4,
          "pairs round trip");
    CHECK(out[1].value_len == 5 && !memcmp(out[1].value, "/caf\xe9", 5),
          "value bytes");
    CHECK(out[2].value_len == 0 && out[3].name_len == 0, "empty strings");
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size, out, 3, &n) ==
                  WSGI_PROTO_NO_ROOM &&
              n == 0,
          "too many pairs for the array");
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size - 1, out, 4, &n) ==
              WSGI_PROTO_MALFORMED,
          "truncated payload");
    buf[size] = 0;
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size + 1, out, 4, &n) ==
              WSGI_PROTO_MALFORMED,
          "trailing byte");
    CHECK(wsgi_proto_put_pairs(buf, 10, in, 4) == WSGI_PROTO_NO_ROOM,
          "output too small");
    /* A count the payload cannot hold is refused up front. */
    buf[0] = 0x7f;
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size, out, 4, &n) ==
              WSGI_PROTO_MALFORMED,
          "absurd count");
    /* A string length pointing past the end. */
    size = wsgi_proto_put_pairs(buf, sizeof(buf), in, 1);
    buf[4] = 0xff;
    CHECK(wsgi_proto_get_pairs(buf, (size_t)size, out, 4, &n) ==
              WSGI_PROTO_MALFORMED,
          "name length past the end");
    CHECK(wsgi_proto_get_pairs(buf, 3, out, 4, &n) == WSGI_PROTO_MALFORMED,
          "no count");
    in[0].name_len = WSGI_PROTO_MAX_PAYLOAD;
    CHECK(wsgi_proto_pairs_size(in, 1) == 0, "oversized pair refused");
}

/* Random bytes, and random mutations of a valid payload: decoders must
 * stay within bounds and agree with each other. */
static void test_random(void)
{
    unsigned char buf[512], enc[512];
    wsgi_pair in[8], out[8];
    char names[8][16], values[8][32];
    unsigned int seed = 12345;
    int iter, ok = 1;

    for (iter = 0; iter < 200000 && ok; iter++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof(buf)), i;
        wsgi_frame_head h;
        int n, k, rc;
        long size;

        for (i = 0; i < len; i++)
            buf[i] = (unsigned char)rand_r(&seed);
        if (len >= 8 && (iter & 1)) {
            buf[0] = 'W';
            buf[1] = 'G';
            buf[2] = WSGI_PROTO_VERSION;
        }
        rc = wsgi_proto_get_head(buf, len, 4096, &h);
        if (rc == 0 &&
            (h.length > 4096 || h.type < 1 || h.type > WSGI_FRAME_MAX))
            ok = 0;
        rc = wsgi_proto_get_pairs(buf, len, out, 8, &n);
        if (rc == 0) {
            for (k = 0; k < n; k++) {
                if (out[k].name < (const char *)buf ||
                    out[k].value + out[k].value_len > (const char *)buf + len)
                    ok = 0;
            }
        }
        /* Round trip of random valid pairs, then one flipped byte. */
        k = rand_r(&seed) % 8;
        for (i = 0; i < (size_t)k; i++) {
            snprintf(names[i], sizeof(names[i]), "N%u", rand_r(&seed) % 1000);
            snprintf(values[i], sizeof(values[i]), "%u", rand_r(&seed));
            in[i] = pair(names[i], values[i]);
        }
        size = wsgi_proto_put_pairs(enc, sizeof(enc), in, k);
        if (size < 0 || wsgi_proto_get_pairs(enc, (size_t)size, out, 8, &n) ||
            n != k)
            ok = 0;
        for (i = 0; ok && i < (size_t)k; i++) {
            if (out[i].value_len != in[i].value_len ||
                memcmp(out[i].value, in[i].value, in[i].value_len))
                ok = 0;
        }
        if (size > 0) {
            enc[rand_r(&seed) % size] ^=
                (unsigned char)(1 + rand_r(&seed) % 255);
            (void)wsgi_proto_get_pairs(enc, (size_t)size, out, 8, &n);
        }
    }
    CHECK(ok, "random inputs stay in bounds and round-trip");
}

static void test_file(void)
{
    unsigned char buf[WSGI_PROTO_FILE_SIZE];
    uint64_t off = 0, len = 0;

    wsgi_proto_put_file(buf, 123456789012ULL, 1048576);
    CHECK(wsgi_proto_get_file(buf, sizeof(buf), &off, &len) == WSGI_PROTO_OK &&
              off == 123456789012ULL && len == 1048576,
          "file frame round trip");
    CHECK(wsgi_proto_get_file(buf, sizeof(buf) - 1, &off, &len) ==
              WSGI_PROTO_MALFORMED,
          "file frame too short");
    wsgi_proto_put_file(buf, (uint64_t)INT64_MAX, 1);
    CHECK(wsgi_proto_get_file(buf, sizeof(buf), &off, &len) ==
              WSGI_PROTO_MALFORMED,
          "file frame offset + length overflows");
    wsgi_proto_put_file(buf, (uint64_t)1 << 63, 0);
    CHECK(wsgi_proto_get_file(buf, sizeof(buf), &off, &len) ==
              WSGI_PROTO_MALFORMED,
          "file frame offset past a signed 64-bit file offset");
}

static void test_hello(void)
{
    unsigned char buf[WSGI_PROTO_HELLO_SIZE];
    uint32_t pid = 0;

    wsgi_proto_put_hello(buf, 4194304);
    CHECK(wsgi_proto_get_hello(buf, sizeof(buf), &pid) == WSGI_PROTO_OK &&
              pid == 4194304,
          "hello round trip");
    CHECK(wsgi_proto_get_hello(buf, 3, &pid) == WSGI_PROTO_MALFORMED,
          "hello too short");
    CHECK(wsgi_proto_get_hello(buf, 5, &pid) == WSGI_PROTO_MALFORMED,
          "hello too long");
    wsgi_proto_put_hello(buf, 0);
    CHECK(wsgi_proto_get_hello(buf, sizeof(buf), &pid) == WSGI_PROTO_MALFORMED,
          "pid 0");
    wsgi_proto_put_hello(buf, 0x80000000u);
    CHECK(wsgi_proto_get_hello(buf, sizeof(buf), &pid) == WSGI_PROTO_MALFORMED,
          "pid past a positive int");
}

static void test_controls(void)
{
    static const int kinds[] = {
        WSGI_CTL_STATUS,        WSGI_CTL_ERROR,           WSGI_CTL_RESTART,
        WSGI_CTL_REQUEST_START, WSGI_CTL_IGNORE_ACTIVITY, WSGI_CTL_FSPATH};
    unsigned char buf[64];
    wsgi_pair p, out[2];
    char num[21];
    uint64_t v = 1;
    long size;
    size_t i;
    int n, status = 0;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        wsgi_proto_control(&p, kinds[i], "x", 1);
        CHECK(p.name_len > 1 && p.name[0] == ':' &&
                  wsgi_proto_control_of(&p) == kinds[i] && p.value_len == 1,
              "control round trip");
    }
    p = pair("REQUEST_METHOD", "GET");
    CHECK(wsgi_proto_control_of(&p) == WSGI_CTL_NONE, "ordinary entry");
    p = pair(":status_", "x");
    CHECK(wsgi_proto_control_of(&p) == WSGI_CTL_UNKNOWN,
          "unknown control (a longer name)");
    p = pair(":statu", "x");
    CHECK(wsgi_proto_control_of(&p) == WSGI_CTL_UNKNOWN,
          "unknown control (a prefix)");
    p = pair("", "");
    CHECK(wsgi_proto_control_of(&p) == WSGI_CTL_NONE, "empty name");
    wsgi_proto_control(&p, 99, "", 0);
    CHECK(p.name_len == 0 && wsgi_proto_control_of(&p) == WSGI_CTL_NONE,
          "no such kind gives an ordinary empty name");

    CHECK(wsgi_proto_put_number(num, 0) == 1 && !strcmp(num, "0"), "0");
    CHECK(wsgi_proto_put_number(num, 18446744073709551615ULL) == 20 &&
              !strcmp(num, "18446744073709551615"),
          "largest number");
    CHECK(wsgi_proto_get_number("1733300000123456", 16, &v) == WSGI_PROTO_OK &&
              v == 1733300000123456ULL,
          "number");
    CHECK(wsgi_proto_get_number("9999999999999999999", 19, &v) ==
                  WSGI_PROTO_OK &&
              v == 9999999999999999999ULL,
          "19 digits");
    CHECK(wsgi_proto_get_number("12345678901234567890", 20, &v) ==
              WSGI_PROTO_MALFORMED,
          "20 digits");
    CHECK(wsgi_proto_get_number("", 0, &v) == WSGI_PROTO_MALFORMED,
          "empty number");
    CHECK(wsgi_proto_get_number("-1", 2, &v) == WSGI_PROTO_MALFORMED, "sign");
    CHECK(wsgi_proto_get_number("12 ", 3, &v) == WSGI_PROTO_MALFORMED,
          "trailing space");

    size = wsgi_proto_put_reply(buf, sizeof(buf), 504);
    CHECK(size > 0 &&
              wsgi_proto_get_pairs(buf, (size_t)size, out, 2, &n) ==
                  WSGI_PROTO_OK &&
              n == 1 &&
              wsgi_proto_get_error(&out[0], &status) == WSGI_PROTO_OK &&
              status == 504,
          ":error round trip");
    size = wsgi_proto_put_reply(buf, sizeof(buf), 0);
    CHECK(size > 0 &&
              wsgi_proto_get_pairs(buf, (size_t)size, out, 2, &n) ==
                  WSGI_PROTO_OK &&
              n == 1 && wsgi_proto_control_of(&out[0]) == WSGI_CTL_RESTART &&
              wsgi_proto_get_error(&out[0], &status) == WSGI_PROTO_MALFORMED,
          ":restart round trip");
    CHECK(wsgi_proto_put_reply(buf, sizeof(buf), 200) == WSGI_PROTO_MALFORMED,
          "a reply is an error status");
    CHECK(wsgi_proto_put_reply(buf, 10, 500) == WSGI_PROTO_NO_ROOM,
          "reply without room");
    p = pair(":error", "302");
    CHECK(wsgi_proto_get_error(&p, &status) == WSGI_PROTO_MALFORMED,
          ":error with a status that is no error");
    p = pair(":error", "5x0");
    CHECK(wsgi_proto_get_error(&p, &status) == WSGI_PROTO_MALFORMED,
          ":error with no number");
    p = pair(":status", "500");
    CHECK(wsgi_proto_get_error(&p, &status) == WSGI_PROTO_MALFORMED,
          "not an :error pair");
    for (n = WSGI_PROTO_NO_ROOM - 1; n <= WSGI_PROTO_OK; n++)
        CHECK(wsgi_proto_strerror(n) != NULL && *wsgi_proto_strerror(n) != '\0',
              "every status described");
}

static void test_cstrings(void)
{
    wsgi_pair in[3], out[3];
    unsigned char buf[128];
    long size;
    int n = -1;

    in[0] = pair("SCRIPT_FILENAME", "/srv/app.wsgi");
    in[1] = pair("", "");
    in[2] = pair("QUERY_STRING", "a=1");
    size = wsgi_proto_put_pairs(buf, sizeof(buf) - 1, in, 3);
    CHECK(size > 0 &&
              wsgi_proto_get_cstrings(buf, (size_t)size, out, 3, &n) ==
                  WSGI_PROTO_OK &&
              n == 3,
          "C strings decode");
    CHECK(!strcmp(out[0].name, "SCRIPT_FILENAME") &&
              !strcmp(out[0].value, "/srv/app.wsgi") &&
              !strcmp(out[1].name, "") && !strcmp(out[1].value, "") &&
              !strcmp(out[2].name, "QUERY_STRING") &&
              !strcmp(out[2].value, "a=1"),
          "every string terminated");
    in[2] = pair("QUERY_STRING", "a=1");
    in[2].value_len = 4; /* takes the NUL: "a=1\0" */
    size = wsgi_proto_put_pairs(buf, sizeof(buf) - 1, in, 3);
    CHECK(wsgi_proto_get_cstrings(buf, (size_t)size, out, 3, &n) ==
                  WSGI_PROTO_MALFORMED &&
              n == 0,
          "a NUL inside a value");
    CHECK(wsgi_proto_get_cstrings(buf, 3, out, 3, &n) == WSGI_PROTO_MALFORMED,
          "no count");
}

int main(void)
{
    test_cstrings();
    test_head();
    test_hello();
    test_controls();
    test_file();
    test_pairs();
    test_random();
    return check_summary();
}
