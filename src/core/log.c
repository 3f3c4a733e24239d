/* log: leveled messages to stderr (see log.h). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static volatile log_level current = LOG_INFO;

void log_set_level(log_level lvl) { current = lvl; }
log_level log_get_level(void) { return current; }

void log_msg(log_level lvl, const char *fmt, ...)
{
    if (lvl < current)
        return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    char line[1024];
    int n = snprintf(line, sizeof line, "volley: %s: ", names[lvl]);
    if (lvl == LOG_INFO)
        n = snprintf(line, sizeof line, "volley: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write(2) so lines from several threads do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
