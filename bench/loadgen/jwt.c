/* jwt.c: HS256 tokens for the load generator's clients, signed with OpenSSL. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

/* base64url without padding of n bytes into out (room for 4*(n+2)/3 + 1). */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    out[len] = '\0';
    return (size_t)len;
}

char *lg_jwt(const char *secret, const char *claims_json)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t claims_len = strlen(claims_json);
    size_t cap = 4 * (sizeof header + claims_len + 32 + 6) / 3 + 16;
    char *tok = malloc(cap);
    if (!tok)
        return NULL;
    size_t n = b64url((const unsigned char *)header, sizeof header - 1, tok);
    tok[n++] = '.';
    n += b64url((const unsigned char *)claims_json, claims_len, tok + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, n, mac,
              &mac_len)) {
        free(tok);
        return NULL;
    }
    tok[n++] = '.';
    b64url(mac, mac_len, tok + n);
    return tok;
}
