/*
 * daemon/blob.c — reference-counted immutable byte blobs (see daemon.h).
 *
 * Only the loop thread touches blobs, so the count is a plain integer. Invariant: refs >= 1 while anyone holds
 * the blob; the holder that drops the last reference frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

msd_blob *msd_blob_new(const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(msd_blob) - 1)
        return NULL;
    msd_blob *b = malloc(sizeof(*b) + len + 1);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = b->cap = len;
    b->data = b->inline_data;
    if (len && data)
        memcpy(b->data, data, len);
    b->data[len] = '\0';
    return b;
}

msd_blob *msd_blob_adopt(char *p, size_t len, size_t cap)
{
    msd_blob *b = malloc(sizeof(*b));
    if (!b) {
        free(p);
        return NULL;
    }
    *b = (msd_blob){.refs = 1, .len = len, .cap = cap, .data = p};
    return b;
}

msd_blob *msd_blob_from_string(char *s)
{
    if (!s)
        return NULL;
    msd_blob *b = msd_blob_new(s, strlen(s));
    free(s);
    return b;
}

msd_blob *msd_blob_ref(msd_blob *b)
{
    if (b)
        b->refs++;
    return b;
}

void msd_blob_unref(msd_blob *b)
{
    if (b && --b->refs == 0) {
        if (b->data != b->inline_data)
            free(b->data);
        free(b);
    }
}
