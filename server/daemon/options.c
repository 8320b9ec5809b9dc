/* options.c: the option table, its parser and the --help text (see options.h).
 *
 * One table describes every option; the environment pass and the argv pass both feed
 * option_set(), so a value is checked the same way wherever it came from. Validation that
 * needs more than bounds (path, cookie name) runs once at the end on the final values.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_ENV_PREFIX     "SWITCHBOARD_"
#define SB_ENV_NAME_MAX   64
#define SB_MAX_PORT       65535
#define SB_SHARED_OPTIONS 20
#define SB_MAX_OPTIONS    64

void sbd_options_defaults(sbd_options *o)
{
    memset(o, 0, sizeof(*o));
    eio_config_defaults(&o->eio);
    sio_options_defaults(&o->sio);
    o->cluster_engine = 1;
}

static int shared_options(sbd_options *o, sbd_option *t, int *help)
{
    const sbd_option shared[SB_SHARED_OPTIONS] = {
        {"host", SBD_OPT_STRING, &o->eio.host, 0, 0, "interface to bind (default 127.0.0.1)"},
        {"port", SBD_OPT_INT, &o->eio.port, 0, SB_MAX_PORT,
         "TCP port, 0 = any free one (default 3000)"},
        {"path", SBD_OPT_STRING, &o->eio.path, 0, 0, "endpoint path (default /socket.io/)"},
        {"ping-interval", SBD_OPT_U32, &o->eio.ping_interval_ms, 1, UINT32_MAX,
         "ms between pings (default 25000)"},
        {"ping-timeout", SBD_OPT_U32, &o->eio.ping_timeout_ms, 1, UINT32_MAX,
         "ms a pong may take (default 20000)"},
        {"max-payload", SBD_OPT_SIZE, &o->eio.max_payload, 1, SIZE_MAX,
         "largest message or POST body in bytes (default 1000000)"},
        {"max-outbound", SBD_OPT_SIZE, &o->eio.max_outbound, 1, SIZE_MAX,
         "bytes queued per connection before it is closed (default 4194304)"},
        {"connect-timeout", SBD_OPT_U32, &o->sio.connect_timeout_ms, 1, UINT32_MAX,
         "ms to join a namespace before the session is closed (default 45000)"},
        {"cors-origin", SBD_OPT_STRING, &o->eio.cors_origin, 0, 0,
         "allowed CORS origins: '*' or a comma-separated list (default none)"},
        {"cors-credentials", SBD_OPT_FLAG, &o->eio.cors_credentials, 0, 1,
         "CORS: allow credentials (cookies) from the --cors-origin origins (the Admin UI "
         "sends them)"},
        {"cookie", SBD_OPT_STRING, &o->eio.cookie, 0, 0,
         "sticky-session cookie name (default none)"},
        {"recovery-window", SBD_OPT_U32, &o->sio.recovery_window_ms, 0, UINT32_MAX,
         "connection state recovery window in ms, 0 = off (default 0)"},
        {"redis", SBD_OPT_STRING, &o->redis, 0, 0,
         "cluster mode: redis://[user:password@]host[:port][/db] (default none: one node)"},
        {"redis-prefix", SBD_OPT_STRING, &o->redis_prefix, 0, 0,
         "channel prefix of the cluster (default socket.io)"},
        {"redis-room-channels", SBD_OPT_FLAG, &o->redis_room_channels, 0, 1,
         "subscribe one channel per local room instead of key#nsp#* (less traffic, but a broadcast right after a remote join can miss the new member)"},
        {"cluster-engine", SBD_OPT_FLAG, &o->cluster_engine, 0, 1,
         "with --redis: no sticky sessions needed, a node relays requests for another node's "
         "sessions to it (default on)"},
        {"no-cluster-engine", SBD_OPT_FLAG, &o->no_cluster_engine, 0, 1,
         "with --redis: sessions must stay on their node (a sticky load balancer)"},
        {"node-id", SBD_OPT_STRING, &o->node_id, 0, 0, "this node's name in logs (default random)"},
        {"allow-eio3", SBD_OPT_FLAG, &o->eio.allow_eio3, 0, 1,
         "serve Engine.IO v3 clients (socket.io-client 2.x), as Node's allowEIO3 (default off)"},
        {"help", SBD_OPT_FLAG, help, 0, 1, "print this help and exit"},
    };
    memcpy(t, shared, sizeof(shared));
    return SB_SHARED_OPTIONS;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int parse_number(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)v[0]))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A repeatable option: each flag adds one value (the first flag replaces what the
 * environment gave); the environment variable holds them all, comma-separated. */
static int list_add(const char *prog, sbd_option_list *l, const char *value, const char *origin)
{
    int env = strncmp(origin, SB_ENV_PREFIX, strlen(SB_ENV_PREFIX)) == 0;
    if (!env && l->from_env)
        l->n = 0, l->from_env = 0;
    if (env) {
        if (strlen(value) >= sizeof(l->storage)) {
            fprintf(stderr, "%s: %s is too long\n", prog, origin);
            return -1;
        }
        strcpy(l->storage, value);
        l->from_env = 1;
        for (char *save = NULL, *tok = strtok_r(l->storage, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (l->n == SBD_OPTION_LIST_MAX)
                goto too_many;
            l->items[l->n++] = tok;
        }
        return 0;
    }
    if (l->n == SBD_OPTION_LIST_MAX)
        goto too_many;
    l->items[l->n++] = value;
    return 0;
too_many:
    fprintf(stderr, "%s: too many values for %s (at most %d)\n", prog, origin, SBD_OPTION_LIST_MAX);
    return -1;
}

/* Stores value into opt's target; prints why not and returns -1 when it is invalid.
 * origin names where the value came from ("--port", "SWITCHBOARD_PORT"). */
static int option_set(const char *prog, const sbd_option *opt, const char *value,
                      const char *origin)
{
    uint64_t n;
    switch (opt->kind) {
    case SBD_OPT_FLAG:
        if (!value)
            return *(int *)opt->target = 1, 0;
        if (parse_bool(value, opt->target) == 0)
            return 0;
        fprintf(stderr, "%s: invalid value for %s: '%s' (expected true or false)\n", prog, origin,
                value);
        return -1;
    case SBD_OPT_STRING: *(const char **)opt->target = value; return 0;
    case SBD_OPT_LIST: return list_add(prog, opt->target, value, origin);
    default:
        if (parse_number(value, opt->min, opt->max, &n) != 0) {
            fprintf(stderr,
                    "%s: invalid value for %s: '%s' (expected an integer from %" PRIu64
                    " to %" PRIu64 ")\n",
                    prog, origin, value, opt->min, opt->max);
            return -1;
        }
        if (opt->kind == SBD_OPT_U32)
            *(uint32_t *)opt->target = (uint32_t)n;
        else if (opt->kind == SBD_OPT_SIZE)
            *(size_t *)opt->target = (size_t)n;
        else
            *(int *)opt->target = (int)n;
        return 0;
    }
}

static void env_name(const sbd_option *opt, char *buf, size_t len)
{
    size_t i = (size_t)snprintf(buf, len, SB_ENV_PREFIX);
    for (const char *p = opt->name; *p && i + 1 < len; p++)
        buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[i] = '\0';
}

static int option_from_env(const sbd_option *opt) { return strcmp(opt->name, "help") != 0; }

static int parse_env(const char *prog, const sbd_option *t, int n)
{
    char name[SB_ENV_NAME_MAX];
    for (int i = 0; i < n; i++) {
        if (!option_from_env(&t[i]))
            continue;
        env_name(&t[i], name, sizeof(name));
        const char *v = getenv(name);
        if (v && option_set(prog, &t[i], v, name) != 0)
            return -1;
    }
    return 0;
}

static const sbd_option *option_find(const sbd_option *t, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(t[i].name) == len && strncmp(t[i].name, name, len) == 0)
            return &t[i];
    return NULL;
}

static int parse_argv(const char *prog, const sbd_option *t, int n, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, arg);
            return -1;
        }
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const sbd_option *opt = option_find(t, n, arg + 2, len);
        if (!opt) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && opt->kind != SBD_OPT_FLAG) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option --%s needs a value\n", prog, opt->name);
                return -1;
            }
            value = argv[++i];
        }
        char origin[SB_ENV_NAME_MAX];
        snprintf(origin, sizeof(origin), "--%s", opt->name);
        if (option_set(prog, opt, value, origin) != 0)
            return -1;
    }
    return 0;
}

static void print_help(const char *prog, const sbd_option *t, int n)
{
    char name[SB_ENV_NAME_MAX];
    printf(
        "usage: %s [options]\n\noptions (each also read from its environment variable; the flag wins):\n",
        prog);
    for (int i = 0; i < n; i++) {
        env_name(&t[i], name, sizeof(name));
        printf("  --%-18s %-30s %s\n", t[i].name, option_from_env(&t[i]) ? name : "", t[i].help);
    }
}

static int cookie_name_valid(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

/* Path "x", "/x" or "/x/" becomes "/x/", as Node normalises its path option. A NULL
 * path is left for the binary to choose. */
static int path_normalise(const char *prog, sbd_options *o)
{
    const char *p = o->eio.path;
    if (!p)
        return 0;
    size_t len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    while (len > 0 && p[0] == '/')
        p++, len--;
    if (len == 0 || len + 3 > sizeof(o->path) || strpbrk(p, "?# ")) {
        fprintf(stderr, "%s: invalid value for --path: '%s'\n", prog, o->eio.path);
        return -1;
    }
    snprintf(o->path, sizeof(o->path), "/%.*s/", (int)len, p);
    o->eio.path = o->path;
    return 0;
}

static int finish(const char *prog, sbd_options *o)
{
    if (path_normalise(prog, o) != 0)
        return -1;
    if (!o->eio.host || !*o->eio.host) {
        fprintf(stderr, "%s: invalid value for --host: ''\n", prog);
        return -1;
    }
    if (o->eio.cors_origin && !*o->eio.cors_origin)
        o->eio.cors_origin = NULL;
    if (o->eio.cookie && !*o->eio.cookie)
        o->eio.cookie = NULL;
    if (o->redis && !*o->redis)
        o->redis = NULL;
    o->cluster_engine = o->redis && o->cluster_engine && !o->no_cluster_engine;
    if (o->eio.cookie && !cookie_name_valid(o->eio.cookie)) {
        fprintf(stderr, "%s: invalid value for --cookie: '%s' (not a cookie name)\n", prog,
                o->eio.cookie);
        return -1;
    }
    return 0;
}

int sbd_options_parse(sbd_options *o, const char *prog, int argc, char **argv,
                      const sbd_option *extra, size_t n_extra)
{
    sbd_option table[SB_MAX_OPTIONS];
    int help = 0;
    int n = shared_options(o, table, &help);
    if (n_extra > SB_MAX_OPTIONS - (size_t)n) {
        fprintf(stderr, "%s: too many options\n", prog);
        return SBD_OPTIONS_ERR;
    }
    for (size_t i = 0; i < n_extra; i++)
        table[n++] = extra[i];
    if (parse_env(prog, table, n) != 0 || parse_argv(prog, table, n, argc, argv) != 0)
        return SBD_OPTIONS_ERR;
    if (help) {
        print_help(prog, table, n);
        return SBD_OPTIONS_HELP;
    }
    return finish(prog, o) == 0 ? SBD_OPTIONS_OK : SBD_OPTIONS_ERR;
}
