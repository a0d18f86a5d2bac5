/*
 * libFuzzer target for the daemon wire codec (make fuzz builds and runs
 * it; see mk/fuzz.mk). Every decoder of wsgi_proto.c gets the input, and
 * what decodes is encoded again and must decode to the same: the
 * encoders are covered too, and a decoder that accepts what its encoder
 * would not write (or the reverse) aborts.
 */

#include "wsgi_proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WSGI_FUZZ_PAIRS 64

static unsigned char wsgi_fuzz_out[WSGI_PROTO_HEAD_SIZE + 65536];

static void wsgi_fuzz_pairs(const uint8_t *data, size_t size)
{
    wsgi_pair pairs[WSGI_FUZZ_PAIRS], again[WSGI_FUZZ_PAIRS];
    int n = 0, m = 0, i, status;
    long len;

    int rc = wsgi_proto_get_pairs(data, size, pairs, WSGI_FUZZ_PAIRS, &n);

    if (wsgi_proto_strerror(rc) == NULL)
        abort();
    if (rc != WSGI_PROTO_OK)
        return;
    for (i = 0; i < n; i++) {
        uint64_t v;
        int kind = wsgi_proto_control_of(&pairs[i]);

        if (kind == WSGI_CTL_NONE && pairs[i].name_len > 0 &&
            pairs[i].name[0] == ':')
            abort();
        if (wsgi_proto_get_number(pairs[i].value, pairs[i].value_len, &v) ==
            WSGI_PROTO_OK) {
            char text[21];

            if (wsgi_proto_put_number(text, v) > pairs[i].value_len)
                abort(); /* leading zeros only ever shorten it */
        }
        if (wsgi_proto_get_error(&pairs[i], &status) == WSGI_PROTO_OK &&
            (status < 400 || status > 599 || kind != WSGI_CTL_ERROR))
            abort();
    }
    /* What decodes encodes to the same bytes. */
    len = wsgi_proto_put_pairs(wsgi_fuzz_out, sizeof(wsgi_fuzz_out), pairs, n);
    if (len >= 0 && ((size_t)len != size || memcmp(wsgi_fuzz_out, data, size) ||
                     (size_t)len != wsgi_proto_pairs_size(pairs, n)))
        abort();
    if (len >= 0 &&
        (wsgi_proto_get_pairs(wsgi_fuzz_out, (size_t)len, again,
                              WSGI_FUZZ_PAIRS, &m) != WSGI_PROTO_OK ||
         m != n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsgi_frame_head head;
    uint64_t offset, length;
    uint32_t pid;
    int rc;

    /* The cap the caller passes comes from the input too: any value,
     * larger than the hard one included. */
    uint32_t cap = size >= 12
                       ? (uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 |
                             (uint32_t)data[10] << 8 | data[11]
                       : WSGI_PROTO_MAX_PAYLOAD;

    rc = wsgi_proto_get_head(data, size, cap, &head);
    if (wsgi_proto_strerror(rc) == NULL)
        abort();
    if (rc == WSGI_PROTO_OK) {
        unsigned char again[WSGI_PROTO_HEAD_SIZE];

        wsgi_proto_put_head(again, head.type, head.length);
        if (memcmp(again, data, WSGI_PROTO_HEAD_SIZE))
            abort();
    }
    wsgi_fuzz_pairs(data, size);
    if (size < sizeof(wsgi_fuzz_out)) {
        /* In place, as a daemon decodes the environ. */
        wsgi_pair pairs[WSGI_FUZZ_PAIRS];
        int n = 0, i;

        memcpy(wsgi_fuzz_out, data, size);
        if (wsgi_proto_get_cstrings(wsgi_fuzz_out, size, pairs, WSGI_FUZZ_PAIRS,
                                    &n) == WSGI_PROTO_OK) {
            for (i = 0; i < n; i++) {
                if (strlen(pairs[i].name) != pairs[i].name_len ||
                    strlen(pairs[i].value) != pairs[i].value_len)
                    abort();
            }
        }
    }
    if (size > WSGI_PROTO_HEAD_SIZE)
        wsgi_fuzz_pairs(data + WSGI_PROTO_HEAD_SIZE,
                        size - WSGI_PROTO_HEAD_SIZE);
    if (wsgi_proto_get_file(data, size, &offset, &length) == WSGI_PROTO_OK) {
        unsigned char again[WSGI_PROTO_FILE_SIZE];

        wsgi_proto_put_file(again, offset, length);
        if (memcmp(again, data, size))
            abort();
    }
    if (wsgi_proto_get_hello(data, size, &pid) == WSGI_PROTO_OK) {
        unsigned char again[WSGI_PROTO_HELLO_SIZE];

        wsgi_proto_put_hello(again, pid);
        if (memcmp(again, data, size))
            abort();
    }
    if (size >= 2) {
        /* A reply for any status the input names: only errors encode,
         * and one decodes to the status it was made with. */
        int status = data[0] << 8 | data[1], got = 0, n = 0;
        long len = wsgi_proto_put_reply(wsgi_fuzz_out, size, status);
        wsgi_pair pair, fake;

        if (len >= 0 && status != 0 && (status < 400 || status > 599))
            abort();
        if (len >= 0 && (wsgi_proto_get_pairs(wsgi_fuzz_out, (size_t)len, &pair,
                                              1, &n) != WSGI_PROTO_OK ||
                         (status != 0 &&
                          (wsgi_proto_get_error(&pair, &got) != WSGI_PROTO_OK ||
                           got != status))))
            abort();
        /* Any kind, and lengths the input makes up: the encoders refuse
         * what does not fit rather than write it. */
        wsgi_proto_control(&pair, data[0] - 2, (const char *)data, 1);
        if (wsgi_proto_control_of(&pair) == WSGI_CTL_UNKNOWN)
            abort();
        fake.name = (const char *)data;
        fake.name_len = size >= 6 ? (uint32_t)data[2] << 24 |
                                        (uint32_t)data[3] << 16 |
                                        (uint32_t)data[4] << 8 | data[5]
                                  : 0;
        fake.value = "";
        fake.value_len = 0;
        len = (long)wsgi_proto_pairs_size(&fake, data[1] & 1 ? 1 : -1);
        if (fake.name_len <= size || fake.name_len > WSGI_PROTO_MAX_PAYLOAD)
            len = wsgi_proto_put_pairs(wsgi_fuzz_out, sizeof(wsgi_fuzz_out),
                                       &fake, 1);
        if (fake.name_len > WSGI_PROTO_MAX_PAYLOAD && len != WSGI_PROTO_TOO_BIG)
            abort();
        if (wsgi_proto_strerror(data[0] - 128) == NULL)
            abort();
    }
    return 0;
}
