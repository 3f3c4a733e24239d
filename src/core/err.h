/* err: error codes and an error value carrying a message with context.
 * Functions that can fail return 0 or a negative VOLLEY_E* code and fill an
 * `err *` (which may be NULL) with a human message naming what went wrong. */
#ifndef VOLLEY_ERR_H
#define VOLLEY_ERR_H

enum {
    VOLLEY_OK = 0,
    VOLLEY_EINVAL = -1,   /* bad argument or user input */
    VOLLEY_ESYS = -2,     /* a system call failed (errno in the message) */
    VOLLEY_ENOMEM = -3,   /* allocation failed */
    VOLLEY_EPARSE = -4,   /* malformed data (file, response, expression) */
    VOLLEY_ERANGE = -5,   /* a value outside what is allowed */
    VOLLEY_EAGAIN = -6,   /* need more data / try again */
    VOLLEY_EIO = -7,      /* read or write of a file failed */
};

#define ERR_MSG_MAX 512

typedef struct err {
    int code;
    char msg[ERR_MSG_MAX];
} err;

/* Stores code and a printf-style message in e (if e is not NULL); returns
 * code so callers can `return err_set(e, VOLLEY_EINVAL, "...")`. */
int err_set(err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, appending ": strerror(errno)"; returns VOLLEY_ESYS. */
int err_sys(err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short constant description of a code. */
const char *err_str(int code);

/* Clears e. */
void err_clear(err *e);

#endif
