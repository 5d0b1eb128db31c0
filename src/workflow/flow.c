/*
 * flow.c - cycles that would spin a run forever.
 *
 * A run may loop (rework after a rejection is normal) as long as every loop
 * passes a place where it waits for the world: a gate or a wait step. So
 * those steps are taken out of the graph of next / switch /
 * on_error edges, and every strongly connected component left that still
 * holds a cycle is reported once, with one concrete cycle through it:
 *     steps a -> b -> a form a cycle with no wait or gate
 * (on_reject and on_timeout edges leave gated steps, which are out already.)
 */
#include "workflow/wf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a run stops for people or for time. */
static bool pauses(const step_def *s)
{
    return s->gate || s->kind == STEP_WAIT;
}

typedef struct {
    const workflow *wf;
    int *index, *low, *comp, *stack;
    bool *on_stack;
    int counter, sp, ncomp;
} tarjan;

/* The outgoing edges of step i among ungated steps; returns how many. */
static size_t edges(const workflow *wf, size_t i, int *out, size_t cap)
{
    const step_def *s = &wf->steps[i];
    size_t n = 0;
    if (pauses(s))
        return 0;
    if (s->kind == STEP_SWITCH) {
        for (size_t k = 0; k < s->u.sw.ncases && n < cap; k++)
            out[n++] = s->u.sw.cases[k].next;
    } else if (s->kind != STEP_SUCCEED && s->kind != STEP_FAIL && n < cap) {
        out[n++] = s->next;
    }
    if (n < cap)
        out[n++] = s->on_error;
    size_t kept = 0;
    for (size_t k = 0; k < n; k++)
        if (out[k] >= 0 && (size_t)out[k] < wf->nsteps && !pauses(&wf->steps[out[k]]))
            out[kept++] = out[k];
    return kept;
}

/* Room for every edge a step can have: its switch cases plus on_error. */
static size_t edge_cap(const step_def *s)
{
    return (s->kind == STEP_SWITCH ? s->u.sw.ncases : 1) + 1;
}

static void strongconnect(tarjan *t, int v)
{
    t->index[v] = t->low[v] = t->counter++;
    t->stack[t->sp++] = v;
    t->on_stack[v] = true;
    size_t cap = edge_cap(&t->wf->steps[v]);
    int *out = malloc(cap * sizeof *out);
    size_t n = out ? edges(t->wf, (size_t)v, out, cap) : 0;
    for (size_t k = 0; k < n; k++) {
        int w = out[k];
        if (t->index[w] < 0) {
            strongconnect(t, w);
            if (t->low[w] < t->low[v])
                t->low[v] = t->low[w];
        } else if (t->on_stack[w] && t->index[w] < t->low[v]) {
            t->low[v] = t->index[w];
        }
    }
    free(out);
    if (t->low[v] == t->index[v]) {
        int w;
        do {
            w = t->stack[--t->sp];
            t->on_stack[w] = false;
            t->comp[w] = t->ncomp;
        } while (w != v);
        t->ncomp++;
    }
}

/* Shortest path r -> ... -> r inside r's component, found breadth first. */
static void report_cycle(wf_ctx *c, const workflow *wf, const int *comp, int r)
{
    size_t n = wf->nsteps;
    int *prev = malloc(n * sizeof *prev), *queue = malloc(n * sizeof *queue);
    int *out = NULL;
    if (!prev || !queue)
        goto out;
    for (size_t i = 0; i < n; i++)
        prev[i] = -2;
    size_t head = 0, tail = 0;
    int last = -1;
    queue[tail++] = r;
    while (head < tail && last < 0) {
        int v = queue[head++];
        size_t cap = edge_cap(&wf->steps[v]);
        free(out);
        if (!(out = malloc(cap * sizeof *out)))
            goto out;
        size_t m = edges(wf, (size_t)v, out, cap);
        for (size_t k = 0; k < m; k++) {
            int w = out[k];
            if (comp[w] != comp[r])
                continue;
            if (w == r) {
                last = v;
                break;
            }
            if (prev[w] == -2) {
                prev[w] = v;
                queue[tail++] = w;
            }
        }
    }
    if (last < 0)
        goto out;
    /* Walk back from last to r, then print r -> ... -> last -> r. */
    size_t len = 0;
    for (int v = last; v != r; v = prev[v])
        queue[len++] = v;
    char msg[SP_ERROR_MESSAGE_MAX / 2];
    size_t used = (size_t)snprintf(msg, sizeof msg, "steps %s", wf->steps[r].id);
    for (size_t k = len; k-- > 0 && used < sizeof msg;)
        used += (size_t)snprintf(msg + used, sizeof msg - used, " -> %s",
                                 wf->steps[queue[k]].id);
    if (used < sizeof msg)
        snprintf(msg + used, sizeof msg - used, " -> %s", wf->steps[r].id);
    char path[WF_PATH_MAX];
    wf_path_index(path, "steps", (size_t)r);
    wf_problem(c, path, "%s form a cycle with no wait or gate", msg);
out:
    free(out);
    free(prev);
    free(queue);
}

void wf_flow_check_cycles(wf_ctx *c, const workflow *wf)
{
    size_t n = wf->nsteps;
    tarjan t = { .wf = wf };
    t.index = malloc(n * sizeof(int));
    t.low = malloc(n * sizeof(int));
    t.comp = malloc(n * sizeof(int));
    t.stack = malloc(n * sizeof(int));
    t.on_stack = calloc(n, sizeof(bool));
    bool *reported = calloc(n, sizeof(bool));
    if (!t.index || !t.low || !t.comp || !t.stack || !t.on_stack || !reported)
        goto out;
    for (size_t i = 0; i < n; i++)
        t.index[i] = -1;
    for (size_t i = 0; i < n; i++)
        if (t.index[i] < 0 && !pauses(&wf->steps[i]))
            strongconnect(&t, (int)i);

    /* A component holds a cycle when it has two steps or a self-loop; the
     * lowest-numbered step of each names it. */
    for (size_t i = 0; i < n; i++) {
        if (pauses(&wf->steps[i]) || reported[t.comp[i]])
            continue;
        int cycle = 0;
        for (size_t j = i + 1; j < n && !cycle; j++)
            if (!pauses(&wf->steps[j]) && t.comp[j] == t.comp[i])
                cycle = 1;
        if (!cycle) {
            int out[2];
            size_t cap = edge_cap(&wf->steps[i]);
            int *e = cap <= 2 ? out : malloc(cap * sizeof *e);
            size_t m = e ? edges(wf, i, e, cap) : 0;
            for (size_t k = 0; k < m; k++)
                if ((size_t)e[k] == i)
                    cycle = 1;
            if (e != out)
                free(e);
        }
        reported[t.comp[i]] = true;
        if (cycle)
            report_cycle(c, wf, t.comp, (int)i);
    }
out:
    free(t.index);
    free(t.low);
    free(t.comp);
    free(t.stack);
    free(t.on_stack);
    free(reported);
}
