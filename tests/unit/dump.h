/*
 * dump.h: writing one record of a test dump (vitdump, ftdump; header
 * only): a tensor named name of dtype and dims with the bytes of data,
 * without meta.  Dies on an error, as test programs may.
 */
#ifndef MIM_DUMP_H
#define MIM_DUMP_H

#include <stdint.h>
#include <string.h>

#include "tensor.h"
#include "util.h"

static inline void
dump_put(struct tsr_writer *w, const char *name, int dtype, int rank,
         const uint64_t *dims, const void *data)
{
	struct tensor t;
	char msg[256];

	tensor_init(&t);
	if (tensor_shape(&t, name, dtype, rank, dims, msg, sizeof(msg)) < 0)
		die("%s", msg);
	memcpy(t.data, data, t.nbytes);
	if (tsr_write(w, &t, 0) < 0)
		die("%s", w->msg);
	tensor_free(&t);
}

#endif
