/* httpd: a tiny HTTP/1.1 server on a thread and epoll loop of its own, for
 * the live outputs: GET /metrics (Prometheus text), GET / (the dashboard
 * page), GET /events (Server-Sent Events, one event a second). The main
 * thread publishes a new snapshot text with httpd_publish; the server thread
 * only copies it, so a slow or stuck client never reaches the load (a client
 * that falls too far behind is dropped and counted). */
#ifndef VOLLEY_HTTPD_H
#define VOLLEY_HTTPD_H

#include "core/err.h"
#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

typedef struct httpd httpd;

/* Listens on a (any address; the caller decides what is allowed) and
 * starts the thread. page is served at / and must outlive the server. */
httpd *httpd_start(const addr *a, const char *page, err *e);
/* The bound port (useful with port 0). */
uint16_t httpd_port(const httpd *h);
/* Replaces what /metrics serves and sends event (a JSON text) to every
 * /events client. Either may be NULL to keep the previous one. */
void httpd_publish(httpd *h, const char *metrics, size_t mlen, const char *event, size_t elen);
/* From now on GET /report serves this HTML (the run's report). */
void httpd_set_report(httpd *h, const char *html, size_t len);
/* Sends what is pending (for at most a moment), closes every client and
 * the listener, joins the thread and frees h. NULL is a no-op. */
void httpd_stop(httpd *h);
/* Clients dropped because they could not keep up. */
uint64_t httpd_dropped_clients(const httpd *h);

#endif
