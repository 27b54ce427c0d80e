/* See LICENSE file for copyright and license details. */
/*
 * toklab: find and check the tokens and labels records of a group
 * (toklab.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "toklab.h"
#include "util.h"

void
toklab_init(struct toklab *s, const char *in, const char *tname,
            const char *lname)
{
	memset(s, 0, sizeof(*s));
	s->in = in;
	s->tname = tname;
	s->lname = lname;
	s->maxtok = s->maxlab = -1;
}

static int
int_dtype(int dtype)
{
	switch (dtype) {
	case TSR_U8: case TSR_I8: case TSR_U16: case TSR_I16:
	case TSR_U32: case TSR_I32: case TSR_I64:
		return 1;
	}
	return 0;
}

int64_t
toklab_ival(const struct tensor *t, size_t i)
{
	switch (t->dtype) {
	case TSR_U8: return ((const uint8_t *)t->data)[i];
	case TSR_I8: return ((const int8_t *)t->data)[i];
	case TSR_U16: return ((const uint16_t *)t->data)[i];
	case TSR_I16: return ((const int16_t *)t->data)[i];
	case TSR_U32: return ((const uint32_t *)t->data)[i];
	case TSR_I32: return ((const int32_t *)t->data)[i];
	default: return ((const int64_t *)t->data)[i];
	}
}

/* "[a,b,c]" of element i of t */
static void
index_str(const struct tensor *t, uint64_t i, char *s, size_t len)
{
	uint64_t ix[TSR_MAXRANK];
	size_t n = 0;
	int j;

	for (j = t->rank - 1; j >= 0; j--) {
		ix[j] = t->dims[j] ? i % t->dims[j] : 0;
		i = t->dims[j] ? i / t->dims[j] : 0;
	}
	for (j = 0; j < t->rank && n < len; j++)
		n += snprintf(s + n, len - n, "%s%" PRIu64, j ? "," : "[", ix[j]);
	if (n < len)
		snprintf(s + n, len - n, "]");
}

/*
 * The meta key of t as a count from 1 to INT32_MAX in *v, 0 if absent;
 * it must agree with *seen, the value of the earlier records, which it
 * then sets.  0 or -1 with msg.
 */
static int
meta_count(const char *where, const struct tensor *t, const char *key,
           int64_t *seen, char *msg, size_t msglen)
{
	char buf[64], *end;
	long long v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		return 0;
	v = strtoll(buf, &end, 10);
	if (end == buf || *end || v < 1 || v > INT32_MAX) {
		errf(msg, msglen, "%s: meta %s=%s, expected an integer from 1 "
		     "to %d", where, key, buf, INT32_MAX);
		return -1;
	}
	if (*seen && *seen != v) {
		errf(msg, msglen, "%s: meta %s=%lld, but earlier records have "
		     "%s=%" PRId64 " (streams of different tokenizers or "
		     "datasets?)", where, key, v, key, *seen);
		return -1;
	}
	*seen = v;
	return 0;
}

/* every token of tok in [0, k) (k 0: [0, INT32_MAX]); the largest in *hi */
static int
check_tokens(const char *tw, const struct tensor *tok, uint64_t count,
             int64_t k, int64_t *hi, char *msg, size_t msglen)
{
	char ix[160];
	uint64_t i;
	int64_t v;

	*hi = -1;
	for (i = 0; i < count; i++) {
		v = toklab_ival(tok, i);
		if (v < 0 || v > INT32_MAX || (k && v >= k)) {
			index_str(tok, i, ix, sizeof(ix));
			if (k)
				errf(msg, msglen, "%s: element %" PRIu64 " %s is %" PRId64
				     ", outside [0,%" PRId64 ") (meta k=%" PRId64 ")",
				     tw, i, ix, v, k, k);
			else
				errf(msg, msglen, "%s: element %" PRIu64 " %s is %" PRId64
				     ", tokens must be from 0 to %d", tw, i, ix, v,
				     INT32_MAX);
			return -1;
		}
		*hi = MAX(*hi, v);
	}
	return 0;
}

/* every label of lab in [0, c) (c 0: [0, INT32_MAX]); the largest in *hi */
static int
check_labels(const char *lw, const struct tensor *lab, uint64_t m, int64_t c,
             int64_t *hi, char *msg, size_t msglen)
{
	uint64_t i;
	int64_t v;

	*hi = -1;
	for (i = 0; i < m; i++) {
		v = toklab_ival(lab, i);
		if (v < 0 || v > INT32_MAX || (c && v >= c)) {
			if (c)
				errf(msg, msglen, "%s: element %" PRIu64 " is %" PRId64
				     ", outside [0,%" PRId64 ") (meta nclasses=%" PRId64
				     ")", lw, i, v, c, c);
			else
				errf(msg, msglen, "%s: element %" PRIu64 " is %" PRId64
				     ", labels must be from 0 to %d", lw, i, v, INT32_MAX);
			return -1;
		}
		*hi = MAX(*hi, v);
	}
	return 0;
}

int
toklab_group(struct toklab *s, struct tsr_group *g, uint64_t base,
             struct tensor **tokp, struct tensor **labp, uint64_t *perp,
             char *msg, size_t msglen)
{
	struct tensor *tok = NULL, *lab = NULL;
	char tw[320], lw[320], s1[256], s2[256];
	uint64_t ti = 0, li = 0, per = 1;
	int64_t thi, lhi;
	size_t j;
	int r;

	for (j = 0; j < g->n; j++) {
		if (!tok && !strcmp(g->t[j].name, s->tname)) {
			tok = &g->t[j];
			ti = base + j;
		} else if (!lab && !strcmp(g->t[j].name, s->lname)) {
			lab = &g->t[j];
			li = base + j;
		}
	}
	if (!tok && !lab)
		return 0; /* a group of other records */
	snprintf(tw, sizeof(tw), "%s: record %" PRIu64 " '%s'", s->in, ti,
	         s->tname);
	snprintf(lw, sizeof(lw), "%s: record %" PRIu64 " '%s'", s->in, li,
	         s->lname);
	if (!lab) {
		errf(msg, msglen, "%s: no '%s' record in its group (each group "
		     "needs the labels of its images)", tw, s->lname);
		return -1;
	}
	if (!tok) {
		errf(msg, msglen, "%s: no '%s' record in its group (tokenize the "
		     "stream first?)", lw, s->tname);
		return -1;
	}
	if (!int_dtype(tok->dtype)) {
		errf(msg, msglen, "%s: dtype %s, expected integers (i32)", tw,
		     tsr_dtype_name(tok->dtype));
		return -1;
	}
	if (!int_dtype(lab->dtype)) {
		errf(msg, msglen, "%s: dtype %s, expected integers (i32)", lw,
		     tsr_dtype_name(lab->dtype));
		return -1;
	}
	tensor_shape_str(tok, s1, sizeof(s1));
	tensor_shape_str(lab, s2, sizeof(s2));
	if (lab->rank != 1 || tok->rank < 1 || tok->dims[0] != lab->dims[0]) {
		errf(msg, msglen, "%s: shape %s does not match record %" PRIu64
		     " '%s' %s (expected tokens [n, ...] and labels [n])",
		     tw, s1, li, s->lname, s2);
		return -1;
	}
	if (meta_count(tw, tok, "k", &s->k, msg, msglen) < 0 ||
	    meta_count(lw, lab, "nclasses", &s->nclasses, msg, msglen) < 0)
		return -1;
	s->records++;
	for (r = 1; r < tok->rank; r++)
		per *= tok->dims[r];
	if (check_tokens(tw, tok, lab->dims[0] * per, s->k, &thi, msg,
	                 msglen) < 0 ||
	    check_labels(lw, lab, lab->dims[0], s->nclasses, &lhi, msg,
	                 msglen) < 0)
		return -1;
	s->patches += lab->dims[0] * per;
	s->maxtok = MAX(s->maxtok, thi);
	s->maxlab = MAX(s->maxlab, lhi);
	*tokp = tok;
	*labp = lab;
	*perp = per;
	return 1;
}

int
toklab_finish(const struct toklab *s, char *msg, size_t msglen)
{
	if (!s->patches) {
		errf(msg, msglen, "%s: no tokens (%s)", s->in,
		     s->records ? "the tokens records are empty"
		                : "no tokens record in the stream");
		return -1;
	}
	if (s->k && s->maxtok >= s->k) {
		errf(msg, msglen, "%s: a token is %" PRId64 ", but the tokens meta "
		     "says k=%" PRId64, s->in, s->maxtok, s->k);
		return -1;
	}
	if (s->nclasses && s->maxlab >= s->nclasses) {
		errf(msg, msglen, "%s: a label is %" PRId64 ", but the labels meta "
		     "says nclasses=%" PRId64, s->in, s->maxlab, s->nclasses);
		return -1;
	}
	return 0;
}
