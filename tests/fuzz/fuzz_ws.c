/*
 * Fuzz target: what a WebSocket server sends `strata tail` (client/websocket.h).
 * The first byte picks the parser: even, the handshake answer check; odd, a
 * run of frames parsed one after the other as ws_read does.
 */
#include <stdint.h>
#include <string.h>

#include "client/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        char err[256];
        int status;
        ws_check_handshake((const char *)p, n, "dGhlIHNhbXBsZSBub25jZQ==", &status, err,
                           sizeof(err));
        return 0;
    }
    struct ws_frame f;
    while (n > 0 && ws_frame_parse(p, n, 1 << 16, false, &f) == 1) {
        size_t used = f.header_len + (size_t)f.len;
        p += used;
        n -= used;
    }
    return 0;
}
