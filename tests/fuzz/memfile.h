/* memfile: fuzz targets whose parser reads a path get the input as an
 * in-memory file (memfd), named /proc/self/fd/N. */
#ifndef VOLLEY_FUZZ_MEMFILE_H
#define VOLLEY_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Returns the fd (close it after) and fills path, or -1. */
static inline int memfile(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
