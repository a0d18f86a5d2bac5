/*
 * libFuzzer target for the daemon wire codec:
 *   clang -g -fsanitize=fuzzer,address,undefined -Imod_wsgi/server \
 *       tests/c/fuzz_proto.c mod_wsgi/server/wsgi_proto.c -o fuzz_proto
 *   ./fuzz_proto -max_total_time=60
 */

#include "wsgi_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsgi_frame_head head;
    wsgi_pair pairs[64];
    int n;

    (void)wsgi_proto_get_head(data, size, WSGI_PROTO_MAX_PAYLOAD, &head);
    if (size > WSGI_PROTO_HEAD_SIZE)
        (void)wsgi_proto_get_pairs(data + WSGI_PROTO_HEAD_SIZE,
                                   size - WSGI_PROTO_HEAD_SIZE, pairs, 64, &n);
    return 0;
}
