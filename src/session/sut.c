/* sut: see sut.h. Readiness is a real request: a TCP connect alone passes
 * as soon as a listener exists, before the application behind it serves,
 * so the compiled request of the ready URL is sent and one byte awaited. */
#include "session/sut.h"

#include "core/clock.h"
#include "load/plan.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static bool answers(const addr *a, const buf *req)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = false;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
        char tmp[16];
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ok = send(fd, req->data, req->len, MSG_NOSIGNAL) == (ssize_t)req->len &&
             read(fd, tmp, sizeof tmp) > 0;
    }
    close(fd);
    return ok;
}

static int wait_answering(const char *ready, pid_t pid, err *e)
{
    static plan p; /* large; compiled only for its address and request */
    plan_init(&p);
    int rc = plan_add_endpoint_parts(&p, "ready", NULL, ready, "--ready", e) ? 0 : VOLLEY_EINVAL;
    if (!rc)
        rc = plan_compile(&p, e);
    uint64_t deadline = clock_now_ns() + 15 * NS_PER_S;
    while (!rc) {
        if (!proc_alive(pid))
            rc = err_set(e, VOLLEY_EINVAL, "--exec: the command exited before %s answered", ready);
        else if (answers(&p.targets[p.eps[0].target_idx], &p.eps[0].request))
            break;
        else if (clock_now_ns() >= deadline)
            rc = err_set(e, VOLLEY_EINVAL, "--exec: %s did not answer within 15s", ready);
        else
            clock_sleep_ns(50 * NS_PER_MS);
    }
    plan_free(&p);
    return rc;
}

int sut_start(sut *s, const char *exec_cmd, int monitor_pid, const char *ready_url, err *e)
{
    memset(s, 0, sizeof *s);
    s->exec_cmd = exec_cmd;
    if (exec_cmd) {
        if (!ready_url)
            return err_set(e, VOLLEY_EINVAL,
                           "--exec: with a script, give --ready URL (what to wait for)");
        s->exec_pid = proc_spawn(exec_cmd, e);
        if (s->exec_pid < 0) {
            s->exec_pid = 0;
            return VOLLEY_ESYS;
        }
        int rc = wait_answering(ready_url, s->exec_pid, e);
        if (rc)
            return rc;
    }
    int pid = monitor_pid ? monitor_pid : s->exec_pid;
    if (pid && !(s->mon = monitor_start(pid, 0.5, e)))
        return VOLLEY_EINVAL;
    return 0;
}

void sut_mark(sut *s)
{
    if (s->mon)
        monitor_mark(s->mon);
}

void sut_stop(sut *s, results *r)
{
    if (s->mon) {
        if (r)
            snprintf(r->monitor.command, sizeof r->monitor.command, "%s",
                     s->exec_cmd ? s->exec_cmd : "");
        results_monitor tmp = {0};
        monitor_stop(s->mon, r ? &r->monitor : &tmp);
        free(tmp.samples);
        s->mon = NULL;
    }
    if (s->exec_pid > 0) {
        proc_stop(s->exec_pid, 5000);
        s->exec_pid = 0;
    }
}
