/*
 * cli/resolve.c — APP on the command line to an app id. Entry point: cli_resolve().
 *
 * The daemon accepts an id or a pid in its URLs, but not a name, and it cannot say "ambiguous": so the client
 * resolves every APP itself from GET /api/v1/apps, with these rules, in order:
 *   1. all digits: the app with that id, else the app(s) with that pid;
 *   2. otherwise: the apps with that name.
 * Among several matches the connected ones win; entries of one pid (an agent that reconnected gets a new id) count
 * as one, the newest. More than one left is an error that lists the candidates.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_is_number(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static void fill(cli_app *a, const cJSON *e)
{
    a->id = (long long)jnum(e, "id", 0);
    a->pid = (long long)jnum(e, "pid", 0);
    a->connected = jbool(e, "connected", false);
    snprintf(a->name, sizeof(a->name), "%s", jstr(e, "name", "?"));
}

static void set_subject(cli_ctx *c, const cli_app *a)
{
    snprintf(c->subject, sizeof(c->subject), "app '%s' (id %lld, pid %lld)", a->name, a->id, a->pid);
}

int cli_resolve(cli_ctx *c, const char *spec, cli_app *out)
{
    cli_reply r;
    if (cli_get_apps(c, &r) != CLI_OK)
        return CLI_FAIL;
    const cJSON *apps = jget(r.json, "apps"), *e;
    size_t n = (size_t)cJSON_GetArraySize(apps);
    cli_app *cand = calloc(n ? n : 1, sizeof(*cand));
    if (!cand) {
        cli_reply_free(&r);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    size_t m = 0;
    bool numeric = cli_is_number(spec);
    long long num = numeric ? strtoll(spec, NULL, 10) : -1;
    if (numeric) {
        cJSON_ArrayForEach(e, apps) if (jnum(e, "id", -1) == (double)num) fill(&cand[m++], e);
        if (m == 0)
            cJSON_ArrayForEach(e, apps) if (jnum(e, "pid", -1) == (double)num) fill(&cand[m++], e);
    }
    if (m == 0)
        cJSON_ArrayForEach(e, apps) if (strcmp(jstr(e, "name", ""), spec) == 0) fill(&cand[m++], e);
    cli_reply_free(&r);

    /* Keep the connected ones if any; then one entry per pid, the newest (highest id). */
    size_t nconn = 0;
    for (size_t i = 0; i < m; i++)
        nconn += cand[i].connected;
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (nconn && !cand[i].connected)
            continue;
        size_t j = 0;
        while (j < k && cand[j].pid != cand[i].pid)
            j++;
        if (j == k)
            cand[k++] = cand[i];
        else if (cand[i].id > cand[j].id)
            cand[j] = cand[i];
    }
    int rc = CLI_OK;
    if (k == 0) {
        cli_error("app '%s' not found (see memscope ls)", spec);
        rc = CLI_FAIL;
    } else if (k > 1) {
        /* One line: "app name 'x' is ambiguous: id 1 (pid 10), id 2 (pid 11); give an id or a pid". */
        fprintf(stderr, "memscope: app name '%s' is ambiguous:", spec);
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, "%s id %lld (pid %lld%s)", i ? "," : "", cand[i].id, cand[i].pid,
                    cand[i].connected ? "" : ", disconnected");
        fputs("; give an id or a pid\n", stderr);
        rc = CLI_FAIL;
    } else {
        *out = cand[0];
        set_subject(c, out);
    }
    free(cand);
    return rc;
}
