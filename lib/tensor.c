/* See LICENSE file for copyright and license details. */
/*
 * tensor: the dtype table, tensor allocation and metadata.
 * Reading and writing records live in tensor_read.c and tensor_write.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[TSR_NDTYPE] = {
	[TSR_INVALID] = { "invalid", 0 },
	[TSR_U8] = { "u8", 1 },   [TSR_I8] = { "i8", 1 },
	[TSR_U16] = { "u16", 2 }, [TSR_I16] = { "i16", 2 },
	[TSR_U32] = { "u32", 4 }, [TSR_I32] = { "i32", 4 },
	[TSR_U64] = { "u64", 8 }, [TSR_I64] = { "i64", 8 },
	[TSR_F16] = { "f16", 2 }, [TSR_F32] = { "f32", 4 },
	[TSR_F64] = { "f64", 8 }, [TSR_BF16] = { "bf16", 2 },
};

size_t
tsr_dtype_size(int dtype)
{
	return (dtype > 0 && dtype < TSR_NDTYPE) ? dtypes[dtype].size : 0;
}

const char *
tsr_dtype_name(int dtype)
{
	return (dtype > 0 && dtype < TSR_NDTYPE) ? dtypes[dtype].name : "?";
}

int
tsr_dtype_parse(const char *s)
{
	int i;

	for (i = 1; i < TSR_NDTYPE; i++)
		if (!strcmp(s, dtypes[i].name))
			return i;
	return TSR_INVALID;
}

void
tensor_init(struct tensor *t)
{
	memset(t, 0, sizeof(*t));
}

void
tensor_free(struct tensor *t)
{
	free(t->data);
	free(t->meta);
	tensor_init(t);
}

uint64_t
tensor_count(const struct tensor *t)
{
	uint64_t n = 1;
	int i;

	for (i = 0; i < t->rank; i++)
		n *= t->dims[i];
	return n;
}

/* name or key: [a-z0-9_]+ segments joined by '.', 1..255 bytes */
int
tsr_name_ok(const char *s)
{
	size_t n = 0;
	int seg = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
			seg++;
		else if (c == '.' && seg)
			seg = 0;
		else
			return 0;
	}
	return n >= 1 && n <= TSR_MAXNAME && seg;
}

int
tsr_count(int rank, const uint64_t *dims, size_t size, uint64_t *count)
{
	int i;

	*count = 1;
	for (i = 0; i < rank; i++)
		if (!dims[i])
			*count = 0;
	for (i = 0; *count && i < rank; i++) {
		if (*count > UINT64_MAX / dims[i])
			return -1;
		*count *= dims[i];
	}
	return size && *count > SIZE_MAX / size ? -2 : 0;
}

int
tensor_shape(struct tensor *t, const char *name, int dtype, int rank,
             const uint64_t *dims, char *msg, size_t msglen)
{
	uint64_t count;
	size_t size = tsr_dtype_size(dtype), nbytes;

	if (!tsr_name_ok(name)) {
		snprintf(msg, msglen, "bad tensor name '%s'", name);
		return -1;
	}
	if (!size || rank < 0 || rank > TSR_MAXRANK) {
		snprintf(msg, msglen, "'%s': bad dtype %d or rank %d", name,
		         dtype, rank);
		return -1;
	}
	if (tsr_count(rank, dims, size, &count) < 0) {
		snprintf(msg, msglen, "'%s': dims overflow", name);
		return -1;
	}
	nbytes = count * size;
	if (nbytes > t->datacap) {
		void *p = realloc(t->data, nbytes);

		if (!p) {
			snprintf(msg, msglen, "'%s': cannot allocate %zu bytes",
			         name, nbytes);
			return -1;
		}
		t->data = p;
		t->datacap = nbytes;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->dtype = dtype;
	t->rank = rank;
	memset(t->dims, 0, sizeof(t->dims));
	if (rank)
		memcpy(t->dims, dims, rank * sizeof(*dims));
	t->nbytes = nbytes;
	t->flags = 0;
	t->crc = 0;
	if (t->meta)
		t->meta[0] = '\0';
	t->metalen = 0;
	return 0;
}

int
tensor_copy(struct tensor *dst, const struct tensor *src)
{
	char msg[64];

	if (tensor_shape(dst, src->name, src->dtype, src->rank, src->dims, msg,
	                 sizeof(msg)) < 0)
		return -1;
	if (src->nbytes)
		memcpy(dst->data, src->data, src->nbytes);
	dst->flags = src->flags;
	dst->crc = src->crc;
	return tensor_meta_copy(dst, src);
}

/* ------------------------------------------------------------------ */
/* metadata                                                            */

/* the start of line "key=..." in meta, or NULL */
static char *
meta_find(const struct tensor *t, const char *key)
{
	size_t klen = strlen(key);
	char *p = t->meta;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

const char *
tensor_meta_get(const struct tensor *t, const char *key, char *buf,
                size_t buflen)
{
	char *p = meta_find(t, key), *e;
	size_t n;

	if (!p || !buflen)
		return NULL;
	p += strlen(key) + 1;
	e = strchr(p, '\n');
	n = e ? (size_t)(e - p) : strlen(p);
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* make room for need bytes of meta, NUL included */
static int
meta_reserve(struct tensor *t, size_t need)
{
	char *p;

	if (need <= t->metacap)
		return 0;
	if (!(p = realloc(t->meta, need)))
		return -1;
	if (!t->meta)
		p[0] = '\0';
	t->meta = p;
	t->metacap = need;
	return 0;
}

/* a key keeps its place when its value changes; new keys go last */
int
tensor_meta_set(struct tensor *t, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value), old = 0, len, off;
	char *p;

	if (!tsr_name_ok(key) || strchr(value, '\n'))
		return -1;
	if ((p = meta_find(t, key)))
		old = strchr(p + klen + 1, '\n') - (p + klen + 1);
	len = p ? t->metalen - old + vlen : t->metalen + klen + vlen + 2;
	if (len > TSR_MAXMETA || meta_reserve(t, len + 1) < 0)
		return -1;
	if (!p) {
		snprintf(t->meta + t->metalen, len + 1 - t->metalen, "%s=%s\n",
		         key, value);
	} else {
		off = meta_find(t, key) - t->meta + klen + 1; /* after realloc */
		memmove(t->meta + off + vlen, t->meta + off + old,
		        t->metalen - off - old + 1);
		memcpy(t->meta + off, value, vlen);
	}
	t->metalen = len;
	return 0;
}

int
tensor_meta_setf(struct tensor *t, const char *key, const char *fmt, ...)
{
	char buf[4096], *big;
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(buf))
		return tensor_meta_set(t, key, buf);
	if (!(big = malloc(n + 1)))
		return -1;
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	r = tensor_meta_set(t, key, big);
	free(big);
	return r;
}

int
tensor_meta_copy(struct tensor *dst, const struct tensor *src)
{
	if (meta_reserve(dst, src->metalen + 1) < 0)
		return -1;
	memcpy(dst->meta, src->meta ? src->meta : "", src->metalen);
	dst->meta[src->metalen] = '\0';
	dst->metalen = src->metalen;
	return 0;
}

void
tensor_shape_str(const struct tensor *t, char *buf, size_t buflen)
{
	char names[256], *name = NULL, *save = NULL;
	size_t n = 0;
	int i;

	if (tensor_meta_get(t, "dims", names, sizeof(names)))
		name = strtok_r(names, ",", &save);
	n += snprintf(buf + n, buflen - n, "[");
	for (i = 0; i < t->rank && n < buflen; i++) {
		n += snprintf(buf + n, buflen - n, "%s%s%s%llu", i ? "," : "",
		              name ? name : "", name ? "=" : "",
		              (unsigned long long)t->dims[i]);
		if (name)
			name = strtok_r(NULL, ",", &save);
	}
	if (n < buflen)
		snprintf(buf + n, buflen - n, "]");
}
