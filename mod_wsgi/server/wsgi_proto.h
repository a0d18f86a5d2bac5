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
#define WSGI_PROTO_VERSION 4
#define WSGI_PROTO_HEAD_SIZE 8

/* The REQUEST frame's payload starts with the HMAC-SHA-256 of its head
 * and the pairs that follow, under the group's key (wsgi_peer.c). */
#define WSGI_PROTO_TAG_SIZE 32

/* The largest payload any peer may send, whatever the configuration. */
#define WSGI_PROTO_MAX_PAYLOAD (16u * 1024u * 1024u)

/* The largest DATA or BODY payload either side sends: the receiver holds
 * one frame in memory at a time per request, so this bounds what a
 * request pins there whatever block size the application or the client
 * uses. */
#define WSGI_PROTO_DATA_MAX 65536u

/* HELLO's payload: the daemon process's pid, 4 bytes BE. */
#define WSGI_PROTO_HELLO_SIZE 4

enum wsgi_frame_type {
    WSGI_FRAME_REQUEST = 1,  /* a WSGI_PROTO_TAG_SIZE tag proving who
                              * built it, then pairs: the environ */
    WSGI_FRAME_BODY = 2,     /* request body bytes */
    WSGI_FRAME_BODY_END = 3, /* end of request body */
    WSGI_FRAME_RESPONSE = 4, /* pairs: ":status" first, then headers */
    WSGI_FRAME_DATA = 5,     /* response body bytes */
    WSGI_FRAME_END = 6,      /* response complete */
    WSGI_FRAME_ABORT = 7,    /* either side gives up on the request */
    WSGI_FRAME_HELLO = 8,    /* daemon to child, first: its pid */
    WSGI_FRAME_FILE = 9,     /* response body from a file descriptor
                              * passed with the frame (SCM_RIGHTS):
                              * 8-byte BE offset, 8-byte BE length */
    WSGI_FRAME_MAX = 9
};

enum wsgi_proto_status {
    WSGI_PROTO_OK = 0,
    WSGI_PROTO_SHORT = -1, /* need more bytes */
    WSGI_PROTO_BAD_MAGIC = -2,
    WSGI_PROTO_BAD_VERSION = -3,
    WSGI_PROTO_BAD_TYPE = -4,
    WSGI_PROTO_TOO_BIG = -5,
    WSGI_PROTO_MALFORMED = -6,
    WSGI_PROTO_NO_ROOM = -7 /* output buffer or pair array too small */
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
int wsgi_proto_get_pairs(const unsigned char *in, size_t len, wsgi_pair *pairs,
                         int max, int *n);

/* Like wsgi_proto_get_pairs, for a receiver that wants C strings: in
 * must have room for len + 1 bytes, and each name and value is then
 * NUL-terminated in place (over the length before the next string,
 * already read, or in[len]). A name or value holding a NUL byte is
 * WSGI_PROTO_MALFORMED: its C string would say less than the bytes. */
int wsgi_proto_get_cstrings(unsigned char *in, size_t len, wsgi_pair *pairs,
                            int max, int *n);

#define WSGI_PROTO_FILE_SIZE 16

/* The FILE frame's payload: where in the passed file, and how much. */
void wsgi_proto_put_file(unsigned char out[WSGI_PROTO_FILE_SIZE],
                         uint64_t offset, uint64_t length);

/* Decodes it; WSGI_PROTO_MALFORMED unless len is exactly the size and
 * offset + length does not overflow a signed 64-bit file offset. */
int wsgi_proto_get_file(const unsigned char *in, size_t len, uint64_t *offset,
                        uint64_t *length);

void wsgi_proto_put_hello(unsigned char out[WSGI_PROTO_HELLO_SIZE],
                          uint32_t pid);
/* WSGI_PROTO_MALFORMED unless len is exactly the size and pid > 0. */
int wsgi_proto_get_hello(const unsigned char *in, size_t len, uint32_t *pid);

/*
 * Control pairs: entries whose name starts with ':' carry the protocol,
 * never an environ key or a response header (neither can start so: CGI
 * names are letters, digits and '_', header names are RFC 9110 tokens,
 * which exclude ':'). The receiver skips an unknown one.
 *
 *   RESPONSE frame, first pair, one of:
 *     :status          the status line; the headers follow
 *     :error           a status (decimal, 400-599) the Apache child
 *                      answers with itself; the only pair
 *     :restart         the daemon process is going: send the request
 *                      again (it had no body); the only pair
 *   REQUEST frame, among the environ's pairs:
 *     :request_start   when Apache read the request, decimal
 *                      microseconds since the epoch
 *     :ignore_activity the request does not count as activity
 *                      (WSGIIgnoreActivity); empty value
 *     :fspath          the next pair's value is a filesystem path, to
 *                      decode with the filesystem encoding, not latin-1;
 *                      empty value
 */
enum wsgi_proto_control {
    WSGI_CTL_NONE = 0, /* an ordinary entry */
    WSGI_CTL_STATUS,
    WSGI_CTL_ERROR,
    WSGI_CTL_RESTART,
    WSGI_CTL_REQUEST_START,
    WSGI_CTL_IGNORE_ACTIVITY,
    WSGI_CTL_FSPATH,
    WSGI_CTL_UNKNOWN /* ':' but none of the above: skipped */
};

/* Makes pair the control pair of that kind with that value (pointers
 * into static names and the caller's value). */
void wsgi_proto_control(wsgi_pair *pair, int kind, const char *value,
                        uint32_t value_len);

/* The kind of a pair: WSGI_CTL_NONE for an ordinary entry. */
int wsgi_proto_control_of(const wsgi_pair *pair);

/* The decimal text of v into out (at least 21 bytes), NUL-terminated;
 * returns its length. */
uint32_t wsgi_proto_put_number(char *out, uint64_t v);

/* A control value's decimal number: 1 to 19 digits, nothing else. */
int wsgi_proto_get_number(const char *s, uint32_t len, uint64_t *v);

/* A RESPONSE payload of one control pair: :error with the status, or
 * :restart (status 0). Returns the size written, or a negative
 * wsgi_proto_status (out too small, status not 400-599). */
long wsgi_proto_put_reply(unsigned char *out, size_t cap, int status);

/* The status of an :error pair; WSGI_PROTO_MALFORMED unless it is one
 * with a status of 400-599. */
int wsgi_proto_get_error(const wsgi_pair *pair, int *status);

/* A short, static description of a status, for log messages. */
const char *wsgi_proto_strerror(int status);

#endif /* WSGI_PROTO_H */
