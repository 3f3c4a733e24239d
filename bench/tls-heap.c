/* tls-heap: an LD_PRELOAD library for bench/tls-heap.sh. It routes
 * OpenSSL's allocations through CRYPTO_set_mem_functions, keeps every live
 * block with the source line that made it (OpenSSL passes file and line),
 * and, each time the file named by TLS_HEAP_DUMP appears, removes it and
 * writes one report to TLS_HEAP_DUMP.out: a first line with the totals
 * (live OpenSSL blocks, bytes asked for, bytes of malloc chunks, and
 * glibc's mallinfo2 of the whole process), then one line per source line,
 * the largest first. Its table of live blocks (128 MiB, touched as it
 * fills) inflates the process's RSS: read heap bytes from the report, RSS
 * from bench/tls-idle.sh. */
#define _GNU_SOURCE
#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS (1u << 22) /* live blocks: enough for 10,000 TLS connections */
#define SITES 65536
#define GONE ((void *)1)

typedef struct block {
    void *p;
    const char *file;
    int line;
    size_t asked;
} block;

typedef struct site {
    const char *file;
    int line;
    size_t blocks, asked, chunk;
} site;

static block *live;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const void *p)
{
    uint64_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (SLOTS - 1);
}

static void keep(void *p, size_t n, const char *file, int line)
{
    pthread_mutex_lock(&mu);
    size_t i = slot_of(p);
    while (live[i].p && live[i].p != GONE)
        i = (i + 1) & (SLOTS - 1);
    live[i] = (block){p, file, line, n};
    pthread_mutex_unlock(&mu);
}

static void forget(void *p)
{
    pthread_mutex_lock(&mu);
    for (size_t i = slot_of(p); live[i].p; i = (i + 1) & (SLOTS - 1))
        if (live[i].p == p) {
            live[i].p = GONE;
            break;
        }
    pthread_mutex_unlock(&mu);
}

static void *th_malloc(size_t n, const char *file, int line)
{
    void *p = malloc(n);
    if (p)
        keep(p, n, file, line);
    return p;
}

static void *th_realloc(void *old, size_t n, const char *file, int line)
{
    if (old)
        forget(old);
    void *p = realloc(old, n);
    if (p)
        keep(p, n, file, line);
    else if (old && n)
        keep(old, n, file, line); /* realloc failed: old is still live */
    return p;
}

static void th_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (p)
        forget(p);
    free(p);
}

static int by_chunk(const void *a, const void *b)
{
    const site *x = a, *y = b;
    return (x->chunk < y->chunk) - (x->chunk > y->chunk);
}

static void report(const char *path)
{
    site *s = calloc(SITES, sizeof *s);
    FILE *o = fopen(path, "w");
    if (!s || !o) {
        free(s);
        if (o)
            fclose(o);
        return;
    }
    size_t ns = 0, blocks = 0, asked = 0, chunk = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < SLOTS; i++) {
        const block *b = &live[i];
        if (!b->p || b->p == GONE)
            continue;
        /* a glibc chunk: the usable bytes and its 8-byte size field */
        size_t c = malloc_usable_size(b->p) + sizeof(size_t);
        blocks++, asked += b->asked, chunk += c;
        size_t j = 0;
        while (j < ns && !(s[j].line == b->line && !strcmp(s[j].file, b->file)))
            j++;
        if (j == ns) {
            if (ns == SITES)
                continue;
            s[ns++] = (site){.file = b->file, .line = b->line};
        }
        s[j].blocks++, s[j].asked += b->asked, s[j].chunk += c;
    }
    pthread_mutex_unlock(&mu);
    qsort(s, ns, sizeof *s, by_chunk);
    struct mallinfo2 mi = mallinfo2();
    fprintf(o, "total %zu %zu %zu heap_in_use %zu heap_free %zu mmapped %zu\n", blocks, asked,
            chunk, mi.uordblks, mi.fordblks, mi.hblkhd);
    for (size_t j = 0; j < ns; j++)
        fprintf(o, "%s:%d %zu %zu %zu\n", s[j].file, s[j].line, s[j].blocks, s[j].asked,
                s[j].chunk);
    fclose(o);
    free(s);
}

static void *watch(void *arg)
{
    const char *trigger = arg;
    char out[4096];
    snprintf(out, sizeof out, "%s.out", trigger);
    for (;;) {
        usleep(200 * 1000);
        if (access(trigger, F_OK) == 0) {
            report(out);
            unlink(trigger); /* after the report: the script waits for this */
        }
    }
    return NULL;
}

__attribute__((constructor)) static void start(void)
{
    const char *trigger = getenv("TLS_HEAP_DUMP");
    if (!trigger || !(live = calloc(SLOTS, sizeof *live)))
        return;
    if (!CRYPTO_set_mem_functions(th_malloc, th_realloc, th_free))
        return; /* OpenSSL allocated already: nothing would be seen */
    pthread_t t;
    if (pthread_create(&t, NULL, watch, (void *)trigger) == 0)
        pthread_detach(t);
}
