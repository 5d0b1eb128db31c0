/*
 * head.c - the chain's head: kept in the store, and signed for keeping
 * elsewhere. A hash chain alone cannot show that its newest rows were
 * removed: the shorter trail is a valid chain. Two things close that.
 *
 * THE RECORDED HEAD (meta audit_head)
 * {"seq": N, "hash": 64 hex, "mac": 64 hex}, written in the same
 * transaction as the rows it covers (audit_head_record, once per engine
 * batch: one small write, not one per row). mac is
 *
 *   hex(HMAC-SHA-256(K, "spojit audit head" || be64(seq) || hash))
 *
 * under the audit key K, so whoever holds only the database cannot move
 * the head back to fit a trail they shortened; the text cannot be taken
 * for a row's input, which starts with 64 hex digits. The sealed key
 * document says the head is kept (head_kept), so removing the meta row is
 * an alteration too. Verify (verify.c) requires the trail to reach the
 * head and the row at its seq to have its hash. What the recorded head
 * cannot show is the whole database put back to an older state (rows and
 * head together): only a head kept off the machine can.
 *
 * SIGNED HEADS
 * {"seq", "hash", "at", "key_id", "signature"}: Ed25519 (libsodium) over
 * the text
 *
 *   spojit-audit-head-v1 <seq> <hash> <at>
 *
 * (one space between, no newline; at as RFC 3339 UTC with milliseconds,
 * exactly as in the head). The signing key is a seed in the sealed audit
 * key document; the public key is GET /v1/audit/key. A head saved
 * elsewhere proves itself with the public key alone, and `audit verify
 * --head` checks that the trail still extends it.
 */
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonx.h"

#define HEAD_MAC_TEXT "spojit audit head"
#define HEAD_SIGN_FORMAT "spojit-audit-head-v1 %" PRId64 " %s %s"
/* How much of a head file's end is read to find its last line: a signed
 * head is about 300 bytes. */
#define HEAD_FILE_TAIL 4096

void audit_head_mac(const audit_key *key, int64_t seq, const char *hash, char out[65])
{
    crypto_auth_hmacsha256_state st = key->init;
    unsigned char n[8], mac[crypto_auth_hmacsha256_BYTES];
    audit_put_be64(n, (uint64_t)seq);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)HEAD_MAC_TEXT,
                                  sizeof HEAD_MAC_TEXT - 1);
    crypto_auth_hmacsha256_update(&st, n, sizeof n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)hash, 64);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

/* ---- the recorded head ---- */

sp_code audit_head_store(store_conn *w, const audit_key *key, int64_t seq, const char *hash,
                         sp_error *err)
{
    char mac[65], text[200];
    audit_head_mac(key, seq, hash, mac);
    snprintf(text, sizeof text, "{\"seq\":%" PRId64 ",\"hash\":\"%.64s\",\"mac\":\"%s\"}", seq,
             hash, mac);
    return store_meta_put(w, AUDIT_HEAD_META, text, err);
}

sp_code audit_head_record(store_conn *w, audit_chain *chain, sp_error *err)
{
    if (chain->recorded == chain->seq || !chain->key || !chain->key->head_kept)
        return SP_OK;
    sp_code rc = audit_head_store(w, chain->key, chain->seq, chain->head, err);
    if (rc == SP_OK)
        chain->recorded = chain->seq;
    return rc;
}

sp_code audit_head_read(store_conn *c, const audit_key *key, int64_t *seq, char hash[65],
                        sp_error *err)
{
    json_t *doc = NULL;
    sp_code rc = audit_meta_point(c, AUDIT_HEAD_META, &doc, seq, hash, err);
    if (rc)
        return rc;
    const char *mac = json_str(doc, "mac");
    char want[65];
    audit_head_mac(key, *seq, hash, want);
    if (!audit_is_hex64(mac) || sodium_memcmp(want, mac, 64) != 0)
        rc = sp_error_set(err, SP_ESTORE, "meta %s: its mac does not match (the head was set "
                          "by something without the audit key: the database was altered)",
                          AUDIT_HEAD_META);
    json_decref(doc);
    return rc;
}

/* ---- signed heads ---- */

bool audit_key_can_sign(const audit_key *key)
{
    return key && key->can_sign;
}

json_t *audit_head_sign(const audit_key *key, int64_t seq, const char *hash, sp_time at)
{
    char when[SP_TIME_BUF], msg[256], sig_hex[crypto_sign_BYTES * 2 + 1];
    unsigned char sig[crypto_sign_BYTES];
    time_format(at, when);
    int n = snprintf(msg, sizeof msg, HEAD_SIGN_FORMAT, seq, hash, when);
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, (unsigned long long)n,
                         key->sign_sk);
    sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "hash", hash, "at",
                     when, "key_id", key->sign_id, "signature", sig_hex);
}

sp_code audit_head_take(store_conn *c, const audit_key *key, sp_time at, json_t **out,
                        sp_error *err)
{
    int64_t seq = 0;
    char hash[65];
    if (!audit_key_can_sign(key))
        return sp_error_set(err, SP_EUNAVAIL, "this audit key has no signing key yet (a server "
                            "adds one when it starts)");
    sp_code rc = store_audit_head(c, &seq, hash, err);
    if (rc)
        return rc;
    if (!(*out = audit_head_sign(key, seq, seq > 0 ? hash : AUDIT_GENESIS, at)))
        return sp_error_set(err, SP_ENOMEM, "out of memory signing the audit head");
    return SP_OK;
}

bool audit_head_check(const audit_key *key, const json_t *head, int64_t *seq, char hash[65],
                      char *why, size_t whylen)
{
    const json_t *s = json_object_get(head, "seq");
    const char *h = json_str(head, "hash"), *at = json_str(head, "at");
    const char *id = json_str(head, "key_id"), *sig_hex = json_str(head, "signature");
    unsigned char sig[crypto_sign_BYTES];
    size_t n = 0;
    sp_time t;
    if (!json_is_object(head) || !json_is_integer(s) || json_integer_value(s) < 0 ||
        !audit_is_hex64(h) || !at || time_parse(at, &t) != 0 || !sig_hex ||
        sodium_hex2bin(sig, sizeof sig, sig_hex, strlen(sig_hex), NULL, &n, NULL) != 0 ||
        n != sizeof sig) {
        snprintf(why, whylen, "the saved head is not {seq, hash, at, key_id, signature} as "
                 "GET /v1/audit/head gives it");
        return false;
    }
    if (!audit_key_can_sign(key)) {
        snprintf(why, whylen, "this database has no head signing key, so it cannot have "
                 "signed the saved head");
        return false;
    }
    if (id && strcmp(id, key->sign_id) != 0) {
        snprintf(why, whylen, "the saved head was signed by key %.16s, not by this database's "
                 "key %s", id, key->sign_id);
        return false;
    }
    char msg[256];
    int len = snprintf(msg, sizeof msg, HEAD_SIGN_FORMAT, (int64_t)json_integer_value(s), h, at);
    if (len < 0 || (size_t)len >= sizeof msg ||
        crypto_sign_verify_detached(sig, (const unsigned char *)msg, (unsigned long long)len,
                                    key->sign_pk) != 0) {
        snprintf(why, whylen, "the saved head's signature does not verify with this "
                 "database's head signing key (the head was altered)");
        return false;
    }
    *seq = json_integer_value(s);
    memcpy(hash, h, 65);
    return true;
}

json_t *audit_public_key_json(const audit_key *key)
{
    /* SubjectPublicKeyInfo (RFC 8410): a fixed 12-byte prefix, then the key. */
    static const unsigned char spki[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
    unsigned char der[sizeof spki + crypto_sign_PUBLICKEYBYTES];
    char hex[crypto_sign_PUBLICKEYBYTES * 2 + 1], b64[80], pem[160];
    memcpy(der, spki, sizeof spki);
    memcpy(der + sizeof spki, key->sign_pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2hex(hex, sizeof hex, key->sign_pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2base64(b64, sizeof b64, der, sizeof der, sodium_base64_VARIANT_ORIGINAL);
    snprintf(pem, sizeof pem, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n",
             b64);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "algorithm", "Ed25519", "key_id",
                     key->sign_id, "public_key", hex, "public_key_pem", pem, "signed_text",
                     "spojit-audit-head-v1 <seq> <hash> <at>");
}

/* ---- head files ---- */

sp_code audit_head_file_last(const char *path, json_t **head, sp_error *err)
{
    *head = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sp_error_set(err, errno == ENOENT ? SP_ENOTFOUND : SP_EINVALID,
                            "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    char buf[HEAD_FILE_TAIL + 1];
    ssize_t got = -1;
    if (fstat(fd, &st) == 0) {
        off_t from = st.st_size > HEAD_FILE_TAIL ? st.st_size - HEAD_FILE_TAIL : 0;
        got = pread(fd, buf, HEAD_FILE_TAIL, from);
    }
    int saved = errno;
    close(fd);
    if (got < 0)
        return sp_error_set(err, SP_EINVALID, "cannot read %s: %s", path, strerror(saved));
    /* The last non-empty line; a file of one JSON object is one line too
     * once its newlines are taken as spaces, so try the whole tail first. */
    buf[got] = '\0';
    size_t end = (size_t)got;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' '))
        end--;
    buf[end] = '\0';
    json_error_t jerr;
    *head = json_loadb(buf, end, 0, &jerr);
    if (!*head) {
        const char *line = memrchr(buf, '\n', end);
        line = line ? line + 1 : buf;
        *head = json_loads(line, 0, &jerr);
    }
    if (!json_is_object(*head)) {
        json_decref(*head);
        *head = NULL;
        return sp_error_set(err, SP_EINVALID, "%s: its last line is not a signed head (JSON "
                            "as GET /v1/audit/head gives it): %s", path,
                            got == 0 ? "the file is empty" : jerr.text);
    }
    return SP_OK;
}
