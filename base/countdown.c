/* countdown.c: the close countdown of countdown.h. */
#include "countdown.h"

void sb_countdown_start(sb_countdown *cd, sb_countdown_cb done, void *ud)
{
    cd->left = 1;
    cd->done = done;
    cd->ud = ud;
}

void sb_countdown_add(sb_countdown *cd) { cd->left++; }

static void on_handle_closed(uv_handle_t *h) { sb_countdown_done(h->data); }

void sb_countdown_close(sb_countdown *cd, uv_handle_t *h)
{
    sb_countdown_add(cd);
    h->data = cd;
    uv_close(h, on_handle_closed);
}

void sb_countdown_done(void *ud)
{
    sb_countdown *cd = ud;
    if (--cd->left == 0)
        cd->done(cd->ud);
}
