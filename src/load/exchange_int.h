/* exchange_int: what the exchange's protocol drivers share with its generic
 * half (load/exchange.c): the FIFO of requests in flight, deadlines,
 * outcomes and error paths. Only exchange.c and exchange_h2.c include it;
 * workers and scripts see load/exchange.h alone. */
#ifndef VOLLEY_EXCHANGE_INT_H
#define VOLLEY_EXCHANGE_INT_H

#include "load/exchange.h"

/* Appends r to xc's requests in flight / takes r out (any position). */
void xch_fifo_push(xch_conn *xc, xch_req *r);
void xch_fifo_remove(xch_conn *xc, xch_req *r);
/* Empties the FIFO and returns its requests as a list (r->next). */
xch_req *xch_fifo_take(xch_conn *xc);

/* The deadline of r (0: none), and the connection's timer set to it. */
uint64_t xch_req_deadline(const xch_req *r);
void xch_arm(xch_conn *xc, uint64_t deadline);
/* r's first byte goes to the socket now. */
void xch_mark_sent(xch_req *r, uint64_t now);

/* r is out of the FIFO: its outcome to its owner (latency, done time). */
void xch_finish(xch_conn *xc, xch_req *r, xch_outcome *o);
/* r is out of the FIFO: recorded as error k and handed to its owner. */
void xch_fail_one(xch_conn *xc, xch_req *r, err_kind k, const char *msg);
/* A read or write error (negative errno) as its error kind; HTTP/1.1
 * semantics for the requests behind the head. */
void xch_io_error(xch_conn *xc, int status);
/* Closes the connection and sends what is in its FIFO again on a new one
 * (nothing is counted: the caller counted its retries). */
void xch_reopen(xch_conn *xc);
/* Notes the thread's first warning (shown at the end of the run). */
void xch_note_fatal(xch_conn *xc, const char *msg);

#endif
