/*
 * wsgi_proto.h: the wire codec between Apache children and daemon
 * processes (daemon mode).
 *
 * Pure C on byte buffers: no Python, no APR, no request_rec, so it can be
 * unit tested and fuzzed alone. Every length is checked against the
 * buffer and against a cap before anything is allocated or copied.
 *
 * A frame is an 8-byte head and a payload:
 *
 *   0      2       3      4              8
 *   +------+-------+------+--------------+----------------
 *   | "WG" | vers  | type | length (BE)  | payload ...
 *   +------+-------+------+--------------+----------------
 *
 * A list of name/value pairs (the environ, response headers) is a 4-byte
 * count followed, per pair, by a 4-byte name length, the name, a 4-byte
 * value length and the value, all big-endian. Names and values are bytes;
 * they are not NUL-terminated on the wire.
 */

#ifndef WSGI_PROTO_H
#define WSGI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define WSGI_PROTO_MAGIC0 'W'
#define WSGI_PROTO_MAGIC1 'G'
#define WSGI_PROTO_VERSION 3
#define WSGI_PROTO_HEAD_SIZE 8

/* The REQUEST frame's payload starts with the HMAC-SHA-256 of its head
 * and the pairs that follow, under the group's key (wsgi_peer.c). */
#define WSGI_PROTO_TAG_SIZE 32

/* The largest payload any peer may send, whatever the configuration. */
#define WSGI_PROTO_MAX_PAYLOAD (16u * 1024u * 1024u)

enum wsgi_frame_type {
    WSGI_FRAME_REQUEST = 1,     /* a WSGI_PROTO_TAG_SIZE tag proving who
                                 * built it, then pairs: the environ */
    WSGI_FRAME_BODY = 2,        /* request body bytes */
    WSGI_FRAME_BODY_END = 3,    /* end of request body */
    WSGI_FRAME_RESPONSE = 4,    /* pairs: ":status" first, then headers */
    WSGI_FRAME_DATA = 5,        /* response body bytes */
    WSGI_FRAME_END = 6,         /* response complete */
    WSGI_FRAME_ABORT = 7,       /* either side gives up on the request */
    WSGI_FRAME_HELLO = 8,       /* daemon to child, first: 4-byte BE pid */
    WSGI_FRAME_FILE = 9,        /* response body from a file descriptor
                                 * passed with the frame (SCM_RIGHTS):
                                 * 8-byte BE offset, 8-byte BE length */
    WSGI_FRAME_MAX = 9
};

enum wsgi_proto_status {
    WSGI_PROTO_OK = 0,
    WSGI_PROTO_SHORT = -1,      /* need more bytes */
    WSGI_PROTO_BAD_MAGIC = -2,
    WSGI_PROTO_BAD_VERSION = -3,
    WSGI_PROTO_BAD_TYPE = -4,
    WSGI_PROTO_TOO_BIG = -5,
    WSGI_PROTO_MALFORMED = -6,
    WSGI_PROTO_NO_ROOM = -7     /* output buffer or pair array too small */
};

typedef struct {
    int type;
    uint32_t length;
} wsgi_frame_head;

typedef struct {
    const char *name;
    uint32_t name_len;
    const char *value;
    uint32_t value_len;
} wsgi_pair;

/* Writes the 8-byte head. */
void wsgi_proto_put_head(unsigned char out[WSGI_PROTO_HEAD_SIZE], int type,
                         uint32_t length);

/* Parses a head from len bytes; max_payload (<= WSGI_PROTO_MAX_PAYLOAD)
 * bounds the length accepted. */
int wsgi_proto_get_head(const unsigned char *in, size_t len,
                        uint32_t max_payload, wsgi_frame_head *head);

/* Bytes needed to encode the pairs; 0 when they would not fit in a
 * payload of WSGI_PROTO_MAX_PAYLOAD. */
size_t wsgi_proto_pairs_size(const wsgi_pair *pairs, int n);

/* Encodes the pairs into out (cap bytes); returns the size written or a
 * negative wsgi_proto_status. */
long wsgi_proto_put_pairs(unsigned char *out, size_t cap,
                          const wsgi_pair *pairs, int n);

/* Decodes pairs from a payload: the pair pointers point into `in`. At
 * most max pairs; *n gets the count. */
int wsgi_proto_get_pairs(const unsigned char *in, size_t len,
                         wsgi_pair *pairs, int max, int *n);

#define WSGI_PROTO_FILE_SIZE 16

/* The FILE frame's payload: where in the passed file, and how much. */
void wsgi_proto_put_file(unsigned char out[WSGI_PROTO_FILE_SIZE],
                         uint64_t offset, uint64_t length);

/* Decodes it; WSGI_PROTO_MALFORMED unless len is exactly the size and
 * offset + length does not overflow a signed 64-bit file offset. */
int wsgi_proto_get_file(const unsigned char *in, size_t len,
                        uint64_t *offset, uint64_t *length);

/* A short, static description of a status, for log messages. */
const char *wsgi_proto_strerror(int status);

#endif /* WSGI_PROTO_H */
