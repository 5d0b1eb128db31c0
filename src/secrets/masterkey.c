/*
 * masterkey.c - finding the master key at start-up: the environment, a key
 * file (created on first start), or a key for this process only.
 *
 * The key file holds the key as 64 hex digits and a newline (base64 is
 * accepted too, as for SPOJIT_MASTER_KEY). It is created with O_EXCL and
 * mode 0600, written, fsync'ed, and its directory fsync'ed: losing the key
 * loses every secret, so it must be on disk before a secret is sealed with
 * it. An existing file is refused when group or others have any access:
 * anyone who can read it can read every secret in a copy of the database.
 */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 256        /* bytes read from a key file: a key is 64 */

char *secrets_default_key_file(const char *db_url)
{
    if (!db_url)
        return NULL;
    /* fault:N:URL wraps another store (tests): the key goes beside that one. */
    if (strncmp(db_url, "fault:", 6) == 0) {
        const char *inner = strchr(db_url + 6, ':');
        return inner ? secrets_default_key_file(inner + 1) : NULL;
    }
    if (strncmp(db_url, "sqlite:", 7) != 0)
        return NULL;
    const char *path = db_url + 7;
    if (!*path || strcmp(path, ":memory:") == 0)
        return NULL;
    size_t n = strlen(path);
    char *out = malloc(n + sizeof ".key");
    if (out) {
        memcpy(out, path, n);
        memcpy(out + n, ".key", sizeof ".key");
    }
    return out;
}

static char *dup_printf(const char *fmt, const char *a)
{
    size_t n = strlen(fmt) + (a ? strlen(a) : 0) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a ? a : "");
    return s;
}

static sp_code read_key_file(const char *path, const char *what, int fd, secrets_key **key,
                             sp_error *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return sp_error_set(err, SP_EUNAVAIL, "%s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return sp_error_set(err, SP_EINVALID, "%s %s: not a regular file", what, path);
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
        return sp_error_set(err, SP_EINVALID,
                            "%s %s: group or others may access it (mode %04o); "
                            "it must be private to the user spojit runs as: chmod 600 %s",
                            what, path, (unsigned)(sb.st_mode & 07777), path);
    char buf[KEY_FILE_MAX + 1];
    size_t len = 0;
    ssize_t got;
    while (len < KEY_FILE_MAX &&
           (got = read(fd, buf + len, KEY_FILE_MAX - len)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            sodium_memzero(buf, sizeof buf);
            return sp_error_set(err, SP_EUNAVAIL, "%s %s: %s", what, path, strerror(errno));
        }
        len += (size_t)got;
    }
    buf[len] = '\0';
    char where[600];
    snprintf(where, sizeof where, "%s %s", what, path);
    sp_code rc = secrets_key_parse(buf, where, key, err);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

sp_code secrets_key_read_file(const char *path, const char *what, secrets_key **key,
                              sp_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sp_error_set(err, errno == ENOENT ? SP_EINVALID : SP_EUNAVAIL,
                            "cannot open the %s %s: %s", what, path, strerror(errno));
    sp_code rc = read_key_file(path, what, fd, key, err);
    close(fd);
    return rc;
}

/* Makes the file's creation durable: fsync of the directory entry. */
static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

static sp_code create_key_file(const char *path, secrets_key **key, sp_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sp_error_set(err, SP_EUNAVAIL, "cannot create the master key file %s: %s", path,
                            strerror(errno));
    secrets_key *k = secrets_key_random();
    if (!k) {
        close(fd);
        unlink(path);
        return sp_error_set(err, SP_ENOMEM, "out of memory for the master key");
    }
    char text[66];
    secrets_key_hex(k, text);
    text[64] = '\n';
    text[65] = '\0';
    size_t off = 0;
    while (off < 65) {
        ssize_t w = write(fd, text + off, 65 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    sodium_memzero(text, sizeof text);
    int saved = errno;
    if (off != 65 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlink(path);
        secrets_key_free(k);
        return sp_error_set(err, SP_EUNAVAIL, "cannot write the master key file %s: %s", path,
                            strerror(saved));
    }
    close(fd);
    sync_dir_of(path);
    *key = k;
    return SP_OK;
}

sp_code secrets_key_load(const secrets_key_source *src, secrets_key **key, char **origin,
                         sp_error *err)
{
    const char *env = src->env_key && *src->env_key ? src->env_key : NULL;
    const char *file = src->key_file && *src->key_file ? src->key_file : NULL;
    if (env && file)
        return sp_error_set(err, SP_EBADINPUT,
                            "both SPOJIT_MASTER_KEY and a master key file (%s) are set: "
                            "give one of them", file);
    if (env) {
        sp_code rc = secrets_key_parse(env, "SPOJIT_MASTER_KEY", key, err);
        if (rc == SP_OK)
            *origin = dup_printf("SPOJIT_MASTER_KEY", NULL);
        return rc;
    }

    char *def = file ? NULL : secrets_default_key_file(src->db_url);
    const char *path = file ? file : def;
    if (!path) {
        /* sqlite::memory: - the secrets die with the process anyway. */
        if (src->stored_secrets > 0)
            return sp_error_set(err, SP_EINVALID, "the store holds secrets but has no file "
                                "to keep a key beside: set SPOJIT_MASTER_KEY or "
                                "--master-key-file");
        if (!(*key = secrets_key_random()))
            return sp_error_set(err, SP_ENOMEM, "out of memory for the master key");
        *origin = dup_printf("a random key for this process only (the store has no file)",
                             NULL);
        return SP_OK;
    }

    sp_code rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        rc = read_key_file(path, "master key file", fd, key, err);
        close(fd);
        if (rc == SP_OK)
            *origin = dup_printf("key file %s", path);
    } else if (errno != ENOENT) {
        rc = sp_error_set(err, SP_EUNAVAIL, "cannot open the master key file %s: %s", path,
                          strerror(errno));
    } else if (src->stored_secrets > 0) {
        /* Making a new key now would seal new secrets under a key that
         * cannot open the old ones. */
        rc = sp_error_set(err, SP_EINVALID,
                          "master key file %s does not exist, but the store holds %d "
                          "secret(s) or key document(s) (decision-link keys, the audit key) "
                          "sealed with a master key: restore the key file (or set "
                          "SPOJIT_MASTER_KEY); if the key is lost, so are those secrets, and "
                          "the audit trail can no longer be checked",
                          path, src->stored_secrets);
    } else if ((rc = create_key_file(path, key, err)) == SP_OK) {
        *origin = dup_printf("key file %s (created)", path);
    }
    free(def);
    return rc;
}
