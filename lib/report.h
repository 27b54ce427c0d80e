/* See LICENSE file for copyright and license details. */
/*
 * report: the text results of probe and finetune, one "key value" line
 * each, or with json one JSON object with the same keys in the same
 * order (the values as numbers, strings or arrays of counts).
 *
 * Nothing here exits; output errors show in the FILE's error flag.
 */
#ifndef MIM_REPORT_H
#define MIM_REPORT_H

#include <stddef.h>
#include <stdio.h>

struct report {
	FILE *fp;
	int json;
	int n;       /* keys written */
};

void report_init(struct report *, FILE *fp, int json);
void report_int(struct report *, const char *key, long long v);
/* v printed with fmt (one double conversion, e.g. "%.4f") */
void report_num(struct report *, const char *key, const char *fmt, double v);
void report_str(struct report *, const char *key, const char *v);
/*
 * From the confusion counts cm (K,K) (row: true class, column:
 * predicted): PRE.acc, the percentage right; PRE.class.C.acc for every
 * class C with images; with confusion, PRE.confusion.C, the row of C.
 */
void report_accuracy(struct report *, const char *pre, const size_t *cm,
                     int K, int confusion);
/* the end of the JSON object (nothing for text) */
void report_end(struct report *);

#endif
