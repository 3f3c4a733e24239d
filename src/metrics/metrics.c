/* metrics: per-worker shard, counts and interval hand-off (see metrics.h).
 * The hand-off is a single-producer single-consumer ring: the worker
 * publishes `closed` with release order after finishing a slot, the main
 * thread publishes `consumed` after reading it. */
#include "metrics/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
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
    [ERRK_DECODE] = "decode_error",
    [ERRK_PROXY] = "proxy_error",
    [ERRK_H2_NO_ERROR + 0x0] = "h2_no_error",
    [ERRK_H2_NO_ERROR + 0x1] = "h2_protocol_error",
    [ERRK_H2_NO_ERROR + 0x2] = "h2_internal_error",
    [ERRK_H2_NO_ERROR + 0x3] = "h2_flow_control_error",
    [ERRK_H2_NO_ERROR + 0x4] = "h2_settings_timeout",
    [ERRK_H2_NO_ERROR + 0x5] = "h2_stream_closed",
    [ERRK_H2_NO_ERROR + 0x6] = "h2_frame_size_error",
    [ERRK_H2_NO_ERROR + 0x7] = "h2_refused_stream",
    [ERRK_H2_NO_ERROR + 0x8] = "h2_cancel",
    [ERRK_H2_NO_ERROR + 0x9] = "h2_compression_error",
    [ERRK_H2_NO_ERROR + 0xa] = "h2_connect_error",
    [ERRK_H2_NO_ERROR + 0xb] = "h2_enhance_your_calm",
    [ERRK_H2_NO_ERROR + 0xc] = "h2_inadequate_security",
    [ERRK_H2_NO_ERROR + 0xd] = "h2_http_1_1_required",
    [ERRK_H2_OTHER] = "h2_error",
};

err_kind metrics_err_kind_h2(uint32_t code)
{
    return code <= 0xd ? (err_kind)(ERRK_H2_NO_ERROR + (int)code) : ERRK_H2_OTHER;
}

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

#define METRICS_DIST_INFO(E, n, j, l, s) [METRICS_DIST_##E] = {n, j, l, s},
const metrics_dist_info metrics_dists[METRICS_DIST_COUNT] = {METRICS_DISTS(METRICS_DIST_INFO)};
#undef METRICS_DIST_INFO

/* The named fields of METRICS_DIST_FIELDS alias the first entries. */
struct dist_check {
    METRICS_DIST_FIELDS;
};
_Static_assert(offsetof(struct dist_check, tls_handshake) ==
                   METRICS_DIST_TLS_HANDSHAKE * sizeof(hist *) &&
               offsetof(struct dist_check, service) == METRICS_DIST_SERVICE * sizeof(hist *),
               "METRICS_DIST_FIELDS names out of order");

int metrics_dist_from_name(const char *name, size_t len)
{
    for (int i = 0; i < METRICS_DIST_COUNT; i++)
        if (strlen(metrics_dists[i].name) == len && !strncmp(metrics_dists[i].name, name, len))
            return i;
    return -1;
}

int metrics_dists_new(hist **d)
{
    int rc = 0;
    for (int i = 0; i < METRICS_DIST_COUNT; i++)
        if (!(d[i] = hist_new()))
            rc = VOLLEY_ENOMEM;
    return rc;
}

void metrics_dists_free(hist **d)
{
    for (int i = 0; i < METRICS_DIST_COUNT; i++) {
        hist_free(d[i]);
        d[i] = NULL;
    }
}

void metrics_dists_merge(hist **dst, hist *const *src)
{
    for (int i = 0; i < METRICS_DIST_COUNT; i++)
        hist_merge(dst[i], src[i]);
}

void metrics_status_set_default(metrics_status_set *s)
{
    memset(s, 0, sizeof *s);
    for (int c = 200; c < 400; c++)
        s->bits[c / 64] |= 1ull << (c % 64);
}

static int status_code(const char *tok, const char *what, err *e)
{
    char *end;
    long v = strtol(tok, &end, 10);
    if (end == tok || *end || v < 100 || v > 599)
        return err_set(e, VOLLEY_EINVAL, "%s: '%s' is not a status code (100-599)", what, tok), -1;
    return (int)v;
}

int metrics_status_set_parse(metrics_status_set *s, const char *text, const char *what, err *e)
{
    char tmp[512];
    if (strlen(text) >= sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "%s: list too long", what);
    snprintf(tmp, sizeof tmp, "%s", text);
    memset(s, 0, sizeof *s);
    bool any = false;
    for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        if (dash)
            *dash = 0;
        int lo = status_code(tok, what, e), hi = dash ? status_code(dash + 1, what, e) : lo;
        if (lo < 0 || hi < 0)
            return VOLLEY_EINVAL;
        if (hi < lo)
            return err_set(e, VOLLEY_EINVAL, "%s: range %d-%d is empty", what, lo, hi);
        for (int c = lo; c <= hi; c++)
            s->bits[c / 64] |= 1ull << (c % 64);
        any = true;
    }
    if (!any)
        return err_set(e, VOLLEY_EINVAL, "%s: empty list", what);
    return 0;
}

bool metrics_status_ok(const metrics_status_set *s, int status)
{
    if ((unsigned)status >= METRICS_STATUS_MAX)
        return false;
    if (!s)
        return status >= 200 && status < 400;
    return (s->bits[status / 64] >> (status % 64)) & 1;
}

double metrics_ok_pct(const metrics_totals *t)
{
    if (!t->requests)
        return NAN;
    return 100.0 * (double)(t->requests - t->errors) / (double)t->requests;
}

void metrics_totals_add(metrics_totals *dst, const metrics_totals *src)
{
    dst->requests += src->requests;
    dst->responses += src->responses;
    dst->errors += src->errors;
    dst->transport_errors += src->transport_errors;
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
    dst->write_errors += src->write_errors;
    dst->bytes_decoded += src->bytes_decoded;
    dst->redirects += src->redirects;
    dst->h2_conns += src->h2_conns;
    dst->h2_responses += src->h2_responses;
    if (src->h2_max_streams && (!dst->h2_max_streams || src->h2_max_streams < dst->h2_max_streams))
        dst->h2_max_streams = src->h2_max_streams;
    dst->wire_in += src->wire_in;
    dst->wire_out += src->wire_out;
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
    bool ok = metrics_dists_new(s->dist) == 0;
    for (int i = 0; i < METRICS_RING; i++)
        ok = ok && (s->ring[i].latency = hist_new()) != NULL &&
             (s->ring[i].send_lag = hist_new()) != NULL;
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
    metrics_dists_free(s->dist);
    for (int i = 0; i < METRICS_RING; i++) {
        hist_free(s->ring[i].latency);
        hist_free(s->ring[i].send_lag);
        hist_free(s->ring[i].ws_rtt);
    }
    free(s);
}

void metrics_record_response(metrics_shard *s, const metrics_sample *m)
{
    metrics_totals *t = &s->tot;
    bool failed = !metrics_status_ok(s->ok, m->status);
    t->requests++;
    t->responses++;
    t->errors += failed;
    t->status[(unsigned)m->status < METRICS_STATUS_MAX ? m->status : 0]++;
    t->bytes_in += m->bytes_in;
    t->bytes_out += m->bytes_out;
    t->chunks += m->chunks;
    hist_record(s->latency, m->latency_ns);
    if (!failed)
        hist_record(s->dist[METRICS_DIST_LATENCY_OK], m->latency_ns);
    hist_record(s->service, m->service_ns);
    hist_record(s->ttfb, m->ttfb_ns);
    if (m->decoded)
        t->bytes_decoded += m->bytes_decoded;
    if (m->encoded)
        hist_record(s->dist[METRICS_DIST_DECODE], m->decode_ns);
    if (m->first_body_ns)
        hist_record(s->dist[METRICS_DIST_FIRST_BODY], m->first_body_ns);
    metrics_interval *iv = metrics_cur(s);
    iv->requests++;
    iv->responses++;
    iv->errors += failed;
    iv->status_class[metrics_status_class(m->status)]++;
    iv->bytes_in += m->bytes_in;
    iv->bytes_out += m->bytes_out;
    hist_record(iv->latency, m->latency_ns);
    atomic_store_explicit(&s->live_requests, t->requests, memory_order_relaxed);
    if (failed)
        atomic_store_explicit(&s->live_errors, t->errors, memory_order_relaxed);
}

void metrics_record_dropped(metrics_shard *s)
{
    s->tot.dropped++;
    metrics_cur(s)->dropped++;
}

void metrics_record_retry(metrics_shard *s)
{
    s->tot.retries++;
    metrics_cur(s)->retries++;
}

void metrics_record_error(metrics_shard *s, err_kind k, uint64_t bytes_in, uint64_t bytes_out)
{
    metrics_totals *t = &s->tot;
    t->requests++;
    t->errors++;
    t->transport_errors++;
    unsigned kind = (unsigned)k < ERRK_COUNT ? k : ERRK_PARSE;
    t->err_kind[kind]++;
    t->bytes_in += bytes_in;
    t->bytes_out += bytes_out;
    metrics_interval *iv = metrics_cur(s);
    iv->err_kind[kind]++;
    iv->requests++;
    iv->errors++;
    iv->transport_errors++;
    iv->bytes_in += bytes_in;
    iv->bytes_out += bytes_out;
    atomic_store_explicit(&s->live_requests, t->requests, memory_order_relaxed);
    atomic_store_explicit(&s->live_errors, t->errors, memory_order_relaxed);
}

void metrics_record_failure(metrics_shard *s, err_kind k, uint64_t latency_ns, uint64_t bytes_in,
                            uint64_t bytes_out)
{
    if (k == ERRK_TIMEOUT || k == ERRK_CONNECT_TIMEOUT) {
        hist_record(s->latency, latency_ns);
        hist_record(metrics_cur(s)->latency, latency_ns);
    }
    metrics_record_error(s, k, bytes_in, bytes_out);
}

void metrics_record_connect(metrics_shard *s, uint64_t connect_ns)
{
    s->tot.connects++;
    hist_record(s->connect, connect_ns);
}

void metrics_record_send_lag(metrics_shard *s, uint64_t lag_ns)
{
    hist_record(s->send_lag, lag_ns);
    hist_record(metrics_cur(s)->send_lag, lag_ns);
}

void metrics_record_ws(metrics_shard *s, metrics_ws_event ev)
{
    metrics_interval *iv = metrics_cur(s);
    switch (ev) {
    case METRICS_WS_OPENED:
        iv->ws_opened++;
        iv->ws_open = ++s->ws_open;
        break;
    case METRICS_WS_CLOSED:
        iv->ws_closed++;
        iv->ws_open = s->ws_open ? --s->ws_open : 0;
        break;
    case METRICS_WS_SENT: iv->ws_sent++; break;
    case METRICS_WS_RECEIVED: iv->ws_received++; break;
    }
}

void metrics_record_ws_rtt(metrics_shard *s, uint64_t rtt_ns)
{
    metrics_interval *iv = metrics_cur(s);
    iv->ws_rtts++; /* counted even if the histogram cannot be made */
    if (!iv->ws_rtt)
        iv->ws_rtt = hist_new();
    if (iv->ws_rtt)
        hist_record(iv->ws_rtt, rtt_ns);
}

static void interval_reset(metrics_interval *iv)
{
    hist_reset(iv->latency);
    hist_reset(iv->send_lag);
    if (iv->ws_rtt)
        hist_reset(iv->ws_rtt);
    iv->ws_opened = iv->ws_closed = iv->ws_sent = iv->ws_received = iv->ws_rtts = 0;
    iv->requests = iv->responses = iv->errors = iv->transport_errors = iv->bytes_in = iv->bytes_out = iv->dropped =
        iv->retries = 0;
    memset(iv->status_class, 0, sizeof iv->status_class);
    memset(iv->err_kind, 0, sizeof iv->err_kind);
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
    /* Slots main has read are cleared now, not when they are reused, so a
     * stall's histogram pages (which hist_reset gives back) stay resident
     * for a second or two instead of a whole turn of the ring. The slots
     * hold seconds [next - RING, next - 1]; main never reads a second
     * again once it has released it. */
    uint64_t oldest = next >= METRICS_RING ? next - METRICS_RING : 0;
    if (s->cleared < oldest)
        s->cleared = oldest;
    for (; s->cleared < consumed && s->cleared < next; s->cleared++)
        interval_reset(&s->ring[s->cleared % METRICS_RING]);
    interval_reset(&s->ring[next % METRICS_RING]);
    s->ring[next % METRICS_RING].ws_open = s->ws_open;
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
