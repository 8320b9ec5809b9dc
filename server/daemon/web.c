/* web.c: the pages served from a folder, read into memory at start-up (see web.h). */
#include "web.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "map.h"

#define WEB_URL_MAX   256 /* longest URL path of a file */
#define WEB_DEPTH_MAX 8   /* folders inside folders */
#define WEB_ETAG_HEX  32  /* hex digits of the SHA-256 kept in the ETag (128 bits) */
#define WEB_HEADERS_MAX                                                                            \
    (sizeof("ETag: \"\"\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n") +      \
     WEB_ETAG_HEX)
#define WEB_INM_MAX 1024 /* an If-None-Match longer than this is not compared */

typedef struct web_file {
    char url[WEB_URL_MAX];
    const char *ctype;
    char etag[WEB_ETAG_HEX + 3]; /* quoted */
    char headers[WEB_HEADERS_MAX];
    unsigned char *body; /* NULL for a redirect; shared by a folder and its index.html */
    size_t len;
    int owns_body;
    int redirect;               /* 301 or 302, else 0 */
    char location[WEB_URL_MAX]; /* a redirect's target */
} web_file;

struct sbd_web {
    sb_map by_url; /* url -> web_file */
    web_file *files;
    size_t n, cap, bytes;
    int with_demo;
    char *err;
    size_t errlen;
};

static const struct {
    const char *ext, *ctype;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".mp3", "audio/mpeg"},
    {".wav", "audio/wav"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(content_types) / sizeof(content_types[0]); i++)
        if (!strcmp(dot, content_types[i].ext))
            return content_types[i].ctype;
    return "application/octet-stream";
}

static int fail(sbd_web *w, const char *what, const char *path)
{
    snprintf(w->err, w->errlen, "%s: %s", path, what);
    return -1;
}

static int too_many(sbd_web *w, const char *path)
{
    snprintf(w->err, w->errlen, "%s: the folder has more files than the limit of %d", path,
             SBD_WEB_FILES_MAX);
    return -1;
}

static web_file *add(sbd_web *w, const char *url)
{
    if (w->n == SBD_WEB_FILES_MAX)
        return NULL;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 32;
        web_file *f = realloc(w->files, w->cap * sizeof(*f));
        if (!f)
            abort();
        w->files = f;
    }
    web_file *f = &w->files[w->n++];
    memset(f, 0, sizeof(*f));
    snprintf(f->url, sizeof(f->url), "%s", url);
    return f;
}

static int read_file(sbd_web *w, const char *path, const char *url, size_t size)
{
    if (w->bytes + size > SBD_WEB_BYTES_MAX)
        return fail(w, "the folder is larger than the limit of 32 MiB", path);
    web_file *f = add(w, url);
    if (!f)
        return too_many(w, path);
    FILE *in = fopen(path, "rb");
    if (!in)
        return fail(w, strerror(errno), path);
    f->body = malloc(size ? size : 1);
    if (!f->body)
        abort();
    f->owns_body = 1;
    size_t got = fread(f->body, 1, size, in);
    fclose(in);
    if (got != size)
        return fail(w, "changed while being read", path);
    f->len = size;
    w->bytes += size;
    f->ctype = content_type(url);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(f->body, size, md);
    f->etag[0] = '"';
    for (int i = 0; i < WEB_ETAG_HEX / 2; i++)
        snprintf(f->etag + 1 + 2 * i, 3, "%02x", md[i]);
    f->etag[WEB_ETAG_HEX + 1] = '"';
    snprintf(f->headers, sizeof(f->headers),
             "ETag: %s\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n", f->etag);
    return 0;
}

/* Left out: hidden files, npm's folder and files (the bundle is copied to vendor/). */
static int skipped(const char *name, int top, int with_demo)
{
    return name[0] == '.' || !strcmp(name, "node_modules") || !strcmp(name, "package.json") ||
           !strcmp(name, "package-lock.json") || (top && !with_demo && !strcmp(name, "demo"));
}

/* Reads the folder at path, served under url (ending in '/'). */
static int read_dir(sbd_web *w, const char *path, const char *url, int depth)
{
    if (depth > WEB_DEPTH_MAX)
        return fail(w, "folders nested too deep", path);
    DIR *d = opendir(path);
    if (!d)
        return fail(w, strerror(errno), path);
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        char fpath[4096], furl[WEB_URL_MAX];
        struct stat st;
        if (skipped(e->d_name, depth == 0, w->with_demo))
            continue;
        if ((size_t)snprintf(fpath, sizeof(fpath), "%s/%s", path, e->d_name) >= sizeof(fpath) ||
            (size_t)snprintf(furl, sizeof(furl), "%s%s", url, e->d_name) + 1 >= sizeof(furl)) {
            rc = fail(w, "path too long", path);
            break;
        }
        if (stat(fpath, &st)) {
            rc = fail(w, strerror(errno), fpath);
        } else if (S_ISDIR(st.st_mode)) {
            strcat(furl, "/");
            rc = read_dir(w, fpath, furl, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = read_file(w, fpath, furl, (size_t)st.st_size);
        }
    }
    closedir(d);
    return rc;
}

/* "/x/index.html" is also "/x/", and "/x" redirects there. add() may move w->files, so
 * entries are found again by index after each. */
static int add_folders(sbd_web *w)
{
    size_t n = w->n;
    for (size_t i = 0; i < n; i++) {
        char url[WEB_URL_MAX];
        size_t len = strlen(w->files[i].url), tail = strlen("/index.html");
        if (len < tail || strcmp(w->files[i].url + len - tail, "/index.html"))
            continue;                 /* not a folder's index ("/myindex.html" is not) */
        size_t base = len - tail + 1; /* "/x/" is url[0..base) */
        memcpy(url, w->files[i].url, base);
        url[base] = '\0'; /* "/x/" */
        web_file *dir = add(w, url);
        if (!dir)
            return too_many(w, url);
        const web_file *index = &w->files[i];
        dir->ctype = index->ctype;
        memcpy(dir->etag, index->etag, sizeof(dir->etag));
        memcpy(dir->headers, index->headers, sizeof(dir->headers));
        dir->body = index->body; /* shared: freed with index */
        dir->len = index->len;
        if (base == 1)
            continue;
        url[base - 1] = '\0'; /* "/x" */
        web_file *bare = add(w, url);
        if (!bare)
            return too_many(w, url);
        bare->redirect = 301;
        snprintf(bare->location, sizeof(bare->location), "%s/", url);
    }
    return 0;
}

sbd_web *sbd_web_load(const char *dir, int with_demo, char *err, size_t errlen)
{
    sbd_web *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->with_demo = with_demo;
    w->err = err;
    w->errlen = errlen;
    sb_map_init(&w->by_url);
    if (read_dir(w, dir, "/", 0) || add_folders(w)) {
        sbd_web_free(w);
        return NULL;
    }
    if (with_demo && !sbd_web_has(w, "/") && sbd_web_has(w, "/demo/")) {
        web_file *root = add(w, "/");
        if (!root) {
            too_many(w, dir);
            sbd_web_free(w);
            return NULL;
        }
        root->redirect = 302; /* the demo mode's, not the folder's for good */
        snprintf(root->location, sizeof(root->location), "/demo/");
    }
    for (size_t i = 0; i < w->n; i++)
        sb_map_put(&w->by_url, w->files[i].url, &w->files[i]);
    return w;
}

int sbd_web_has(const sbd_web *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->files[i].url, path))
            return 1;
    return 0;
}

/* Whether the If-None-Match list names the file's ETag (or is "*"). */
static int not_modified(eio_http_request *req, const web_file *f)
{
    char inm[WEB_INM_MAX];
    if (eio_http_header(req, "if-none-match", inm, sizeof(inm)) < 0)
        return 0;
    return !strcmp(inm, "*") || strstr(inm, f->etag) != NULL;
}

int sbd_web_handle(eio_http_request *req, void *web)
{
    sbd_web *w = web;
    const web_file *f = sb_map_get(&w->by_url, eio_http_path(req));
    if (!f)
        return 1;
    if (strcmp(eio_http_method(req), "GET")) {
        eio_http_respond_with(req, 405, "text/plain", "Method Not Allowed", 18, "Allow: GET\r\n");
    } else if (f->redirect) {
        char headers[WEB_URL_MAX + 16];
        snprintf(headers, sizeof(headers), "Location: %s\r\n", f->location);
        eio_http_respond_with(req, f->redirect, "text/plain", "", 0, headers);
    } else if (not_modified(req, f)) {
        eio_http_respond_with(req, 304, f->ctype, "", 0, f->headers);
    } else {
        eio_http_respond_with(req, 200, f->ctype, f->body, f->len, f->headers);
    }
    return 0;
}

size_t sbd_web_files(const sbd_web *w) { return w->n; }
size_t sbd_web_bytes(const sbd_web *w) { return w->bytes; }

void sbd_web_free(sbd_web *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (w->files[i].owns_body)
            free(w->files[i].body);
    sb_map_free(&w->by_url);
    free(w->files);
    free(w);
}
