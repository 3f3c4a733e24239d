/* flags: see flags.h. The help text wraps each row's sentence at 79
 * columns after a 27-column flag field; Markdown keeps it on one line and
 * adds the modes column, so the README table is generated, never edited. */
#include "cmd/flags.h"

#include <string.h>

void flags_getopt(const flag_def *t, size_t n, struct option *opts, char *shorts, size_t cap)
{
    size_t k = 0;
    if (cap)
        shorts[k++] = ':';
    for (size_t i = 0; i < n; i++) {
        opts[i] = (struct option){t[i].name, t[i].arg ? required_argument : no_argument, NULL,
                                  t[i].id};
        if (t[i].short_name && k + 3 < cap) {
            shorts[k++] = t[i].short_name;
            if (t[i].arg)
                shorts[k++] = ':';
        }
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
    shorts[k < cap ? k : cap - 1] = 0;
}

const flag_def *flags_find(const flag_def *t, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].id == id)
            return &t[i];
    return NULL;
}

void flags_spec(const flag_def *f, char *out, size_t cap)
{
    char s[8] = "    ";
    if (f->short_name)
        snprintf(s, sizeof s, "-%c, ", f->short_name);
    snprintf(out, cap, "%s--%s%s%s", s, f->name, f->arg ? " " : "", f->arg ? f->arg : "");
}

/* Words of text, wrapped to width after an indent of col. */
static void wrap(FILE *out, const char *text, size_t col, size_t width)
{
    size_t x = col;
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fprintf(out, "\n%*s", (int)col, "");
            x = col, p++;
            continue;
        }
        size_t w = strcspn(p, " \n");
        if (x > col && x + 1 + w > width) {
            fprintf(out, "\n%*s", (int)col, "");
            x = col;
        } else if (x > col) {
            fputc(' ', out);
            x++;
        }
        fwrite(p, 1, w, out);
        x += w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

void flags_print_help(FILE *out, const flag_def *t, size_t n)
{
    const char *section = NULL;
    for (size_t i = 0; i < n; i++) {
        if (t[i].section && (!section || strcmp(section, t[i].section))) {
            section = t[i].section;
            fprintf(out, "%s:\n", section);
        }
        char spec[96];
        flags_spec(&t[i], spec, sizeof spec);
        fprintf(out, "  %-24s", spec);
        if (strlen(spec) > 24)
            fprintf(out, "\n%27s", "");
        else
            fputc(' ', out);
        char text[600];
        snprintf(text, sizeof text, "%s%s", t[i].help,
                 t[i].modes == FLAG_URL ? " [URL runs]" : t[i].modes == FLAG_SCRIPT ? " [scripts]" : "");
        wrap(out, text, 27, 79);
    }
}

static const char *modes_text(unsigned m)
{
    return m == FLAG_BOTH ? "both" : m == FLAG_URL ? "URL" : m == FLAG_SCRIPT ? "script" : "-";
}

static void md_text(FILE *out, const char *s)
{
    for (; *s; s++)
        if (*s == '|')
            fputs("\\|", out);
        else
            fputc(*s == '\n' ? ' ' : *s, out);
}

void flags_print_markdown(FILE *out, const flag_def *t, size_t n)
{
    fputs("| flag | applies to | meaning |\n|---|---|---|\n", out);
    for (size_t i = 0; i < n; i++) {
        char spec[96];
        flags_spec(&t[i], spec, sizeof spec);
        const char *s = spec;
        while (*s == ' ')
            s++;
        fputs("| `", out);
        md_text(out, s);
        fprintf(out, "` | %s | ", modes_text(t[i].modes));
        md_text(out, t[i].help);
        if (t[i].script && (t[i].modes & FLAG_SCRIPT)) {
            fputs(" (script: ", out);
            md_text(out, t[i].script);
            fputc(')', out);
        }
        fputs(" |\n", out);
    }
}
