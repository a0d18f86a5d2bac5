/*
 * Unit tests for SHA-256 and HMAC-SHA-256 (wsgi_hmac.c) against the
 * published vectors: FIPS 180-4's examples (as given in NIST's example
 * values) and RFC 4231's HMAC test cases; plus the properties the frame
 * check relies on (pieces hash like the whole; equality is exact). All of
 * it runs in portable C and, where the CPU has them, with the SHA
 * instructions, and the two must agree on messages of every length.
 */

#include "wsgi_hmac.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha_is(const void *data, size_t len, const char *want)
{
    wsgi_sha256_ctx c;
    unsigned char d[WSGI_SHA256_SIZE];
    char h[2 * WSGI_SHA256_SIZE + 1];

    wsgi_sha256_init(&c);
    wsgi_sha256_update(&c, data, len);
    wsgi_sha256_final(&c, d);
    hex(d, sizeof(d), h);
    if (strcmp(h, want))
        printf("  got %s\n want %s\n", h, want);
    return !strcmp(h, want);
}

static int hmac_is(const void *key, size_t klen, const void *data, size_t len,
                   const char *want)
{
    wsgi_hmac_part part;
    unsigned char d[WSGI_SHA256_SIZE];
    char h[2 * WSGI_SHA256_SIZE + 1];

    part.data = data;
    part.len = len;
    wsgi_hmac_sha256(key, klen, &part, 1, d);
    hex(d, sizeof(d), h);
    if (strcmp(h, want))
        printf("  got %s\n want %s\n", h, want);
    return !strcmp(h, want);
}

static void test_sha256(void)
{
    const char *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    wsgi_sha256_ctx c;
    unsigned char d[WSGI_SHA256_SIZE], block[1001];
    char h[2 * WSGI_SHA256_SIZE + 1];
    int i;

    CHECK(sha_is("", 0,
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca"
                 "495991b7852b855"),
          "sha256 of nothing");
    CHECK(sha_is("abc", 3,
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9"
                 "cb410ff61f20015ad"),
          "sha256 abc");
    CHECK(sha_is(two, strlen(two),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45"
                 "964ff2167f6ecedd419db06c1"),
          "sha256 two-block message");
    /* A million 'a', fed in uneven pieces across block boundaries. */
    memset(block, 'a', sizeof(block));
    wsgi_sha256_init(&c);
    for (i = 0; i < 1000; i++)
        wsgi_sha256_update(&c, block, i % 2 ? 999 : 1001);
    wsgi_sha256_final(&c, d);
    hex(d, sizeof(d), h);
    CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d"
                     "39ccc7112cd0"),
          "sha256 of a million a");
    /* Every length around the padding boundary hashes the same whole as
     * in pieces. */
    for (i = 0; i < 130; i++) {
        unsigned char whole[WSGI_SHA256_SIZE], parts[WSGI_SHA256_SIZE];

        wsgi_sha256_init(&c);
        wsgi_sha256_update(&c, block, (size_t)i);
        wsgi_sha256_final(&c, whole);
        wsgi_sha256_init(&c);
        wsgi_sha256_update(&c, block, (size_t)i / 3);
        wsgi_sha256_update(&c, block, (size_t)i - (size_t)i / 3);
        wsgi_sha256_final(&c, parts);
        CHECK(!memcmp(whole, parts, sizeof(whole)), "pieces hash as whole");
    }
}

static void test_hmac(void)
{
    unsigned char key[131], a[WSGI_SHA256_SIZE], b[WSGI_SHA256_SIZE];
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    wsgi_hmac_part parts[3];

    /* RFC 4231 4.2, test case 1 */
    memset(key, 0x0b, 20);
    CHECK(hmac_is(key, 20, "Hi There", 8,
                  "b0344c61d8db38535ca8afceaf0bf12b"
                  "881dc200c9833da726e9376c2e32cff7"),
          "RFC 4231 case 1");
    /* RFC 4231 4.3, test case 2: a key shorter than the output */
    CHECK(hmac_is("Jefe", 4, "what do ya want for nothing?", 28,
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b"
                  "964ec3843"),
          "RFC 4231 case 2");
    /* RFC 4231 4.7, test case 6: a key larger than the block */
    memset(key, 0xaa, sizeof(key));
    CHECK(hmac_is(key, sizeof(key), msg, strlen(msg),
                  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040"
                  "f0ee37f54"),
          "RFC 4231 case 6");

    /* The message in three parts MACs like the whole. */
    parts[0].data = msg;
    parts[0].len = 10;
    parts[1].data = msg + 10;
    parts[1].len = 0;
    parts[2].data = msg + 10;
    parts[2].len = strlen(msg) - 10;
    wsgi_hmac_sha256(key, 32, parts, 3, a);
    parts[0].len = strlen(msg);
    wsgi_hmac_sha256(key, 32, parts, 1, b);
    CHECK(!memcmp(a, b, sizeof(a)), "parts MAC like the whole");
    CHECK(wsgi_hmac_equal(a, b, sizeof(a)), "equal tags compare equal");
    b[31] ^= 1;
    CHECK(!wsgi_hmac_equal(a, b, sizeof(a)), "last bit differs");
    b[31] ^= 1;
    b[0] ^= 0x80;
    CHECK(!wsgi_hmac_equal(a, b, sizeof(a)), "first bit differs");
    /* Another key gives another tag. */
    key[0] ^= 1;
    wsgi_hmac_sha256(key, 32, parts, 1, b);
    CHECK(memcmp(a, b, sizeof(a)) != 0, "key changes the tag");
    wsgi_hmac_wipe(key, sizeof(key));
    CHECK(key[0] == 0 && key[130] == 0, "wipe zeroes");
}

/* Portable C and the SHA instructions give the same digest for every
 * length from 0 to 300 bytes (each padding case, block boundaries) and
 * for pseudo-random content. */
static void test_same_both_ways(void)
{
    unsigned char msg[300], a[WSGI_SHA256_SIZE], b[WSGI_SHA256_SIZE];
    wsgi_sha256_ctx c;
    uint32_t x = 2463534242u;
    size_t i, n;
    int same = 1;

    for (i = 0; i < sizeof(msg); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        msg[i] = (unsigned char)x;
    }
    for (n = 0; n <= sizeof(msg); n++) {
        wsgi_sha256_hw(0);
        wsgi_sha256_init(&c);
        wsgi_sha256_update(&c, msg, n);
        wsgi_sha256_final(&c, a);
        wsgi_sha256_hw(1);
        wsgi_sha256_init(&c);
        wsgi_sha256_update(&c, msg, n);
        wsgi_sha256_final(&c, b);
        same &= !memcmp(a, b, sizeof(a));
    }
    CHECK(same, "portable and SHA-instruction digests agree");
}

int main(void)
{
    int hw = wsgi_sha256_hw(1);

    printf("SHA instructions: %s\n", hw ? "used" : "not on this CPU");
    test_sha256();
    test_hmac();
    if (hw) {
        wsgi_sha256_hw(0);
        test_sha256();
        test_hmac();
    }
    test_same_both_ways();
    return check_summary();
}
