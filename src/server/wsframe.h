/*
 * wsframe.h - reading a WebSocket client's frames (RFC 6455 section 5.2).
 *
 * The bytes come straight from the network (the /tail WebSocket reads
 * whatever its client sends), so the reader trusts nothing: a frame must be
 * masked (every client frame is), its reserved bits clear (no extension is
 * negotiated), its opcode one of RFC 6455's, a control frame (close, ping,
 * pong) unfragmented and at most 125 bytes, and its payload at most the
 * caller's maximum. The server writes its own frames unmasked (tail.c).
 */
#ifndef STRATA_WSFRAME_H
#define STRATA_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>

enum {
    WS_OP_CONTINUATION = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10,
};

struct ws_frame {
    unsigned opcode;
    bool fin;
    unsigned char *payload; /* inside the caller's buffer, unmasked in place */
    size_t len;             /* payload bytes */
    size_t size;            /* bytes the whole frame takes in the buffer */
};

/*
 * Parse the frame at the start of buf (n bytes). Returns 1 with *f filled
 * (its payload unmasked in place) when the whole frame is there, 0 when more
 * bytes are needed, or -1 when the frame breaks the rules above: then
 * *close_code is the status to close with (1002 protocol error, 1009 too big)
 * and *reason a short static text for the close frame.
 */
int wsframe_parse(unsigned char *buf, size_t n, size_t max_payload, struct ws_frame *f,
                  unsigned *close_code, const char **reason);

#endif
