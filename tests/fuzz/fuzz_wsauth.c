/* Fuzz target: Sec-WebSocket-Protocol values carrying a credential and a tenant (wsauth.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "server/wsauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Header values reach the auth layer as NUL-terminated strings. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    struct arena a;
    arena_init(&a, 0);
    char err[256];
    const char *tok, *ten;
    if (wsauth_parse(s, &a, &tok, &ten, err, sizeof(err)) == 0) {
        if (tok && strlen(tok) > WSAUTH_MAX_VALUE)
            abort();
        if (ten && strlen(ten) > WSAUTH_MAX_VALUE)
            abort();
    }
    wsauth_offers(s, WSAUTH_PROTOCOL);
    arena_release(&a);
    free(s);
    return 0;
}
