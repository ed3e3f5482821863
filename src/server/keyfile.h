/*
 * keyfile.h - reading the small files the security layer loads at start:
 * public keys, certificates and private keys, the tokens file, the TLS file.
 *
 * Each is read whole into memory, bounded by a maximum size, and wiped
 * (OPENSSL_cleanse) when freed, since some hold secrets.
 */
#ifndef STRATA_KEYFILE_H
#define STRATA_KEYFILE_H

#include <stddef.h>

/*
 * The contents of path (at most max bytes), NUL-terminated, in a heap buffer
 * the caller frees with keyfile_free; *len is the length. On failure returns
 * NULL with "cannot open <path>: <reason>" or "<path> is larger than N
 * bytes" in err.
 */
char *keyfile_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* Wipe and free what keyfile_read returned (NULL is fine). */
void keyfile_free(char *text, size_t len);

#endif
