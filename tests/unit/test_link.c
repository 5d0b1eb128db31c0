/* Signed decision link tokens: made, checked, refused when touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/link.h"
#include "core/jsonx.h"

static link_claims claims_for(const char *by)
{
    link_claims c = { 0 };
    strcpy(c.approval_id, "apr_01TEST");
    strcpy(c.by, by);
    strcpy(c.decision, "approve");
    c.expires = 1900000000000LL;
    return c;
}

static void a_signed_link_verifies_with_its_claims(void **state)
{
    json_t *keys = link_keys_rotate(NULL, false);
    link_claims c = claims_for("ann"), out;
    char *token = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(link_sign(keys, &c, &token, &err), SP_OK);
    assert_non_null(strchr(token, '.'));
    assert_int_equal(link_verify(keys, token, &out, &err), SP_OK);
    assert_string_equal(out.by, "ann");
    assert_string_equal(out.approval_id, "apr_01TEST");
    assert_string_equal(out.decision, "approve");
    assert_string_equal(out.kid, json_str(keys, "current"));
    assert_true(out.expires == 1900000000000LL);
    assert_string_equal(out.nonce, c.nonce);
    assert_true(strlen(out.nonce) > 20);
    free(token);
    json_decref(keys);
}

static void every_edit_of_a_token_is_refused(void **state)
{
    json_t *keys = link_keys_rotate(NULL, false);
    link_claims c = claims_for("ann"), out;
    char *token = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(link_sign(keys, &c, &token, &err), SP_OK);
    size_t n = strlen(token);
    for (size_t i = 0; i < n; i++) {
        char *t = strdup(token);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (strcmp(t, token) != 0)
            assert_int_equal(link_verify(keys, t, &out, &err), SP_EUNAUTH);
        sp_error_clear(&err);
        free(t);
    }
    token[n - 1] = '\0';                                /* truncated */
    assert_int_equal(link_verify(keys, token, &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    assert_int_equal(link_verify(keys, "no-dot", &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    assert_int_equal(link_verify(keys, NULL, &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    free(token);
    json_decref(keys);
}

static void another_servers_key_is_refused_and_rotation_keeps_recent_keys(void **state)
{
    json_t *ours = link_keys_rotate(NULL, false), *theirs = link_keys_rotate(NULL, false);
    link_claims c = claims_for("ben"), out;
    char *token = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(link_sign(theirs, &c, &token, &err), SP_OK);
    assert_int_equal(link_verify(ours, token, &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    free(token);

    memset(c.nonce, 0, sizeof c.nonce);
    assert_int_equal(link_sign(ours, &c, &token, &err), SP_OK);
    json_t *k = ours;
    for (int i = 1; i < LINK_KEYS_KEPT; i++) {       /* still kept */
        json_t *next = link_keys_rotate(k, false);
        json_decref(k);
        k = next;
        assert_int_equal(link_verify(k, token, &out, &err), SP_OK);
    }
    json_t *next = link_keys_rotate(k, false);         /* now dropped */
    json_decref(k);
    assert_int_equal(json_object_size(json_object_get(next, "keys")), LINK_KEYS_KEPT);
    assert_int_equal(link_verify(next, token, &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    free(token);

    /* revoke: only the new key is left, so no earlier link verifies */
    assert_int_equal(link_sign(next, &c, &token, &err), SP_OK);
    assert_int_equal(link_verify(next, token, &out, &err), SP_OK);
    json_t *fresh = link_keys_rotate(next, true);
    assert_int_equal(json_object_size(json_object_get(fresh, "keys")), 1);
    assert_int_equal(link_verify(fresh, token, &out, &err), SP_EUNAUTH);
    sp_error_clear(&err);
    free(token);
    json_decref(fresh);
    json_decref(next);
    json_decref(theirs);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_signed_link_verifies_with_its_claims),
        cmocka_unit_test(every_edit_of_a_token_is_refused),
        cmocka_unit_test(another_servers_key_is_refused_and_rotation_keeps_recent_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
