/*
 * wsgi_hmac.c: SHA-256 and HMAC-SHA-256; see wsgi_hmac.h.
 *
 * Written from FIPS 180-4 (section 6.2 for the hash, 4.2.2 and 5.3.3 for
 * the constants) and RFC 2104 (HMAC). One MAC per daemon-mode request
 * over its environ, a kilobyte or two, on each side: in C about 5 us each
 * (bench/: 4 % of all CPU of a hello request at concurrency 1), so where
 * the CPU has the SHA extensions (x86-64: SHA-NI) the block function uses
 * them, from the instructions' definitions in Intel's Software
 * Developer's Manual (SHA256RNDS2, SHA256MSG1, SHA256MSG2).
 */

#include "wsgi_hmac.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WSGI_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t wsgi_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define WSGI_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static uint32_t wsgi_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* FIPS 180-4 6.2.2: one 512-bit block into the state. */
static void wsgi_sha256_block(uint32_t h[8], const unsigned char *blk)
{
    uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = wsgi_be32(blk + 4 * i);
    for (i = 16; i < 64; i++) {
        uint32_t s0 = WSGI_ROTR(w[i - 15], 7) ^ WSGI_ROTR(w[i - 15], 18) ^
                      (w[i - 15] >> 3);
        uint32_t s1 = WSGI_ROTR(w[i - 2], 17) ^ WSGI_ROTR(w[i - 2], 19) ^
                      (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];
    f = h[5];
    g = h[6];
    hh = h[7];
    for (i = 0; i < 64; i++) {
        t1 = hh + (WSGI_ROTR(e, 6) ^ WSGI_ROTR(e, 11) ^ WSGI_ROTR(e, 25)) +
             ((e & f) ^ (~e & g)) + wsgi_sha256_k[i] + w[i];
        t2 = (WSGI_ROTR(a, 2) ^ WSGI_ROTR(a, 13) ^ WSGI_ROTR(a, 22)) +
             ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

#ifdef WSGI_SHA_NI
/*
 * The same block with the SHA instructions. The state is kept as two
 * vectors, {A,B,E,F} and {C,D,G,H} (highest dword first), the layout
 * SHA256RNDS2 works on: it does two rounds with the two message-plus-
 * constant words in the low half of its third operand, taking {C,D,G,H}
 * and {A,B,E,F} and giving the new {A,B,E,F}; after two rounds the new
 * {C,D,G,H} is the old {A,B,E,F}. The schedule is four words a vector:
 * W[i..i+3] = MSG2(MSG1(W[i-16..], W[i-12..]) + W[i-7..i-4], W[i-4..]).
 */
__attribute__((target("sha,sse4.1"))) static void
wsgi_sha256_block_ni(uint32_t h[8], const unsigned char *blk)
{
    /* The block's words are big-endian: bytes reversed in each dword. */
    const __m128i swap =
        _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i abef, cdgh, abef0, cdgh0, m[4], wk, next;
    int i;

    abef = _mm_set_epi32((int)h[0], (int)h[1], (int)h[4], (int)h[5]);
    cdgh = _mm_set_epi32((int)h[2], (int)h[3], (int)h[6], (int)h[7]);
    abef0 = abef;
    cdgh0 = cdgh;
    for (i = 0; i < 4; i++)
        m[i] = _mm_shuffle_epi8(
            _mm_loadu_si128((const __m128i *)(blk + 16 * i)), swap);
    for (i = 0; i < 16; i++) {
        wk = _mm_add_epi32(
            m[i & 3], _mm_loadu_si128((const __m128i *)&wsgi_sha256_k[4 * i]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
        if (i < 12) {
            /* W[4i+16..4i+19] replaces W[4i..4i+3] */
            next = _mm_add_epi32(
                _mm_sha256msg1_epu32(m[i & 3], m[(i + 1) & 3]),
                _mm_alignr_epi8(m[(i + 3) & 3], m[(i + 2) & 3], 4));
            m[i & 3] = _mm_sha256msg2_epu32(next, m[(i + 3) & 3]);
        }
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
    h[0] = (uint32_t)_mm_extract_epi32(abef, 3);
    h[1] = (uint32_t)_mm_extract_epi32(abef, 2);
    h[4] = (uint32_t)_mm_extract_epi32(abef, 1);
    h[5] = (uint32_t)_mm_extract_epi32(abef, 0);
    h[2] = (uint32_t)_mm_extract_epi32(cdgh, 3);
    h[3] = (uint32_t)_mm_extract_epi32(cdgh, 2);
    h[6] = (uint32_t)_mm_extract_epi32(cdgh, 1);
    h[7] = (uint32_t)_mm_extract_epi32(cdgh, 0);
}

/* CPUID leaf 7 EBX bit 29 (SHA), leaf 1 ECX bits 9 (SSSE3), 19 (SSE4.1). */
static int wsgi_sha_ni_present(void)
{
    unsigned int a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) ||
        !(c & (1u << 19)))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & (1u << 29)) != 0;
}
#endif

/* -1 until first asked; then whether blocks go to the SHA instructions. */
static int wsgi_sha_hw = -1;

int wsgi_sha256_hw(int want)
{
    int have = 0;

#ifdef WSGI_SHA_NI
    have = wsgi_sha_ni_present();
#endif
    wsgi_sha_hw = want && have;
    return wsgi_sha_hw;
}

static void wsgi_sha256_compress(uint32_t h[8], const unsigned char *blk)
{
    /* The first hash of a process decides (several threads may; they all
     * find the same answer). */
    if (wsgi_sha_hw < 0)
        wsgi_sha256_hw(1);
#ifdef WSGI_SHA_NI
    if (wsgi_sha_hw) {
        wsgi_sha256_block_ni(h, blk);
        return;
    }
#endif
    wsgi_sha256_block(h, blk);
}

void wsgi_sha256_init(wsgi_sha256_ctx *c)
{
    /* FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the
     * square roots of the first 8 primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};

    memcpy(c->h, h0, sizeof(h0));
    c->total = 0;
    c->used = 0;
}

void wsgi_sha256_update(wsgi_sha256_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;

    c->total += len;
    if (c->used > 0) {
        size_t take = WSGI_SHA256_BLOCK - c->used;

        if (take > len)
            take = len;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < WSGI_SHA256_BLOCK)
            return;
        wsgi_sha256_compress(c->h, c->block);
        c->used = 0;
    }
    while (len >= WSGI_SHA256_BLOCK) {
        wsgi_sha256_compress(c->h, p);
        p += WSGI_SHA256_BLOCK;
        len -= WSGI_SHA256_BLOCK;
    }
    if (len > 0) {
        memcpy(c->block, p, len);
        c->used = len;
    }
}

void wsgi_sha256_final(wsgi_sha256_ctx *c, unsigned char out[WSGI_SHA256_SIZE])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros, then the length in bits as a
     * 64-bit big-endian number ending a block. */
    uint64_t bits = c->total * 8;
    unsigned char pad[WSGI_SHA256_BLOCK + 8];
    size_t n = (c->used < 56 ? 56 : 120) - c->used;
    int i;

    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    for (i = 0; i < 8; i++)
        pad[n + i] = (unsigned char)(bits >> (56 - 8 * i));
    wsgi_sha256_update(c, pad, n + 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
    wsgi_hmac_wipe(c, sizeof(*c));
}

void wsgi_hmac_sha256(const unsigned char *key, size_t key_len,
                      const wsgi_hmac_part *parts, int nparts,
                      unsigned char out[WSGI_SHA256_SIZE])
{
    unsigned char k[WSGI_SHA256_BLOCK], pad[WSGI_SHA256_BLOCK];
    unsigned char inner[WSGI_SHA256_SIZE];
    wsgi_sha256_ctx c;
    int i;

    /* RFC 2104 section 2: a key longer than the block is hashed first;
     * a shorter one is padded with zeros to the block size. */
    memset(k, 0, sizeof(k));
    if (key_len > WSGI_SHA256_BLOCK) {
        wsgi_sha256_init(&c);
        wsgi_sha256_update(&c, key, key_len);
        wsgi_sha256_final(&c, k);
    }
    else if (key_len > 0)
        memcpy(k, key, key_len);

    /* H(K ^ ipad, text) */
    for (i = 0; i < WSGI_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    wsgi_sha256_init(&c);
    wsgi_sha256_update(&c, pad, sizeof(pad));
    for (i = 0; i < nparts; i++)
        wsgi_sha256_update(&c, parts[i].data, parts[i].len);
    wsgi_sha256_final(&c, inner);

    /* H(K ^ opad, inner) */
    for (i = 0; i < WSGI_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    wsgi_sha256_init(&c);
    wsgi_sha256_update(&c, pad, sizeof(pad));
    wsgi_sha256_update(&c, inner, sizeof(inner));
    wsgi_sha256_final(&c, out);

    wsgi_hmac_wipe(k, sizeof(k));
    wsgi_hmac_wipe(pad, sizeof(pad));
    wsgi_hmac_wipe(inner, sizeof(inner));
}

int wsgi_hmac_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

void wsgi_hmac_wipe(void *p, size_t n)
{
    /* Stores through a volatile pointer must all happen. */
    volatile unsigned char *v = p;

    while (n-- > 0)
        *v++ = 0;
}
