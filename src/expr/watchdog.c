/*
 * watchdog.c - stopping an evaluation that runs too long.
 *
 * libjq 1.6 has no step budget, but jq_next checks the state's "halted"
 * flag on every instruction. One watchdog thread, started on first use,
 * sleeps until the armed deadline and, if the evaluation is still running,
 * halts it with jq_halt. The mutex makes arm/disarm and the halt exclusive,
 * so once disarm returns the watchdog no longer touches that jq_state.
 * Only the engine thread evaluates, so there is at most one armed state.
 */
#include "expr/expr_internal.h"

#include <pthread.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed;
static bool running;            /* the thread started */
static bool idle;               /* the thread waits for an arm, untimed */
static jq_state *armed;         /* NULL when nothing is being evaluated */
static unsigned long generation; /* one per arm, so an old deadline is ignored */
static struct timespec deadline;
static bool fired;

static bool passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Disarming does not signal: the thread wakes at the old deadline at most
 * once, finds a newer generation or nothing armed, and goes on. So a stream
 * of short evaluations costs no wake-ups beyond one per time limit. */
static void *watch(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (!armed) {
            idle = true;
            pthread_cond_wait(&changed, &lock);
            idle = false;
            continue;
        }
        unsigned long gen = generation;
        struct timespec until = deadline;
        pthread_cond_timedwait(&changed, &lock, &until);
        if (armed && generation == gen && !fired && passed(&until)) {
            fired = true;
            /* Values that own no memory: libjq 1.6 frees the exit code
             * and message on every later reset without forgetting them. */
            jq_halt(armed, jv_number(1), jv_null());
        }
    }
    return NULL;
}

static void start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);

    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    running = pthread_create(&t, &ta, watch, NULL) == 0;
    pthread_attr_destroy(&ta);
}

void expr_watchdog_arm(jq_state *jq)
{
    pthread_once(&once, start);
    if (!running)
        return;
    pthread_mutex_lock(&lock);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += EXPR_TIME_LIMIT_MS / 1000;
    deadline.tv_nsec += (long)(EXPR_TIME_LIMIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    armed = jq;
    generation++;
    fired = false;
    if (idle)
        pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
}

bool expr_watchdog_disarm(void)
{
    if (!running)
        return false;
    pthread_mutex_lock(&lock);
    bool was_fired = fired;
    armed = NULL;
    fired = false;
    pthread_mutex_unlock(&lock);
    return was_fired;
}
