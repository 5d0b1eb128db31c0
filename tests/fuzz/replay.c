/*
 * replay.c - runs a libFuzzer harness over committed inputs, without
 * libFuzzer: `replay DIR|FILE ...` calls LLVMFuzzerInitialize once, then
 * LLVMFuzzerTestOneInput on every file, in name order. A harness aborts on
 * what it finds; a clean exit means every input passed. `make test` builds
 * it with the ordinary compiler, so the corpus is checked in both flavours
 * (plain and ASan+UBSan).
 *
 * The inputs run on a thread with the engine's 1 GiB stack: what the
 * harnesses call in this process (jq values hundreds of thousands of
 * levels deep, say) is sized for the engine thread, not for a main
 * thread's 8 MiB.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A harness may have no initializer (libFuzzer's is optional too). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A harness may say what it did, for the closing line. */
void fuzz_replay_report(int inputs) __attribute__((weak));

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(1);
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (!n)
            break;
        len += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

typedef struct {
    int argc;
    char **argv;
    int status;
} run_args;

static void *run(void *arg);

int main(int argc, char **argv)
{
    run_args a = { argc, argv, 1 };
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)1 << 30);
    if (pthread_create(&t, &attr, run, &a) != 0) {
        fprintf(stderr, "replay: cannot start the thread\n");
        return 1;
    }
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    return a.status;
}

static void *run(void *arg)
{
    run_args *a = arg;
    int argc = a->argc;
    char **argv = a->argv;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no %s\n", argv[i]);
            return NULL;
        }
        if (!S_ISDIR(st.st_mode)) {
            files += replay_file(argv[i]);
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, by_name);
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                files += replay_file(path);
            }
            free(names[k]);
        }
        free(names);
    }
    if (fuzz_replay_report)
        fuzz_replay_report(files);
    else
        printf("replay: %s: %d inputs passed\n", argc > 1 ? argv[1] : "", files);
    a->status = files ? 0 : 1;
    return NULL;
}
