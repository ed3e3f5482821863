/* test_store_util.h - helpers shared by the storage unit tests (temp dirs, batches). */
#ifndef STRATA_TEST_STORE_UTIL_H
#define STRATA_TEST_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest/batch.h"

/* A fresh directory under $TMPDIR (or /tmp); out needs 256 bytes. */
void st_tmpdir(char *out);
/* The same in memory (/dev/shm) when there is one: fsync costs nothing there. */
void st_tmpdir_fast(char *out);
/* rm -rf path. */
void st_rmtree(const char *path);
/* Copy a file; returns 0 on success. */
int st_copy(const char *from, const char *to);
/* Size of a file, or -1. */
long st_size(const char *path);
/* Truncate a file to n bytes. */
int st_truncate(const char *path, long n);
/* XOR one byte of a file with mask. */
int st_flip(const char *path, long off, unsigned char mask);
/* A one-label stream {app="<app>"} added to b; returns its index. */
uint32_t st_stream(struct push_batch *b, const char *app);
/* Count the files in dir whose names end with suffix. */
int st_count_files(const char *dir, const char *suffix);
/* The path of the one file in dir whose name ends with suffix: 0, or -1 if not exactly one. */
int st_only_file(const char *dir, const char *suffix, char *path, size_t len);

#endif
