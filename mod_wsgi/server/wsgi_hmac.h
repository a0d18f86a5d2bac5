/*
 * wsgi_hmac.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for
 * proving that a daemon-mode request frame was built by an Apache child
 * of this server generation.
 *
 * Pure C like the wire codec: no APR, no Python, no allocation, so it is
 * unit tested against the published test vectors and fuzzed alone.
 */

#ifndef WSGI_HMAC_H
#define WSGI_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define WSGI_SHA256_SIZE 32
#define WSGI_SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    unsigned char block[WSGI_SHA256_BLOCK];
    size_t used; /* bytes waiting in block */
} wsgi_sha256_ctx;

/* Whether blocks are hashed with the CPU's SHA instructions: asked for
 * (want 1) they are used when the CPU has them, which is the default;
 * want 0 keeps to portable C. Returns what is used from now on. For the
 * tests, which check both ways give the same digests. */
int wsgi_sha256_hw(int want);

void wsgi_sha256_init(wsgi_sha256_ctx *c);
void wsgi_sha256_update(wsgi_sha256_ctx *c, const void *data, size_t len);
void wsgi_sha256_final(wsgi_sha256_ctx *c, unsigned char out[WSGI_SHA256_SIZE]);

/* One piece of a message: HMAC over several pieces without copying them
 * together first (a frame head, then its payload). */
typedef struct {
    const void *data;
    size_t len;
} wsgi_hmac_part;

void wsgi_hmac_sha256(const unsigned char *key, size_t key_len,
                      const wsgi_hmac_part *parts, int nparts,
                      unsigned char out[WSGI_SHA256_SIZE]);

/* 1 when the n bytes are equal. The time taken depends on n only, never
 * on where the first difference is, so a peer guessing a tag learns
 * nothing from how fast it is refused. */
int wsgi_hmac_equal(const unsigned char *a, const unsigned char *b, size_t n);

/* Overwrites n bytes in a way the compiler may not drop as a dead store
 * (a key about to be forgotten is never read again). */
void wsgi_hmac_wipe(void *p, size_t n);

#endif /* WSGI_HMAC_H */
