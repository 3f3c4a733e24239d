/* metrics: per-worker shard, counts and interval hand-off (see metrics.h).
 * The hand-off is a single-producer single-consumer ring: the worker
 * publishes `closed` with release order after finishing a slot, the main
 * thread publishes `consumed` after reading it. */
#include "metrics/metrics.h"

#include <stdlib.h>
#include <string.h>

static const char *kind_names[ERRK_COUNT] = {
    [ERRK_CONNECT_REFUSED] = "connect_refused",
    [ERRK_CONNECT_TIMEOUT] = "connect_timeout",
    [ERRK_CONNECT] = "connect_error",
    [ERRK_TIMEOUT] = "timeout",
    [ERRK_RESET] = "reset",
    [ERRK_PARSE] = "parse_error",
    [ERRK_CLOSED] = "closed_early",
    [ERRK_TLS] = "tls_error",
    [ERRK_CANCELLED] = "cancelled",
    [ERRK_STALE] = "stale_connection",
};

const char *metrics_err_kind_name(err_kind k)
{
    return (unsigned)k < ERRK_COUNT ? kind_names[k] : "unknown";
}

int metrics_err_kind_from_name(const char *name)
{
    for (int i = 0; i < ERRK_COUNT; i++)
        if (!strcmp(kind_names[i], name))
            return i;
    return -1;
}

void metrics_totals_add(metrics_totals *dst, const metrics_totals *src)
{
    dst->requests += src->requests;
    dst->responses += src->responses;
    dst->errors += src->errors;
    for (int i = 0; i < METRICS_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
    for (int i = 0; i < ERRK_COUNT; i++)
        dst->err_kind[i] += src->err_kind[i];
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
    dst->connects += src->connects;
    dst->dropped += src->dropped;
    dst->chunks += src->chunks;
    dst->tls_resumed += src->tls_resumed;
    dst->retries += src->retries;
}

metrics_shard *metrics_shard_new(void)
{
    /* Workers' shards come from main's heap one after another: aligned and
     * padded to whole cache lines, two of them never share one. */
    size_t size = (sizeof(metrics_shard) + METRICS_CACHE_LINE - 1) / METRICS_CACHE_LINE *
                  METRICS_CACHE_LINE;
    metrics_shard *s = aligned_alloc(METRICS_CACHE_LINE, size);
    if (!s)
        return NULL;
    memset(s, 0, size);
    s->latency = hist_new();
    s->service = hist_new();
    s->ttfb = hist_new();
    s->connect = hist_new();
    s->chunk_gap = hist_new();
    s->send_lag = hist_new();
    s->tls_handshake = hist_new();
    bool ok = s->latency && s->service && s->ttfb && s->connect && s->chunk_gap && s->send_lag &&
              s->tls_handshake;
    for (int i = 0; i < METRICS_RING; i++)
        ok = ok && (s->ring[i].latency = hist_new()) != NULL;
    atomic_init(&s->closed, 0);
    atomic_init(&s->consumed, 0);
    atomic_init(&s->live_requests, 0);
    atomic_init(&s->live_errors, 0);
    if (!ok) {
        metrics_shard_free(s);
        return NULL;
    }
    return s;
}

void metrics_shard_free(metrics_shard *s)
{
    if (!s)
        return;
    hist_free(s->latency);
    hist_free(s->service);
    hist_free(s->ttfb);
    hist_free(s->connect);
    hist_free(s->chunk_gap);
    hist_free(s->send_lag);
    hist_free(s->tls_handshake);
    for (int i = 0; i < METRICS_RING; i++)
        hist_free(s->ring[i].latency);
    free(s);
}

void metrics_record_response(metrics_shard *s, const metrics_sample *m)
{
    metrics_totals *t = &s->tot;
    t->requests++;
    t->responses++;
    t->status[(unsigned)m->status < METRICS_STATUS_MAX ? m->status : 0]++;
    t->bytes_in += m->bytes_in;
    t->bytes_out += m->bytes_out;
    t->chunks += m->chunks;
    hist_record(s->latency, m->latency_ns);
    hist_record(s->service, m->service_ns);
    hist_record(s->ttfb, m->ttfb_ns);
    metrics_interval *iv = metrics_cur(s);
    iv->requests++;
    iv->responses++;
    iv->bytes_in += m->bytes_in;
    iv->bytes_out += m->bytes_out;
    hist_record(iv->latency, m->latency_ns);
    atomic_store_explicit(&s->live_requests, t->requests, memory_order_relaxed);
}

void metrics_record_dropped(metrics_shard *s)
{
    s->tot.dropped++;
    metrics_cur(s)->dropped++;
}

void metrics_record_error(metrics_shard *s, err_kind k, uint64_t bytes_in, uint64_t bytes_out)
{
    metrics_totals *t = &s->tot;
    t->requests++;
    t->errors++;
    t->err_kind[(unsigned)k < ERRK_COUNT ? k : ERRK_PARSE]++;
    t->bytes_in += bytes_in;
    t->bytes_out += bytes_out;
    metrics_interval *iv = metrics_cur(s);
    iv->requests++;
    iv->errors++;
    iv->bytes_in += bytes_in;
    iv->bytes_out += bytes_out;
    atomic_store_explicit(&s->live_requests, t->requests, memory_order_relaxed);
    atomic_store_explicit(&s->live_errors, t->errors, memory_order_relaxed);
}

void metrics_record_connect(metrics_shard *s, uint64_t connect_ns)
{
    s->tot.connects++;
    hist_record(s->connect, connect_ns);
}

static void interval_reset(metrics_interval *iv)
{
    hist_reset(iv->latency);
    iv->requests = iv->responses = iv->errors = iv->bytes_in = iv->bytes_out = iv->dropped = 0;
}

void metrics_close_interval(metrics_shard *s)
{
    uint64_t next = s->cur + 1;
    atomic_store_explicit(&s->closed, next, memory_order_release);
    /* The slot for `next` last held second next - RING; if main has not read
     * it yet, it is lost to the series (totals are unaffected) and counted. */
    uint64_t consumed = atomic_load_explicit(&s->consumed, memory_order_acquire);
    if (next >= METRICS_RING && consumed < next - METRICS_RING + 1)
        s->overruns++;
    interval_reset(&s->ring[next % METRICS_RING]);
    s->cur = next;
}

bool metrics_interval_ready(metrics_shard *s, uint64_t second)
{
    return atomic_load_explicit(&s->closed, memory_order_acquire) > second;
}

const metrics_interval *metrics_interval_get(metrics_shard *s, uint64_t second)
{
    return &s->ring[second % METRICS_RING];
}

void metrics_interval_release(metrics_shard *s, uint64_t second)
{
    atomic_store_explicit(&s->consumed, second + 1, memory_order_release);
}
