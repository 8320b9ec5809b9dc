/* web.h: the pages a binary serves from a folder (--web DIR): the widget's script, the agent
 * console, the demo page and the socket.io-client bundle they load.
 *
 * The folder is read once, at start-up, into memory: a request is a table lookup and a write,
 * nothing touches the disk while serving, and no request path can reach a file outside the
 * folder (only the files read at start-up exist). Editing a page means restarting the daemon.
 * Bounded: at most SBD_WEB_FILES_MAX files and SBD_WEB_BYTES_MAX bytes, else it refuses to
 * start. Hidden files, node_modules and npm's package files are left out; the top-level demo/
 * folder only with demo on.
 *
 * Answers GET (and 304 to a matching If-None-Match) with the content type of the file's
 * extension, an ETag of its content (SHA-256) and "Cache-Control: no-cache", so a browser
 * revalidates each time and a new version is seen at once. A folder's URL ("/console/")
 * serves its index.html; without the slash it redirects (301) to it.
 */
#ifndef SBD_WEB_H
#define SBD_WEB_H

#include <stddef.h>

#include "engine.h"

#define SBD_WEB_FILES_MAX 512
#define SBD_WEB_BYTES_MAX (32u << 20)

typedef struct sbd_web sbd_web;

/* Reads dir; NULL with err set when it cannot (missing folder, a bound exceeded).
 * with_demo: serve dir/demo/ at /demo/ (and redirect / to it when dir has no index.html). */
sbd_web *sbd_web_load(const char *dir, int with_demo, char *err, size_t errlen);
/* An eio_http_handler: answers the folder's URLs, returns 1 for any other path. */
int sbd_web_handle(eio_http_request *req, void *web);
size_t sbd_web_files(const sbd_web *w);
size_t sbd_web_bytes(const sbd_web *w);
/* 1 when the folder has this URL path (start-up checks: "/vendor/socket.io.min.js"). */
int sbd_web_has(const sbd_web *w, const char *path);
void sbd_web_free(sbd_web *w);

#endif
