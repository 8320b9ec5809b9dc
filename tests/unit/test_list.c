/* test_list.c: sb_list, the intrusive list of list.h. */
#include "list.h"
#include "test.h"

#define ITEMS 5

typedef struct item {
    int value;
    sb_list link;
} item;

/* The values of the list at head, first to last, written to out; returns how many. */
static size_t values(const sb_list *head, int *out, size_t max)
{
    size_t n = 0;
    sb_list *q;
    SB_LIST_FOREACH(q, head)
    {
        ASSERT(n < max);
        out[n++] = SB_LIST_DATA(q, item, link)->value;
    }
    return n;
}

/* The list at head holds exactly the values in want, in order, both ways round. */
static void expect_values(const sb_list *head, const int *want, size_t n)
{
    int got[ITEMS * 2];
    ASSERT_EQ(values(head, got, ITEMS * 2), n);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(got[i], want[i]);
    size_t back = 0;
    for (const sb_list *q = head->prev; q != head; q = q->prev, back++)
        ASSERT_EQ(SB_LIST_DATA(q, item, link)->value, want[n - 1 - back]);
    ASSERT_EQ(back, n);
}

static void items_init(item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i].value = (int)i;
        sb_list_init(&v[i].link);
    }
}

TEST_IMPL(list_starts_empty)
{
    sb_list head;
    item one;
    sb_list_init(&head);
    items_init(&one, 1);
    ASSERT(sb_list_empty(&head));
    ASSERT(!sb_list_linked(&one.link));
    ASSERT(SB_LIST_FIRST(&head, item, link) == NULL);
    ASSERT(SB_LIST_LAST(&head, item, link) == NULL);
    expect_values(&head, NULL, 0);
    return 0;
}

TEST_IMPL(list_insert_head_and_tail)
{
    sb_list head;
    item v[ITEMS];
    sb_list_init(&head);
    items_init(v, ITEMS);
    sb_list_insert_tail(&head, &v[2].link);
    sb_list_insert_head(&head, &v[1].link);
    sb_list_insert_tail(&head, &v[3].link);
    sb_list_insert_head(&head, &v[0].link);
    sb_list_insert_tail(&head, &v[4].link);
    expect_values(&head, (const int[]){0, 1, 2, 3, 4}, ITEMS);
    ASSERT(!sb_list_empty(&head));
    ASSERT(SB_LIST_FIRST(&head, item, link) == &v[0]);
    ASSERT(SB_LIST_LAST(&head, item, link) == &v[4]);
    for (size_t i = 0; i < ITEMS; i++)
        ASSERT(sb_list_linked(&v[i].link));
    return 0;
}

TEST_IMPL(list_insert_after_and_before)
{
    sb_list head;
    item v[ITEMS];
    sb_list_init(&head);
    items_init(v, ITEMS);
    sb_list_insert_after(&head, &v[2].link);  /* after the head: first */
    sb_list_insert_before(&head, &v[4].link); /* before the head: last */
    sb_list_insert_after(&v[2].link, &v[3].link);
    sb_list_insert_before(&v[2].link, &v[1].link);
    sb_list_insert_before(&v[1].link, &v[0].link);
    expect_values(&head, (const int[]){0, 1, 2, 3, 4}, ITEMS);
    return 0;
}

TEST_IMPL(list_remove_first_middle_last)
{
    sb_list head;
    item v[ITEMS];
    sb_list_init(&head);
    items_init(v, ITEMS);
    for (size_t i = 0; i < ITEMS; i++)
        sb_list_insert_tail(&head, &v[i].link);
    sb_list_remove(&v[2].link);
    expect_values(&head, (const int[]){0, 1, 3, 4}, 4);
    sb_list_remove(&v[0].link);
    expect_values(&head, (const int[]){1, 3, 4}, 3);
    sb_list_remove(&v[4].link);
    expect_values(&head, (const int[]){1, 3}, 2);
    ASSERT(!sb_list_linked(&v[0].link) && !sb_list_linked(&v[2].link));
    ASSERT(!sb_list_linked(&v[4].link));
    sb_list_remove(&v[1].link);
    sb_list_remove(&v[3].link);
    ASSERT(sb_list_empty(&head));
    return 0;
}

TEST_IMPL(list_remove_twice_is_harmless)
{
    sb_list head;
    item v[2];
    sb_list_init(&head);
    items_init(v, 2);
    sb_list_insert_tail(&head, &v[0].link);
    sb_list_insert_tail(&head, &v[1].link);
    sb_list_remove(&v[0].link);
    sb_list_remove(&v[0].link);
    expect_values(&head, (const int[]){1}, 1);
    /* An unlinked link can go into another list. */
    sb_list_insert_head(&head, &v[0].link);
    expect_values(&head, (const int[]){0, 1}, 2);
    return 0;
}

TEST_IMPL(list_foreach_safe_removes_while_walking)
{
    sb_list head, odd;
    item v[ITEMS];
    sb_list_init(&head);
    sb_list_init(&odd);
    items_init(v, ITEMS);
    for (size_t i = 0; i < ITEMS; i++)
        sb_list_insert_tail(&head, &v[i].link);
    sb_list *q, *tmp;
    SB_LIST_FOREACH_SAFE(q, tmp, &head)
    {
        item *it = SB_LIST_DATA(q, item, link);
        if (it->value % 2 != 0) {
            sb_list_remove(q);
            sb_list_insert_tail(&odd, q);
        }
    }
    expect_values(&head, (const int[]){0, 2, 4}, 3);
    expect_values(&odd, (const int[]){1, 3}, 2);
    return 0;
}

TEST_IMPL(list_links_in_several_lists_at_once)
{
    typedef struct twice {
        sb_list a, b;
    } twice;
    sb_list la, lb;
    twice t[2];
    sb_list_init(&la);
    sb_list_init(&lb);
    for (int i = 0; i < 2; i++) {
        sb_list_init(&t[i].a);
        sb_list_init(&t[i].b);
        sb_list_insert_tail(&la, &t[i].a);
        sb_list_insert_head(&lb, &t[i].b);
    }
    ASSERT(SB_LIST_FIRST(&la, twice, a) == &t[0]);
    ASSERT(SB_LIST_FIRST(&lb, twice, b) == &t[1]);
    sb_list_remove(&t[0].a);
    ASSERT(SB_LIST_FIRST(&la, twice, a) == &t[1]);
    ASSERT(SB_LIST_LAST(&lb, twice, b) == &t[0]);
    return 0;
}
