/* See LICENSE file for copyright and license details. */
/*
 * report: key-value and JSON results (report.h).
 */
#include <stdio.h>

#include "report.h"

void
report_init(struct report *r, FILE *fp, int json)
{
	r->fp = fp;
	r->json = json;
	r->n = 0;
}

static void
key(struct report *r, const char *k)
{
	if (r->json)
		fprintf(r->fp, "%s\n  \"%s\": ", r->n ? "," : "{", k);
	else
		fprintf(r->fp, "%s ", k);
	r->n++;
}

static void
endkey(struct report *r)
{
	if (!r->json)
		putc('\n', r->fp);
}

void
report_int(struct report *r, const char *k, long long v)
{
	key(r, k);
	fprintf(r->fp, "%lld", v);
	endkey(r);
}

void
report_num(struct report *r, const char *k, const char *fmt, double v)
{
	key(r, k);
	fprintf(r->fp, fmt, v);
	endkey(r);
}

void
report_str(struct report *r, const char *k, const char *v)
{
	key(r, k);
	fprintf(r->fp, r->json ? "\"%s\"" : "%s", v);
	endkey(r);
}

static double
pct(size_t a, size_t b)
{
	return b ? 100.0 * a / b : 0.0;
}

void
report_accuracy(struct report *r, const char *pre, const size_t *cm, int K,
                int confusion)
{
	size_t right = 0, all = 0;
	char k[128];
	int a, b;

	for (a = 0; a < K; a++)
		for (b = 0; b < K; b++) {
			all += cm[(size_t)a * K + b];
			right += a == b ? cm[(size_t)a * K + b] : 0;
		}
	snprintf(k, sizeof(k), "%s.acc", pre);
	report_num(r, k, "%.4f", pct(right, all));
	for (a = 0; a < K; a++) {
		size_t tot = 0;

		for (b = 0; b < K; b++)
			tot += cm[(size_t)a * K + b];
		if (!tot)
			continue;
		snprintf(k, sizeof(k), "%s.class.%d.acc", pre, a);
		report_num(r, k, "%.4f", pct(cm[(size_t)a * K + a], tot));
	}
	if (!confusion)
		return;
	for (a = 0; a < K; a++) {
		snprintf(k, sizeof(k), "%s.confusion.%d", pre, a);
		key(r, k);
		for (b = 0; b < K; b++)
			fprintf(r->fp, "%s%zu", b ? (r->json ? ", " : " ") :
			        (r->json ? "[" : ""), cm[(size_t)a * K + b]);
		if (r->json)
			putc(']', r->fp);
		endkey(r);
	}
}

void
report_end(struct report *r)
{
	if (r->json)
		fprintf(r->fp, "\n}\n");
}
