/* See LICENSE file for copyright and license details. */
/*
 * toklab: the tokens and the labels of a stream's groups, found and
 * checked, for the tools that score a tokenizer against the classes
 * (tcas, augraph).
 *
 * Each group that matters holds two records (names chosen by the tool):
 *
 *	tokens  integers [n, ...]   a token in [0, K) per patch (tokenize)
 *	labels  integers [n]        the class of each image (patchify)
 *
 * and every patch takes its image's label.  Groups with neither record
 * are skipped.  Integers are any of u8, i8, u16, i16, u32, i32, i64.
 * Tokens and labels run from 0 to K-1 and C-1 when the records carry
 * the meta keys k and nclasses (the same in every record), else to
 * INT32_MAX.
 *
 * Messages name the input, the record's index and name, and for a bad
 * value its element: "t.tsr: record 2 'tokens': element 2 [1,0] is 2,
 * outside [0,2) (meta k=2)".  Nothing here exits or prints: functions
 * return -1 and fill msg.
 */
#ifndef MIM_TOKLAB_H
#define MIM_TOKLAB_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

struct toklab {
	const char *in;     /* input name, for messages */
	const char *tname;  /* the tokens record's name */
	const char *lname;  /* the labels record's name */
	int64_t k;          /* meta k of the tokens, 0 if none yet */
	int64_t nclasses;   /* meta nclasses of the labels, 0 if none yet */
	int64_t maxtok;     /* the largest token and label seen, -1 none */
	int64_t maxlab;
	uint64_t records;   /* tokens records seen */
	uint64_t patches;   /* tokens in them */
};

void toklab_init(struct toklab *, const char *in, const char *tname,
                 const char *lname);

/*
 * The tokens and labels of group g, whose first record is record base of
 * the input, checked as above.  1: *tok, *lab and *per (tokens per
 * image, the product of the tokens' dims after the first) are set and
 * maxtok, maxlab updated; 0: the group has neither record; -1: msg.
 */
int toklab_group(struct toklab *, struct tsr_group *g, uint64_t base,
                 struct tensor **tok, struct tensor **lab, uint64_t *per,
                 char *msg, size_t msglen);

/*
 * After the last group: there must have been tokens ("no tokens"), and
 * meta k or nclasses, which may first appear after larger values, must
 * be above the largest seen.  0 or -1.
 */
int toklab_finish(const struct toklab *, char *msg, size_t msglen);

/* element i of an integer tensor (a dtype toklab_group accepted) */
int64_t toklab_ival(const struct tensor *t, size_t i);

#endif
