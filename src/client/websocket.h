/*
 * websocket.h - a small RFC 6455 WebSocket client, for `strata tail`.
 *
 * libcurl 7.88 has no WebSocket support, so this speaks the protocol over a
 * plain socket, or over OpenSSL for https:// (the server's certificate
 * checked against a CA file or the system's roots, and its name against the
 * URL's host; optional client certificate). It does what a tail client
 * needs: the opening handshake with extra headers (Authorization,
 * X-Scope-OrgID), reading text and binary messages (fragments joined,
 * bounded), answering pings, and the closing handshake. Client frames are
 * masked with random keys, as the RFC requires.
 *
 * The frame parser and the handshake check are pure functions over bytes,
 * exposed for the unit tests and the fuzz target (tests/fuzz/fuzz_ws.c):
 * everything the server sends goes through them.
 */
#ifndef STRATA_CLIENT_WEBSOCKET_H
#define STRATA_CLIENT_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum ws_opcode {
    WS_CONT = 0x0,
    WS_TEXT = 0x1,
    WS_BINARY = 0x2,
    WS_CLOSE = 0x8,
    WS_PING = 0x9,
    WS_PONG = 0xA,
};

struct ws_frame {
    bool fin;
    int opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;           /* payload length */
    size_t header_len;      /* bytes before the payload */
    const uint8_t *payload; /* into the parsed bytes (still masked if masked) */
};

/*
 * Parse one frame at p[0..n). Returns 1 when the whole frame is there (f
 * filled), 0 when more bytes are needed, STRATA_EPARSE for a frame a server
 * must not send: reserved bits set (no extension is negotiated), an unknown
 * opcode, a control frame that is fragmented or longer than 125 bytes, a
 * 64-bit length with its top bit set, a masked frame (allow_masked false),
 * or a payload longer than max_payload (STRATA_ETOOLARGE).
 */
int ws_frame_parse(const uint8_t *p, size_t n, uint64_t max_payload, bool allow_masked,
                   struct ws_frame *f);
/* Append a masked client frame (fin set) with the given opcode and payload. */
int ws_frame_encode(struct buf *out, int opcode, const void *payload, size_t len,
                    const uint8_t mask[4]);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void ws_accept_key(const char *key, char out[29]);
/*
 * Check the server's answer to the opening handshake: resp holds its status
 * line and headers (through the blank line). 0 when it is 101 with
 * "Upgrade: websocket", "Connection: Upgrade" and the right
 * Sec-WebSocket-Accept for key. Otherwise *status is the HTTP status (0 if
 * unreadable) and err says what is wrong; returns STRATA_EPARSE (not a valid
 * upgrade) or the STRATA_E* code of an error status.
 */
int ws_check_handshake(const char *resp, size_t len, const char *key, int *status, char *err,
                       size_t errlen);

struct ws;

struct ws_options {
    const char *ca_file;   /* PEM roots for https://; NULL: the system's */
    const char *cert_file; /* client certificate and key, both or neither */
    const char *key_file;
    int timeout_ms;             /* connect and handshake */
    const char *const *headers; /* extra "Name: value" lines */
    size_t n_headers;
};

/*
 * Connect to url (ws://, wss://, http:// or https://; host, optional port,
 * path and query) and do the opening handshake. On an error answer (e.g.
 * 400 for a bad query) *status is its HTTP status, err holds "HTTP <status>:
 * <body>" and the code maps the status; *status is 0 when no answer came.
 * A malformed URL or TLS file gives STRATA_EINVAL, connection and TLS
 * failures STRATA_EUNAVAIL.
 */
int ws_connect(const char *url, const struct ws_options *o, struct ws **out, int *status, char *err,
               size_t errlen);
/*
 * Read the next text or binary message into msg (bounded by its maximum),
 * answering pings on the way. msg is reset at the start of a message; after a
 * timeout in the middle of one, call again with the same msg to complete it. Returns 1 with a
 * message, 0 when the server closed the connection (its close code in *close_code, 1006 when it
 * went away without one; a close frame is answered), STRATA_ETIMEOUT when
 * nothing complete arrived within timeout_ms (call again), or another
 * negative code for a protocol or I/O error (message in err).
 */
int ws_read(struct ws *w, struct buf *msg, int timeout_ms, int *close_code, char *err,
            size_t errlen);
/* Send a close frame with code and wait up to timeout_ms for the server's. */
void ws_close(struct ws *w, int code, int timeout_ms);
/* Close the socket and free w (NULL is a no-op). */
void ws_free(struct ws *w);

#endif
