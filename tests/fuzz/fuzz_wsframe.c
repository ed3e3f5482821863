/* Fuzz target: a WebSocket client's frames as the /tail WebSocket reads them (wsframe.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Like tail.c: frames are parsed from a buffer the socket fills, then consumed. */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    size_t len = size;
    for (;;) {
        struct ws_frame f;
        unsigned code;
        const char *why;
        int rc = wsframe_parse(buf, len, 4096, &f, &code, &why);
        if (rc <= 0)
            break;
        if (f.size > len || f.payload < buf || f.payload + f.len > buf + len || f.len > 4096)
            abort();
        if (f.opcode >= WS_OP_CLOSE && f.len > 125)
            abort();
        memmove(buf, buf + f.size, len - f.size);
        len -= f.size;
    }
    free(buf);
    return 0;
}
