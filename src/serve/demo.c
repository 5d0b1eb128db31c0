/*
 * demo.c - `serve --demo`: the people and workflows of the quick start.
 *
 * Everything goes through the engine as an admin's commands would, so the
 * demo is audited like anything else, and loading it twice changes nothing
 * (existing users are kept; identical workflows keep their version).
 */
#include "serve/demo.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static const struct { const char *name, *team; } demo_people[] = {
    { "alice", "finance" },
    { "bob", "support-leads" },
    { "carol", "editors" },
    { "dan", "editors" },       /* breaking news (publish-content) needs two editors */
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (cap - n < 4096) {
            char *grown = realloc(buf, cap = cap * 2 + 8192);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_workflow_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static void apply_examples(engine *e, const principal *admin, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) {
        log_warn("demo: cannot read %s (%s): no example workflows loaded; --examples DIR names them",
                 dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (is_workflow_file(name)) {
            char path[4096];
            size_t len = 0;
            snprintf(path, sizeof path, "%s/%s", dir, name);
            char *text = read_file(path, &len);
            if (text) {
                bool json = strcmp(name + strlen(name) - 5, ".json") == 0;
                json_t *args = json_pack("{s:s, s:s}", "source", text, "format",
                                         json ? "json" : "yaml");
                json_t *reply = NULL;
                int status = engine_call(e, ENGINE_APPLY_WORKFLOW, admin, args, &reply);
                if (status >= 300)
                    log_warn("demo: %s not applied: %s", path,
                             json_string_value(json_object_get(json_object_get(reply, "error"),
                                                               "message")));
                else
                    log_info("demo: applied %s as %s version %d", path,
                             json_string_value(json_object_get(reply, "name")),
                             (int)json_integer_value(json_object_get(reply, "version")));
                json_decref(args);
                json_decref(reply);
                free(text);
            }
        }
        free(names[i]);
    }
    free(names);
}

void demo_load(engine *e, const principal *admin, const char *examples_dir)
{
    for (size_t i = 0; i < sizeof demo_people / sizeof demo_people[0]; i++) {
        char *hash = auth_password_hash("demo");
        json_t *args = json_pack("{s:s, s:s?, s:s, s:[s], s:s}", "name", demo_people[i].name,
                                 "password_hash", hash, "email", "", "teams",
                                 demo_people[i].team, "role", "member");
        free(hash);
        char email[128];
        snprintf(email, sizeof email, "%s@example.com", demo_people[i].name);
        json_object_set_new(args, "email", json_string(email));
        json_t *reply = NULL;
        int status = engine_call(e, ENGINE_CREATE_USER, admin, args, &reply);
        if (status != 201 && status != 409)
            log_warn("demo: user %s not created (%d)", demo_people[i].name, status);
        json_decref(args);
        json_decref(reply);
    }
    apply_examples(e, admin, examples_dir);
}
