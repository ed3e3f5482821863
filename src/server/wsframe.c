/*
 * wsframe.c - a WebSocket client's frames. Contract in wsframe.h.
 *
 * A frame (RFC 6455 section 5.2):
 *   byte 0: FIN (0x80), RSV1-3 (0x70), opcode (0x0f)
 *   byte 1: MASK (0x80), payload length 0-125, or 126 (a 16-bit length follows,
 *           big endian) or 127 (a 64-bit length follows, big endian)
 *   then the 4-byte masking key when MASK is set, then the payload, XORed
 *   with the key byte by byte (key[i % 4]).
 */
#include "server/wsframe.h"

#include <stdint.h>

static int refuse(unsigned *close_code, const char **reason, unsigned code, const char *why)
{
    *close_code = code;
    *reason = why;
    return -1;
}

int wsframe_parse(unsigned char *buf, size_t n, size_t max_payload, struct ws_frame *f,
                  unsigned *close_code, const char **reason)
{
    if (n < 2)
        return 0;
    unsigned opcode = buf[0] & 0x0f;
    bool fin = buf[0] & 0x80;
    if (buf[0] & 0x70)
        return refuse(close_code, reason, 1002, "reserved bits set");
    if ((opcode > WS_OP_BINARY && opcode < WS_OP_CLOSE) || opcode > WS_OP_PONG)
        return refuse(close_code, reason, 1002, "unknown opcode");
    if (!(buf[1] & 0x80))
        return refuse(close_code, reason, 1002, "frames must be masked");
    uint64_t len = buf[1] & 0x7f;
    size_t off = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = ((uint64_t)buf[2] << 8) | buf[3];
        off = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | buf[2 + i];
        off = 10;
    }
    if (opcode >= WS_OP_CLOSE && (len > 125 || !fin))
        return refuse(close_code, reason, 1002, "bad control frame");
    if (len > max_payload)
        return refuse(close_code, reason, 1009, "frame too large");
    if (n - off < 4 || n - off - 4 < len)
        return 0;
    unsigned char *mask = buf + off, *payload = buf + off + 4;
    for (size_t i = 0; i < (size_t)len; i++)
        payload[i] ^= mask[i & 3];
    f->opcode = opcode;
    f->fin = fin;
    f->payload = payload;
    f->len = (size_t)len;
    f->size = off + 4 + (size_t)len;
    return 1;
}
