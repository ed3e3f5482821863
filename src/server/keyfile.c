/*
 * keyfile.c - bounded, wiped reads of key, certificate and token files.
 */
#include "server/keyfile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

char *keyfile_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break;
            size_t ncap = cap * 2;
            char *bigger = xmalloc(ncap + 1);
            memcpy(bigger, text, n);
            OPENSSL_cleanse(text, n);
            free(text);
            text = bigger;
            cap = ncap;
        }
        size_t r = fread(text + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        if (bad)
            snprintf(err, errlen, "cannot read %s", path);
        else
            snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        keyfile_free(text, n);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

void keyfile_free(char *text, size_t len)
{
    if (!text)
        return;
    OPENSSL_cleanse(text, len);
    free(text);
}
