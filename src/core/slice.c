#include "core/slice.h"

#include <ctype.h>

bool slice_eq_nocase(struct slice a, const char *s)
{
    size_t n = strlen(s);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a.ptr[i]) != tolower((unsigned char)s[i]))
            return false;
    return true;
}

struct slice slice_trim(struct slice s)
{
    while (s.len && isspace((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}
