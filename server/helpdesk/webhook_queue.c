/* webhook_queue.c: the webhooks' delivery engine (see webhook_queue.h). */
#include "webhook_queue.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buffer.h"
#include "list.h"
#include "map.h"
#include "random.h"

#define WH_SIG_HEX  (2 * 32 + 1)
#define WH_LINE_MAX 512 /* one header line: the type is cut beyond this */

typedef struct wh_target wh_target;
typedef struct wh_conv wh_conv;
typedef struct wh_event wh_event;

enum { WH_IDLE = 0, WH_SENDING = 1, WH_WAITING = 2 };

/* One URL's part of an event: in its conversation's FIFO until done. */
typedef struct wh_slot {
    sb_list link; /* in conv->slots */
    wh_event *ev;
    wh_conv *conv; /* NULL once done */
} wh_slot;

struct wh_event {
    sb_list link; /* in q->events, in arrival order */
    char *id;
    char *type;
    char *key; /* the conversation: "c:<ticket_chat_id>", "s:<session_id>" or "" */
    char *body;
    size_t body_len;
    int64_t created_ms;
    char sig[WH_SIG_HEX];
    size_t left;    /* URLs not done with it */
    wh_slot slot[]; /* one per URL */
};

/* One conversation's FIFO at one URL; exists while it owes something. */
struct wh_conv {
    wh_target *t;
    char *key;
    sb_list slots;      /* wh_slot.link, oldest first */
    sb_list ready_link; /* in t->ready when IDLE with slots */
    int state;
    unsigned attempts; /* failed attempts of the head */
    uint64_t due;      /* WAITING: loop time of the next attempt */
    size_t heap_idx;   /* WAITING: index in t->heap */
    CURL *easy;        /* SENDING */
    struct curl_slist *headers;
    char err[CURL_ERROR_SIZE];
};

struct wh_target {
    hd_whq *q;
    size_t idx;
    char *url;
    char *name; /* for logs: "#1 (host)", never the credentials */
    sb_map convs;
    sb_list ready;
    size_t inflight;
    wh_conv **heap; /* WAITING conversations by due */
    size_t heap_n, heap_cap;
    uv_timer_t timer;
    int failing;     /* a failure was logged; the next delivery says it recovered */
    int drop_logged; /* a drop was logged since the last delivery */
};

/* One of curl's sockets. */
typedef struct wh_sock {
    uv_poll_t poll;
    sb_list link; /* in q->socks while curl uses it */
    curl_socket_t fd;
    hd_whq *q;
} wh_sock;

struct hd_whq {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;
    wh_target *targets;
    size_t n_targets;
    unsigned char *secret;
    size_t secret_len;
    uint32_t retry_s, timeout_ms, backoff_min_ms, backoff_max_ms;
    size_t max_inflight;
    hd_webhook_stats *stats;
    hd_whq_done_cb on_done;
    void *ud;
    sb_list events;
    size_t n_events;
    sb_list socks;  /* wh_sock.link */
    size_t handles; /* uv handles not yet closed */
    int closing;
    void (*done)(void *ud);
    void *done_ud;
};

static void pump(wh_target *t);

/* ---- time ---- */

int64_t hd_whq_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hd_whq_iso_time(int64_t ms, char *out, size_t outlen)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", date, (int)(ms % 1000));
}

/* ---- the retry heap of a URL (min by due) ---- */

static void heap_swap(wh_target *t, size_t a, size_t b)
{
    wh_conv *x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
    t->heap[a]->heap_idx = a;
    t->heap[b]->heap_idx = b;
}

static void heap_up(wh_target *t, size_t i)
{
    while (i > 0 && t->heap[(i - 1) / 2]->due > t->heap[i]->due) {
        heap_swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(wh_target *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->heap_n && t->heap[l]->due < t->heap[m]->due)
            m = l;
        if (r < t->heap_n && t->heap[r]->due < t->heap[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

static int heap_push(wh_target *t, wh_conv *c)
{
    if (t->heap_n == t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 16;
        wh_conv **h = realloc(t->heap, cap * sizeof *h);
        if (h == NULL)
            return -1;
        t->heap = h;
        t->heap_cap = cap;
    }
    c->heap_idx = t->heap_n++;
    t->heap[c->heap_idx] = c;
    heap_up(t, c->heap_idx);
    return 0;
}

static void heap_remove(wh_target *t, wh_conv *c)
{
    size_t i = c->heap_idx, last = --t->heap_n;
    if (i != last) {
        heap_swap(t, i, last);
        heap_up(t, i);
        heap_down(t, i);
    }
}

static void on_retry_timer(uv_timer_t *h);

static void arm_timer(wh_target *t)
{
    if (t->q->closing)
        return;
    if (t->heap_n == 0) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t now = uv_now(t->q->loop), due = t->heap[0]->due;
    uv_timer_start(&t->timer, on_retry_timer, due > now ? due - now : 0, 0);
}

/* ---- events ---- */

static void stats_update(hd_whq *q)
{
    q->stats->pending = q->n_events;
    wh_event *first = SB_LIST_FIRST(&q->events, wh_event, link);
    q->stats->oldest_ms = first != NULL ? first->created_ms : 0;
}

static void event_free(wh_event *ev)
{
    free(ev->id);
    free(ev->type);
    free(ev->key);
    free(ev->body);
    free(ev);
}

/* Every URL is done with ev: the feed hears of it, then it goes. */
static void event_maybe_finish(hd_whq *q, wh_event *ev)
{
    if (ev->left > 0)
        return;
    sb_list_remove(&ev->link);
    q->n_events--;
    stats_update(q);
    if (q->on_done != NULL)
        q->on_done(ev->id, q->ud);
    event_free(ev);
}

/* The conversation key of an event's data (see wh_event.key). */
static char *event_key(const json_t *data)
{
    const char *v = json_string_value(json_object_get(data, "ticket_chat_id"));
    const char *tag = "c:";
    if (v == NULL) {
        v = json_string_value(json_object_get(data, "session_id"));
        tag = "s:";
    }
    if (v == NULL)
        return strdup("");
    size_t n = strlen(v);
    char *k = malloc(n + 3);
    if (k != NULL) {
        memcpy(k, tag, 2);
        memcpy(k + 2, v, n + 1);
    }
    return k;
}

/* {"id":…,"type":…,"data":<data as it is>,"created_at":…}. */
static char *event_body(const char *id, int64_t created_ms, const char *type, size_t type_len,
                        const char *data, size_t data_len, int data_is_json, size_t *len)
{
    json_t *jid = json_string(id), *jtype = json_stringn(type, type_len);
    json_t *jdata = data_is_json ? NULL : json_stringn(data, data_len);
    char *sid = jid ? json_dumps(jid, JSON_ENCODE_ANY) : NULL;
    char *stype = json_dumps(jtype ? jtype : json_string(""), JSON_ENCODE_ANY);
    char *sdata = jdata ? json_dumps(jdata, JSON_ENCODE_ANY) : NULL;
    char when[40];
    hd_whq_iso_time(created_ms, when, sizeof when);
    char *out = NULL;
    if (sid != NULL && stype != NULL && (data_is_json || sdata != NULL)) {
        sb_buf b;
        sb_buf_init(&b);
        sb_buf_append_str(&b, "{\"id\":");
        sb_buf_append_str(&b, sid);
        sb_buf_append_str(&b, ",\"type\":");
        sb_buf_append_str(&b, stype);
        sb_buf_append_str(&b, ",\"data\":");
        if (data_is_json)
            sb_buf_append(&b, data, data_len);
        else
            sb_buf_append_str(&b, sdata);
        sb_buf_append_str(&b, ",\"created_at\":\"");
        sb_buf_append_str(&b, when);
        sb_buf_append_str(&b, "\"}");
        out = (char *)sb_buf_release(&b, len);
    }
    free(sid);
    free(stype);
    free(sdata);
    json_decref(jid);
    json_decref(jtype);
    json_decref(jdata);
    return out;
}

static void sign(const hd_whq *q, wh_event *ev)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    HMAC(EVP_sha256(), q->secret, (int)q->secret_len, (const unsigned char *)ev->body, ev->body_len,
         mac, &n);
    for (unsigned int i = 0; i < n && 2 * i + 2 < WH_SIG_HEX; i++) {
        ev->sig[2 * i] = hex[mac[i] >> 4];
        ev->sig[2 * i + 1] = hex[mac[i] & 15];
    }
    ev->sig[2 * (n < 32 ? n : 32)] = '\0';
}

static wh_event *event_new(hd_whq *q, const char *id, int64_t created_ms, const char *type,
                           size_t type_len, const char *data, size_t data_len)
{
    wh_event *ev = calloc(1, sizeof *ev + q->n_targets * sizeof(wh_slot));
    if (ev == NULL)
        return NULL;
    json_t *parsed = json_loadb(data, data_len, JSON_DECODE_ANY, NULL);
    ev->id = strdup(id);
    ev->type = sb_strndup(type, type_len);
    ev->key = event_key(parsed);
    ev->body =
        event_body(id, created_ms, type, type_len, data, data_len, parsed != NULL, &ev->body_len);
    json_decref(parsed);
    if (ev->id == NULL || ev->type == NULL || ev->key == NULL || ev->body == NULL) {
        event_free(ev);
        return NULL;
    }
    ev->created_ms = created_ms;
    sign(q, ev);
    return ev;
}

/* ---- conversations ---- */

static wh_conv *conv_get(wh_target *t, const char *key)
{
    wh_conv *c = sb_map_get(&t->convs, key);
    if (c != NULL)
        return c;
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->key = strdup(key)) == NULL) {
        free(c);
        return NULL;
    }
    c->t = t;
    sb_list_init(&c->slots);
    sb_list_init(&c->ready_link);
    sb_map_put(&t->convs, c->key, c);
    return c;
}

static void conv_free(wh_conv *c)
{
    sb_map_del(&c->t->convs, c->key);
    sb_list_remove(&c->ready_link);
    free(c->key);
    free(c);
}

/* An IDLE conversation goes to the ready list, or away when it owes nothing. */
static void conv_settle(wh_conv *c)
{
    if (c->state != WH_IDLE)
        return;
    if (sb_list_empty(&c->slots))
        conv_free(c);
    else if (!sb_list_linked(&c->ready_link))
        sb_list_insert_tail(&c->t->ready, &c->ready_link);
}

/* Cancels the request of a SENDING conversation (it becomes IDLE). */
static void conv_cancel(wh_conv *c)
{
    hd_whq *q = c->t->q;
    if (c->easy != NULL) {
        if (q->multi != NULL)
            curl_multi_remove_handle(q->multi, c->easy);
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    c->t->inflight--;
    c->state = WH_IDLE;
}

/* The slot is done at its URL: out of its FIFO (the caller settles the conversation and
 * finishes the event). */
static void slot_done(wh_slot *s)
{
    sb_list_remove(&s->link);
    s->conv = NULL;
    s->ev->left--;
}

/* ---- HTTP ---- */

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr, (void)ud;
    return size * n;
}

static int append_header(struct curl_slist **h, const char *name, const char *value)
{
    char line[WH_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0)
        return -1;
    /* the type is opaque: no line break may reach the request */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    struct curl_slist *next = curl_slist_append(*h, line);
    if (next == NULL)
        return -1;
    *h = next;
    return 0;
}

static int send_head(wh_conv *c)
{
    wh_target *t = c->t;
    hd_whq *q = t->q;
    wh_slot *s = SB_LIST_FIRST(&c->slots, wh_slot, link);
    wh_event *ev = s->ev;
    char sig[WH_SIG_HEX + 8];
    snprintf(sig, sizeof sig, "sha256=%s", ev->sig);
    struct curl_slist *h = NULL;
    CURL *e = curl_easy_init();
    if (e == NULL || append_header(&h, "Content-Type", "application/json") ||
        append_header(&h, "X-Switchboard-Event", ev->type) ||
        append_header(&h, "X-Switchboard-Delivery", ev->id) ||
        append_header(&h, "X-Switchboard-Signature", sig) || append_header(&h, "Expect", "")) {
        curl_slist_free_all(h);
        if (e != NULL)
            curl_easy_cleanup(e);
        return -1;
    }
    c->err[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, ev->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ev->body_len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)q->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "switchboard-webhooks");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    if (curl_multi_add_handle(q->multi, e) != CURLM_OK) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        return -1;
    }
    c->easy = e;
    c->headers = h;
    c->state = WH_SENDING;
    t->inflight++;
    return 0;
}

static uint64_t backoff_ms(const hd_whq *q, unsigned attempts)
{
    uint64_t d = q->backoff_min_ms;
    for (unsigned i = 1; i < attempts && d < q->backoff_max_ms; i++)
        d *= 2;
    if (d > q->backoff_max_ms)
        d = q->backoff_max_ms;
    uint32_t r = 0;
    sb_random_bytes(&r, sizeof r);
    return d / 2 + (d / 2 > 0 ? r % (d / 2 + 1) : 0); /* jitter: half to all of it */
}

/* The head is done at this URL: delivered (ok) or given up. */
static void head_done(wh_conv *c, int delivered)
{
    wh_target *t = c->t;
    hd_whq *q = t->q;
    wh_slot *s = SB_LIST_FIRST(&c->slots, wh_slot, link);
    wh_event *ev = s->ev;
    c->attempts = 0;
    if (delivered) {
        q->stats->delivered++;
        t->drop_logged = 0;
        if (t->failing) {
            t->failing = 0;
            fprintf(stderr, "helpdesk webhooks: %s: delivering again\n", t->name);
        }
    } else {
        q->stats->dropped++;
        if (!t->drop_logged) {
            t->drop_logged = 1;
            fprintf(stderr,
                    "helpdesk webhooks: %s: event %s (%s) given up after %u s of retries; "
                    "further drops are counted in /metrics\n",
                    t->name, ev->id, ev->type, (unsigned)q->retry_s);
        }
    }
    slot_done(s);
    conv_settle(c);
    event_maybe_finish(q, ev);
}

static void attempt_failed(wh_conv *c, const char *why)
{
    wh_target *t = c->t;
    hd_whq *q = t->q;
    wh_event *ev = SB_LIST_FIRST(&c->slots, wh_slot, link)->ev;
    q->stats->failed_attempts++;
    if (!t->failing) {
        t->failing = 1;
        fprintf(stderr, "helpdesk webhooks: %s: %s; retrying with backoff\n", t->name, why);
    }
    int64_t wall = hd_whq_wall_ms(), deadline = ev->created_ms + (int64_t)q->retry_s * 1000;
    if (wall >= deadline) {
        head_done(c, 0);
        return;
    }
    c->attempts++;
    uint64_t now = uv_now(q->loop), delay = backoff_ms(q, c->attempts);
    if (delay > (uint64_t)(deadline - wall))
        delay = (uint64_t)(deadline - wall); /* one last try at the deadline */
    c->due = now + delay;
    c->state = WH_WAITING;
    if (heap_push(t, c) != 0) {
        c->state = WH_IDLE; /* out of memory: try again at once rather than never */
        conv_settle(c);
        return;
    }
    arm_timer(t);
}

static void transfer_done(wh_conv *c, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 64];
    if (result != CURLE_OK)
        snprintf(why, sizeof why, "%s", c->err[0] ? c->err : curl_easy_strerror(result));
    else
        snprintf(why, sizeof why, "answered HTTP %ld", status);
    conv_cancel(c); /* the transfer is over: frees it, the conversation is IDLE */
    if (result == CURLE_OK && status >= 200 && status < 300)
        head_done(c, 1);
    else
        attempt_failed(c, why);
}

static void check_done(hd_whq *q)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(q->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        wh_conv *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c == NULL)
            continue;
        wh_target *t = c->t;
        transfer_done(c, m->data.result);
        pump(t);
    }
}

/* Sends the heads of ready conversations while the URL has room. */
static void pump(wh_target *t)
{
    while (!t->q->closing && t->inflight < t->q->max_inflight && !sb_list_empty(&t->ready)) {
        wh_conv *c = SB_LIST_FIRST(&t->ready, wh_conv, ready_link);
        sb_list_remove(&c->ready_link);
        if (send_head(c) != 0) {
            attempt_failed(c, "out of memory");
            return;
        }
    }
}

static void on_retry_timer(uv_timer_t *h)
{
    wh_target *t = h->data;
    uint64_t now = uv_now(t->q->loop);
    while (t->heap_n > 0 && t->heap[0]->due <= now) {
        wh_conv *c = t->heap[0];
        heap_remove(t, c);
        c->state = WH_IDLE;
        conv_settle(c);
    }
    arm_timer(t);
    pump(t);
}

/* ---- curl on the loop ---- */

static void on_handle_closed(uv_handle_t *h);

static void on_poll(uv_poll_t *h, int status, int events)
{
    wh_sock *ws = h->data;
    hd_whq *q = ws->q;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    curl_multi_socket_action(q->multi, ws->fd, flags, &running);
    check_done(q);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    hd_whq *q = userp;
    wh_sock *ws = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (ws != NULL) {
            sb_list_remove(&ws->link);
            uv_poll_stop(&ws->poll);
            uv_close((uv_handle_t *)&ws->poll, on_handle_closed);
        }
        return 0;
    }
    if (ws == NULL) {
        ws = calloc(1, sizeof *ws);
        if (ws == NULL)
            return -1;
        if (uv_poll_init_socket(q->loop, &ws->poll, fd) != 0) {
            free(ws);
            return -1;
        }
        ws->fd = fd;
        ws->q = q;
        ws->poll.data = ws;
        sb_list_insert_tail(&q->socks, &ws->link);
        q->handles++;
        curl_multi_assign(q->multi, fd, ws);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&ws->poll, events, on_poll);
    return 0;
}

static void on_curl_timeout(uv_timer_t *h)
{
    hd_whq *q = h->data;
    int running = 0;
    curl_multi_socket_action(q->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(q);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    hd_whq *q = userp;
    (void)multi;
    if (q->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&q->curl_timer);
    else
        uv_timer_start(&q->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- the feed's side ---- */

int hd_whq_push(hd_whq *q, const char *id, int64_t created_ms, const char *type, size_t type_len,
                const char *data, size_t data_len)
{
    if (q->closing)
        return -1;
    wh_event *ev = event_new(q, id, created_ms, type, type_len, data, data_len);
    if (ev == NULL)
        return -1;
    wh_conv *convs[HD_WEBHOOKS_MAX_URLS];
    for (size_t i = 0; i < q->n_targets; i++) {
        convs[i] = conv_get(&q->targets[i], ev->key);
        if (convs[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                conv_settle(convs[j]); /* frees the ones made for nothing */
            event_free(ev);
            return -1;
        }
    }
    for (size_t i = 0; i < q->n_targets; i++) {
        wh_slot *s = &ev->slot[i];
        s->ev = ev;
        s->conv = convs[i];
        sb_list_insert_tail(&convs[i]->slots, &s->link);
        conv_settle(convs[i]);
    }
    ev->left = q->n_targets;
    sb_list_insert_tail(&q->events, &ev->link);
    q->n_events++;
    stats_update(q);
    for (size_t i = 0; i < q->n_targets; i++)
        pump(&q->targets[i]);
    return 0;
}

size_t hd_whq_count(const hd_whq *q) { return q->n_events; }

void hd_whq_drop_oldest(hd_whq *q)
{
    wh_event *ev = SB_LIST_FIRST(&q->events, wh_event, link);
    if (ev == NULL)
        return;
    for (size_t i = 0; i < q->n_targets; i++) {
        wh_slot *s = &ev->slot[i];
        wh_conv *c = s->conv;
        if (c == NULL)
            continue;
        if (SB_LIST_FIRST(&c->slots, wh_slot, link) == s) {
            if (c->state == WH_SENDING)
                conv_cancel(c);
            else if (c->state == WH_WAITING) {
                heap_remove(&q->targets[i], c);
                c->state = WH_IDLE;
                arm_timer(&q->targets[i]);
            }
            c->attempts = 0;
        }
        q->stats->dropped++;
        slot_done(s);
        conv_settle(c);
    }
    event_maybe_finish(q, ev);
    for (size_t i = 0; i < q->n_targets; i++)
        pump(&q->targets[i]);
}

void hd_whq_clear(hd_whq *q)
{
    for (size_t i = 0; i < q->n_targets; i++) {
        wh_target *t = &q->targets[i];
        size_t pos = 0;
        wh_conv *c;
        while ((c = sb_map_next(&t->convs, &pos)) != NULL) {
            if (c->state == WH_SENDING)
                conv_cancel(c);
            sb_list_remove(&c->ready_link);
            free(c->key);
            free(c);
        }
        sb_map_free(&t->convs);
        sb_map_init(&t->convs);
        t->heap_n = 0;
        if (!q->closing)
            uv_timer_stop(&t->timer);
    }
    sb_list *l, *tmp;
    SB_LIST_FOREACH_SAFE(l, tmp, &q->events)
    {
        wh_event *ev = SB_LIST_DATA(l, wh_event, link);
        sb_list_remove(&ev->link);
        event_free(ev);
    }
    q->n_events = 0;
    stats_update(q);
}

/* ---- life cycle ---- */

static void target_name(wh_target *t)
{
    char *host = NULL;
    CURLU *u = curl_url();
    if (u != NULL && curl_url_set(u, CURLUPART_URL, t->url, 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    char name[300];
    snprintf(name, sizeof name, "URL #%zu (%s)", t->idx + 1, host ? host : "?");
    t->name = strdup(name);
    curl_free(host);
    curl_url_cleanup(u);
}

/* 1 when url parses and its scheme is http or https. */
static int url_ok(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

static void whq_free(hd_whq *q)
{
    for (size_t i = 0; i < q->n_targets; i++) {
        free(q->targets[i].url);
        free(q->targets[i].name);
        free(q->targets[i].heap);
        sb_map_free(&q->targets[i].convs);
    }
    free(q->targets);
    free(q->secret);
    free(q);
}

static void maybe_freed(hd_whq *q)
{
    if (!q->closing || q->handles > 0)
        return;
    void (*done)(void *) = q->done;
    void *ud = q->done_ud;
    whq_free(q);
    if (done != NULL)
        done(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    hd_whq *q;
    if (h->type == UV_POLL) {
        wh_sock *ws = h->data;
        q = ws->q;
        free(ws);
    } else {
        q = h->data;
    }
    q->handles--;
    maybe_freed(q);
}

static void on_target_timer_closed(uv_handle_t *h)
{
    wh_target *t = h->data;
    hd_whq *q = t->q;
    q->handles--;
    maybe_freed(q);
}

hd_whq *hd_whq_new(uv_loop_t *loop, const hd_whq_config *cfg, char *err, size_t errlen)
{
    if (cfg->n_urls == 0 || cfg->n_urls > HD_WEBHOOKS_MAX_URLS) {
        snprintf(err, errlen, "between 1 and %d webhook URLs", HD_WEBHOOKS_MAX_URLS);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_urls; i++)
        if (!url_ok(cfg->urls[i])) {
            snprintf(err, errlen, "webhook URL #%zu is not an http:// or https:// URL", i + 1);
            return NULL;
        }
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl failed to start");
            return NULL;
        }
        curl_ready = 1;
    }
    hd_whq *q = calloc(1, sizeof *q);
    if (q == NULL ||
        (q->targets = calloc(cfg->n_urls ? cfg->n_urls : 1, sizeof *q->targets)) == NULL) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->loop = loop;
    q->n_targets = cfg->n_urls;
    q->secret_len = strlen(cfg->secret);
    q->secret = (unsigned char *)sb_strndup(cfg->secret, q->secret_len);
    q->retry_s = cfg->retry_s;
    q->timeout_ms = cfg->timeout_ms;
    q->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 1;
    q->backoff_max_ms =
        cfg->backoff_max_ms > q->backoff_min_ms ? cfg->backoff_max_ms : q->backoff_min_ms;
    q->max_inflight = cfg->max_inflight ? cfg->max_inflight : 1;
    q->stats = cfg->stats;
    q->on_done = cfg->on_done;
    q->ud = cfg->ud;
    sb_list_init(&q->events);
    sb_list_init(&q->socks);
    int oom = q->secret == NULL;
    for (size_t i = 0; i < cfg->n_urls; i++) {
        wh_target *t = &q->targets[i];
        t->q = q;
        t->idx = i;
        t->url = strdup(cfg->urls[i]);
        sb_map_init(&t->convs);
        sb_list_init(&t->ready);
        target_name(t);
        oom |= t->url == NULL || t->name == NULL;
    }
    q->multi = oom ? NULL : curl_multi_init();
    if (q->multi == NULL) {
        whq_free(q);
        snprintf(err, errlen, oom ? "out of memory" : "libcurl: no multi handle");
        return NULL;
    }
    curl_multi_setopt(q->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(q->multi, CURLMOPT_SOCKETDATA, q);
    curl_multi_setopt(q->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(q->multi, CURLMOPT_TIMERDATA, q);
    uv_timer_init(loop, &q->curl_timer);
    q->curl_timer.data = q;
    q->handles++;
    for (size_t i = 0; i < q->n_targets; i++) {
        uv_timer_init(loop, &q->targets[i].timer);
        q->targets[i].timer.data = &q->targets[i];
        q->handles++;
    }
    stats_update(q);
    return q;
}

void hd_whq_close(hd_whq *q, void (*done)(void *ud), void *ud)
{
    if (q == NULL || q->closing)
        return;
    hd_whq_clear(q);
    q->closing = 1;
    q->done = done;
    q->done_ud = ud;
    /* closes curl's cached connections: their sockets come back as CURL_POLL_REMOVE */
    curl_multi_cleanup(q->multi);
    q->multi = NULL;
    sb_list *l, *tmp;
    SB_LIST_FOREACH_SAFE(l, tmp, &q->socks)
    {
        wh_sock *ws = SB_LIST_DATA(l, wh_sock, link);
        sb_list_remove(&ws->link);
        uv_close((uv_handle_t *)&ws->poll, on_handle_closed);
    }
    uv_close((uv_handle_t *)&q->curl_timer, on_handle_closed);
    for (size_t i = 0; i < q->n_targets; i++)
        uv_close((uv_handle_t *)&q->targets[i].timer, on_target_timer_closed);
}
