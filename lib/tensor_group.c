/* See LICENSE file for copyright and license details. */
/*
 * tensor_group: read a stream group by group.
 *
 * A group is a run of consecutive records with the same "batch" meta
 * value (records without one group with each other) within one stream
 * (a group never spans an end record), so a filter can
 * read one batch, add a tensor, and pass the rest through.  The first
 * record of the next group is read ahead and kept in g->next.
 */
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

void
tsr_group_init(struct tsr_group *g)
{
	memset(g, 0, sizeof(*g));
	tensor_init(&g->next);
}

void
tsr_group_free(struct tsr_group *g)
{
	size_t i;

	for (i = 0; i < g->cap; i++)
		tensor_free(&g->t[i]);
	free(g->t);
	tensor_free(&g->next);
	tsr_group_init(g);
}

static int
same_batch(const struct tensor *a, const struct tensor *b)
{
	char x[64], y[64];
	const char *p = tensor_meta_get(a, "batch", x, sizeof(x));
	const char *q = tensor_meta_get(b, "batch", y, sizeof(y));

	return (!p && !q) || (p && q && !strcmp(p, q));
}

/* swap the read-ahead record into slot g->n, growing the array */
static int
take_next(struct tsr_group *g)
{
	struct tensor tmp;

	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 8;
		struct tensor *t = realloc(g->t, cap * sizeof(*t));

		if (!t)
			return -1;
		memset(t + g->cap, 0, (cap - g->cap) * sizeof(*t));
		g->t = t;
		g->cap = cap;
	}
	tmp = g->t[g->n];
	g->t[g->n++] = g->next;
	g->next = tmp;
	g->havenext = 0;
	return 0;
}

int
tsr_group_read(struct tsr_reader *r, struct tsr_group *g)
{
	int rc;

	g->n = 0;
	if (!g->havenext) {
		if (g->eof)
			return 0;
		if ((rc = tsr_read(r, &g->next)) <= 0) {
			g->eof = rc == 0;
			return rc;
		}
		g->havenext = 1;
		g->nend = r->nend;
	}
	if (take_next(g) < 0)
		goto nomem;
	for (;;) {
		if ((rc = tsr_read(r, &g->next)) < 0)
			return -1;
		if (rc == 0) {
			g->eof = 1;
			return 1;
		}
		g->havenext = 1;
		if (r->nend != g->nend || !same_batch(&g->t[0], &g->next)) {
			g->nend = r->nend;
			return 1;
		}
		if (take_next(g) < 0)
			goto nomem;
	}
nomem:
	snprintf(r->msg, sizeof(r->msg), "%s: out of memory", r->name);
	r->err = TSR_ENOMEM;
	return -1;
}

struct tensor *
tsr_group_find(struct tsr_group *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (!strcmp(g->t[i].name, name))
			return &g->t[i];
	return NULL;
}

int
tsr_group_write(struct tsr_writer *w, const struct tsr_group *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (tsr_write(w, &g->t[i], 1) < 0)
			return -1;
	return 0;
}
