/* lg.h: the load generator's pieces shared by every workload.
 *
 * The one idea: one single-threaded epoll loop drives many raw WebSocket clients, each
 * speaking just enough Engine.IO v4 / Socket.IO v5 to join /helpdesk with a JWT and to
 * send and receive events and acks. A workload supplies callbacks (lg_handlers) and runs
 * its own timing between calls to lg_poll(). Nothing here allocates per message: frames
 * are written straight into each connection's output buffer and parsed in place.
 */
#ifndef LG_H
#define LG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LG_NSP              "/helpdesk"
#define LG_MAX_SOURCE_ADDRS 50 /* clients bind 127.0.0.2 .. 127.0.0.51 */
#define LG_READ_CHUNK       (256 * 1024)

typedef struct lg_conn lg_conn;
typedef struct lg_loop lg_loop;

enum lg_state {
    LG_CONNECTING, /* TCP connect in progress */
    LG_UPGRADING,  /* HTTP upgrade sent, waiting for 101 */
    LG_OPENING,    /* waiting for the Engine.IO open packet */
    LG_JOINING,    /* Socket.IO CONNECT sent, waiting for the answer */
    LG_READY,      /* joined /helpdesk */
    LG_CLOSED,
};

/* What a workload does with what arrives. Strings point into the receive buffer and are
 * valid only during the call. */
typedef struct lg_handlers {
    void (*ready)(lg_conn *c, void *ud);
    void (*event)(lg_conn *c, const char *name, size_t name_len, const char *body, size_t body_len,
                  void *ud);
    void (*ack)(lg_conn *c, uint32_t ack_id, const char *body, size_t body_len, void *ud);
    void (*closed)(lg_conn *c, const char *why, void *ud); /* once, for any end */
} lg_handlers;

struct lg_conn {
    int fd;
    enum lg_state state;
    int index; /* the workload's number for it */
    int role;  /* the workload's tag */
    lg_loop *loop;
    const char *token; /* JWT (owned by the workload) */
    char *in;          /* partial frame carried between reads (malloc) */
    size_t in_len, in_cap;
    char *msg; /* fragmented message being reassembled (malloc) */
    size_t msg_len, msg_cap;
    char *out; /* bytes not yet written (malloc) */
    size_t out_len, out_cap, out_off;
    uint32_t next_ack_id;
    uint32_t mask_state; /* xorshift for frame masks */
    char ws_key[32];     /* Sec-WebSocket-Key sent */
    int want_write;      /* EPOLLOUT armed */
};

struct lg_loop {
    int epfd;
    const lg_handlers *h;
    void *ud;
    const char *host;
    char *readbuf; /* LG_READ_CHUNK */
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    int open_conns;
};

/* ---- loop and connections (conn.c) ---- */
int lg_loop_init(lg_loop *L, const lg_handlers *h, void *ud);
void lg_loop_free(lg_loop *L);
/* Starts connecting c to 127.0.0.1:port from source address number src (0 = any). */
int lg_conn_start(lg_loop *L, lg_conn *c, int port, int src);
/* Waits up to timeout_ns for I/O and handles it. Returns events handled, -1 on error. */
int lg_poll(lg_loop *L, int64_t timeout_ns);
/* Sends one Engine.IO message (a text frame). Flushes at once unless defer is set. */
void lg_send_text(lg_conn *c, const char *s, size_t n, int defer);
/* Sends 42/helpdesk,<id>[...] with a fresh ack id (returned), or 0 and no id when !want_ack. */
uint32_t lg_emit(lg_conn *c, const char *json_array, size_t n, int want_ack, int defer);
void lg_flush(lg_conn *c);
void lg_conn_close(lg_conn *c, const char *why);

/* ---- JWT (jwt.c) ---- */
/* HS256 token for claims_json, in a malloc'd string. */
char *lg_jwt(const char *secret, const char *claims_json);

/* ---- small JSON field readers for bodies we know the shape of (json.c) ---- */
/* Pointer to the value of "key" (after the colon and blanks) in [s, s+n), or NULL. */
const char *lg_json_find(const char *s, size_t n, const char *key);
/* A string value copied into out (cap bytes, NUL-terminated); its length or -1. */
int lg_json_str(const char *s, size_t n, const char *key, char *out, size_t cap);
/* An integer value; 0 and *ok = 0 when missing. */
int64_t lg_json_int(const char *s, size_t n, const char *key, int *ok);

/* ---- measurement (stats.c) ---- */
typedef struct lg_samples {
    uint32_t *v; /* microseconds */
    size_t n, cap;
} lg_samples;
void lg_samples_add(lg_samples *s, uint64_t ns);
/* Sorts, then the p-th percentile in microseconds (p in [0,100]). */
double lg_samples_pct(lg_samples *s, double p);
void lg_samples_free(lg_samples *s);

uint64_t lg_now_ns(void);
/* utime + stime of a whole process (every thread), in microseconds; -1 if unreadable. */
int64_t lg_proc_cpu_us(pid_t pid);
/* VmRSS in KiB; -1 if unreadable. */
long lg_proc_rss_kib(pid_t pid);
/* Parses "1,2,3" into at most max pids/ports; returns the count. */
int lg_parse_int_list(const char *s, int *out, int max);

/* ---- Redis emitter (emitter.c): PUBLISH in @socket.io/redis-emitter 5's format ---- */
typedef struct lg_emitter {
    int fd;
    char *buf;
    size_t cap;
    uint64_t replies_pending;
} lg_emitter;
int lg_emitter_connect(lg_emitter *e, int port);
/* Publishes event `name` with one JSON-able argument {"k":k,"t":t_us} to one room. */
int lg_emitter_publish(lg_emitter *e, const char *nsp, const char *room, const char *name,
                       int64_t k, int64_t t_us);
/* Reads the PUBLISH replies that have arrived (non-blocking). */
void lg_emitter_drain(lg_emitter *e);
void lg_emitter_close(lg_emitter *e);

/* ---- command line (main.c): "--name value" pairs ---- */
const char *lg_opt_str(int argc, char **argv, const char *name, const char *dflt);
long lg_opt_int(int argc, char **argv, const char *name, long dflt);
double lg_opt_num(int argc, char **argv, const char *name, double dflt);

/* CPU time of the listed processes together, microseconds. */
int64_t lg_pids_cpu_us(const int *pids, int n);

/* ---- workloads ---- */
int lg_idle_main(int argc, char **argv);
int lg_chat_main(int argc, char **argv);
int lg_fanout_main(int argc, char **argv);

#endif
