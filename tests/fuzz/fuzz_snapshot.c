/*
 * tests/fuzz/fuzz_snapshot.c — libFuzzer target: ms_snapshot_load(), the trace snapshot file loader (issue 8).
 *
 * The loader checks a CRC-32 trailer and the header's file size before it parses anything, so random bytes
 * would almost never get past the first checks. When the first input byte is odd, the harness therefore
 * repairs both (file_size at offset 16, the CRC over every byte before the trailer) and the fuzzer explores the
 * parser itself; when it is even, the bytes are loaded as they are. The file lives in memory (memfd) and is
 * opened by path, the way a user's file would be. A loaded snapshot is walked with the read-only calls.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memscope/trace.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    int repair = data[0] & 1;
    size_t n = size - 1;
    unsigned char *file = malloc(n + 4);
    if (!file)
        return 0;
    memcpy(file, data + 1, n);
    if (repair && n >= 24) {
        /* file_size: u64 little-endian at offset 16 (after the magic and the u32 version and flags) */
        uint64_t fs = n + 4;
        for (int i = 0; i < 8; i++)
            file[16 + i] = (unsigned char)(fs >> (8 * i));
        uint32_t crc = crc32_ieee(file, n);
        for (int i = 0; i < 4; i++)
            file[n + i] = (unsigned char)(crc >> (8 * i));
        n += 4;
    }
    int fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
    if (fd < 0) {
        free(file);
        return 0;
    }
    if (write(fd, file, n) == (ssize_t)n) {
        char path[64], err[200];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ms_snapshot *s = ms_snapshot_load_verbose(path, err, sizeof(err));
        if (s) {
            ms_snapshot_info info;
            ms_snapshot_get_info(s, &info);
            ms_trace t;
            for (size_t i = 0; i < info.ntraces && i < 64; i++)
                ms_snapshot_trace(s, i, &t);
            ms_stat *st = NULL;
            ms_stat_diff *df = NULL;
            ms_snapshot_statistics(s, MS_STAT_LINENO, true, &st);
            free(st);
            ms_snapshot_statistics(s, MS_STAT_TRACEBACK, false, &st);
            free(st);
            ms_snapshot_compare_to(s, s, MS_STAT_FILENAME, false, &df);
            free(df);
            ms_snapshot_free(s);
        }
    }
    close(fd);
    free(file);
    return 0;
}
