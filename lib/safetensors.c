/* See LICENSE file for copyright and license details. */
/*
 * safetensors: the file format and timm's ViT names (safetensors.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* ------------------------------------------------------------------ */
/* a JSON subset: objects, arrays, strings, integers                   */

struct js {
	const char *p, *end, *start;
	char *msg;
	size_t len;
	const char *name;
};

static void
ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	                         *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
fail(struct js *j, const char *what)
{
	snprintf(j->msg, j->len, "%s: bad JSON header at byte %td: %s",
	         j->name, j->p - j->start, what);
	return -1;
}

static int
expect(struct js *j, char c)
{
	char what[32];

	ws(j);
	if (j->p >= j->end || *j->p != c) {
		snprintf(what, sizeof(what), "expected '%c'", c);
		return fail(j, what);
	}
	j->p++;
	return 0;
}

static int
peek(struct js *j, char c)
{
	ws(j);
	return j->p < j->end && *j->p == c;
}

static int
str(struct js *j, char *out, size_t cap)
{
	size_t n = 0;

	if (expect(j, '"') < 0)
		return -1;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if (c == '\\') {
			if (j->p >= j->end || *j->p == 'u')
				return fail(j, "unsupported escape in a string");
			c = *j->p++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		if (n + 1 >= cap)
			return fail(j, "string too long");
		out[n++] = c;
	}
	out[n] = '\0';
	return expect(j, '"');
}

static int
integer(struct js *j, uint64_t *v)
{
	ws(j);
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return fail(j, "expected a non-negative integer");
	*v = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (*v > (UINT64_MAX - 9) / 10)
			return fail(j, "integer too large");
		*v = *v * 10 + (uint64_t)(*j->p++ - '0');
	}
	return 0;
}

/* skip any value (for keys we do not know) */
static int
skip(struct js *j, int depth)
{
	char buf[4096];
	uint64_t v;

	if (depth > 32)
		return fail(j, "nested too deep");
	ws(j);
	if (peek(j, '"'))
		return str(j, buf, sizeof(buf));
	if (peek(j, '{') || peek(j, '[')) {
		char close = *j->p == '{' ? '}' : ']';
		int obj = close == '}';

		j->p++;
		if (peek(j, close))
			return expect(j, close);
		for (;;) {
			if (obj && (str(j, buf, sizeof(buf)) < 0 || expect(j, ':') < 0))
				return -1;
			if (skip(j, depth + 1) < 0)
				return -1;
			if (peek(j, ','))
				j->p++;
			else
				return expect(j, close);
		}
	}
	if (j->end - j->p >= 4 && (!strncmp(j->p, "true", 4) ||
	                           !strncmp(j->p, "null", 4))) {
		j->p += 4;
		return 0;
	}
	if (j->end - j->p >= 5 && !strncmp(j->p, "false", 5)) {
		j->p += 5;
		return 0;
	}
	if (peek(j, '-'))
		j->p++;
	return integer(j, &v);
}

static int
intarray(struct js *j, uint64_t *v, int max, int *n)
{
	*n = 0;
	if (expect(j, '[') < 0)
		return -1;
	if (peek(j, ']'))
		return expect(j, ']');
	for (;;) {
		if (*n >= max)
			return fail(j, "array too long");
		if (integer(j, &v[(*n)++]) < 0)
			return -1;
		if (peek(j, ','))
			j->p++;
		else
			return expect(j, ']');
	}
}

static int
tensor_entry(struct js *j, struct st_tensor *t)
{
	char key[64];
	uint64_t off[2];
	int n, have = 0;

	if (expect(j, '{') < 0)
		return -1;
	while (!peek(j, '}')) {
		if (str(j, key, sizeof(key)) < 0 || expect(j, ':') < 0)
			return -1;
		if (!strcmp(key, "dtype")) {
			if (str(j, t->dtype, sizeof(t->dtype)) < 0)
				return -1;
			have |= 1;
		} else if (!strcmp(key, "shape")) {
			if (intarray(j, t->dims, 8, &t->rank) < 0)
				return -1;
			have |= 2;
		} else if (!strcmp(key, "data_offsets")) {
			if (intarray(j, off, 2, &n) < 0)
				return -1;
			if (n != 2)
				return fail(j, "data_offsets needs two integers");
			t->begin = off[0];
			t->end = off[1];
			have |= 4;
		} else if (skip(j, 0) < 0) {
			return -1;
		}
		if (peek(j, ','))
			j->p++;
	}
	if (have != 7)
		return fail(j, "a tensor without dtype, shape or data_offsets");
	return expect(j, '}');
}

/* ------------------------------------------------------------------ */

static size_t
dsize(const char *dt)
{
	if (!strcmp(dt, "F32") || !strcmp(dt, "I32") || !strcmp(dt, "U32"))
		return 4;
	if (!strcmp(dt, "F16") || !strcmp(dt, "BF16") || !strcmp(dt, "I16") ||
	    !strcmp(dt, "U16"))
		return 2;
	if (!strcmp(dt, "F64") || !strcmp(dt, "I64") || !strcmp(dt, "U64"))
		return 8;
	if (!strcmp(dt, "U8") || !strcmp(dt, "I8") || !strcmp(dt, "BOOL"))
		return 1;
	return 0;
}

int
st_read(struct st_file *f, FILE *fp, const char *name, char *msg,
        size_t len)
{
	struct js j;
	size_t cap = 1 << 20, n = 0, r;
	uint64_t hlen, cnt;
	int i, k, tcap = 0;
	char key[256];

	memset(f, 0, sizeof(*f));
	if (!(f->buf = malloc(cap)))
		goto nomem;
	while ((r = fread(f->buf + n, 1, cap - n, fp)) > 0) {
		n += r;
		if (n == cap) {
			unsigned char *nb = realloc(f->buf, cap * 2);

			if (!nb)
				goto nomem;
			f->buf = nb;
			cap *= 2;
		}
	}
	if (ferror(fp)) {
		snprintf(msg, len, "%s: read error", name);
		goto bad;
	}
	f->len = n;
	if (n < 8) {
		snprintf(msg, len, "%s: not a safetensors file (%zu bytes)", name, n);
		goto bad;
	}
	hlen = 0;
	for (i = 7; i >= 0; i--)
		hlen = hlen << 8 | f->buf[i];
	if (hlen > n - 8 || hlen < 2 || f->buf[8] != '{') {
		snprintf(msg, len, "%s: not a safetensors file (header length "
		         "%" PRIu64 " of a %zu-byte file)", name, hlen, n);
		goto bad;
	}
	f->data = 8 + hlen;
	j.p = j.start = (const char *)f->buf + 8;
	j.end = j.p + hlen;
	j.msg = msg;
	j.len = len;
	j.name = name;
	if (expect(&j, '{') < 0)
		goto bad;
	while (!peek(&j, '}')) {
		if (str(&j, key, sizeof(key)) < 0 || expect(&j, ':') < 0)
			goto bad;
		if (!strcmp(key, "__metadata__")) {
			char mk[64], mv[256];

			if (expect(&j, '{') < 0)
				goto bad;
			while (!peek(&j, '}')) {
				if (str(&j, mk, sizeof(mk)) < 0 || expect(&j, ':') < 0 ||
				    str(&j, mv, sizeof(mv)) < 0)
					goto bad;
				if (!strcmp(mk, "num_heads") && strlen(mv) < sizeof(f->heads))
					memcpy(f->heads, mv, strlen(mv) + 1);
				if (peek(&j, ','))
					j.p++;
			}
			if (expect(&j, '}') < 0)
				goto bad;
		} else {
			struct st_tensor *t;

			if (f->n == tcap) {
				struct st_tensor *nt = realloc(f->t, (tcap ? 2 * tcap : 64) *
				                                     sizeof(*nt));
				if (!nt)
					goto nomem;
				f->t = nt;
				tcap = tcap ? 2 * tcap : 64;
			}
			t = &f->t[f->n];
			memset(t, 0, sizeof(*t));
			snprintf(t->name, sizeof(t->name), "%s", key);
			if (tensor_entry(&j, t) < 0)
				goto bad;
			cnt = 1;
			for (k = 0; k < t->rank; k++) {
				if (t->dims[k] && cnt > UINT64_MAX / t->dims[k]) {
					snprintf(msg, len, "%s: tensor '%s': shape overflows",
					         name, t->name);
					goto bad;
				}
				cnt *= t->dims[k];
			}
			if (cnt > UINT64_MAX / 8) {
				snprintf(msg, len, "%s: tensor '%s': shape overflows",
				         name, t->name);
				goto bad;
			}
			if (!dsize(t->dtype)) {
				snprintf(msg, len, "%s: tensor '%s': unknown dtype %s", name,
				         t->name, t->dtype);
				goto bad;
			}
			if (t->end < t->begin || t->end > n - f->data ||
			    t->end - t->begin != cnt * dsize(t->dtype)) {
				snprintf(msg, len, "%s: tensor '%s': data_offsets [%" PRIu64
				         ", %" PRIu64 "] do not hold %" PRIu64 " %s elements "
				         "within the %zu data bytes", name, t->name, t->begin,
				         t->end, cnt, t->dtype, n - (size_t)f->data);
				goto bad;
			}
			f->n++;
		}
		if (peek(&j, ','))
			j.p++;
	}
	if (expect(&j, '}') < 0)
		goto bad;
	return 0;
nomem:
	snprintf(msg, len, "%s: out of memory", name);
bad:
	st_free(f);
	return -1;
}

const struct st_tensor *
st_find(const struct st_file *f, const char *name)
{
	int i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

static float
half(uint16_t h)
{
	int e = h >> 10 & 31, m = h & 1023;
	float v = e == 0 ? ldexpf((float)m, -24) :
	          e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);

	return h & 0x8000 ? -v : v;
}

int
st_get_f32(const struct st_file *f, const struct st_tensor *t, float *out,
           char *msg, size_t len)
{
	const unsigned char *p = f->buf + f->data + t->begin;
	size_t i, n = (t->end - t->begin) / (dsize(t->dtype) ? dsize(t->dtype) : 1);

	if (!strcmp(t->dtype, "F32")) {
		memcpy(out, p, n * 4);
	} else if (!strcmp(t->dtype, "BF16")) {
		for (i = 0; i < n; i++) {
			uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;

			memcpy(out + i, &u, 4);
		}
	} else if (!strcmp(t->dtype, "F16")) {
		for (i = 0; i < n; i++)
			out[i] = half((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
	} else {
		snprintf(msg, len, "tensor '%s': dtype %s, expected F32, F16 or "
		         "BF16", t->name, t->dtype);
		return -1;
	}
	return 0;
}

void
st_free(struct st_file *f)
{
	free(f->buf);
	free(f->t);
	memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------------ */
/* timm's VisionTransformer                                            */

/* the tensor name with its expected shape, or -1 with a message */
static const struct st_tensor *
need(const struct st_file *f, const char *name, const char *tn, int rank,
     const uint64_t *dims, char *msg, size_t len)
{
	const struct st_tensor *t = st_find(f, tn);
	char want[128], got[128];
	size_t a = 0, b = 0;
	int i, ok;

	if (!t) {
		snprintf(msg, len, "%s: no tensor '%s' (not a timm ViT?)", name, tn);
		return NULL;
	}
	ok = t->rank == rank;
	for (i = 0; i < rank && ok; i++)
		ok = t->dims[i] == dims[i];
	if (ok)
		return t;
	for (i = 0; i < rank; i++)
		a += snprintf(want + a, sizeof(want) - a, "%s%" PRIu64,
		              i ? "," : "", dims[i]);
	for (i = 0; i < t->rank && b < sizeof(got) - 24; i++)
		b += snprintf(got + b, sizeof(got) - b, "%s%" PRIu64, i ? "," : "",
		              t->dims[i]);
	want[a] = got[b] = '\0';
	snprintf(msg, len, "%s: tensor '%s': shape [%s], expected [%s]", name, tn,
	         got, want);
	return NULL;
}

int
st_load_timm(struct vit *v, const struct st_file *f, const char *name,
             int maxB, char *msg, size_t len)
{
	const struct st_tensor *pw, *t;
	struct vit_config c;
	uint64_t D, L, d[4];
	int i, k, g, depth = 0, p, C, H;
	char tn[128], bmsg[256];
	float *tmp;
	const char *sfx[12] = { "norm1.weight", "norm1.bias", "attn.qkv.weight",
	                        "attn.qkv.bias", "attn.proj.weight",
	                        "attn.proj.bias", "norm2.weight", "norm2.bias",
	                        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
	                        "mlp.fc2.bias" };

	memset(v, 0, sizeof(*v));
	if (!(pw = st_find(f, "patch_embed.proj.weight"))) {
		snprintf(msg, len, "%s: no tensor 'patch_embed.proj.weight' (not a "
		         "timm ViT?)", name);
		return -1;
	}
	if (pw->rank != 4 || pw->dims[2] != pw->dims[3] || !pw->dims[0] ||
	    pw->dims[0] > 65536 || !pw->dims[1] || pw->dims[1] > 64 ||
	    !pw->dims[2] || pw->dims[2] > 1024) {
		snprintf(msg, len, "%s: tensor 'patch_embed.proj.weight': expected "
		         "[D, C, p, p]", name);
		return -1;
	}
	D = pw->dims[0];
	C = (int)pw->dims[1];
	p = (int)pw->dims[2];
	if (!(t = st_find(f, "pos_embed")) || t->rank != 3 || t->dims[0] != 1 ||
	    t->dims[2] != D || t->dims[1] < 2) {
		snprintf(msg, len, "%s: tensor 'pos_embed': %s, expected [1,1+L,"
		         "%" PRIu64 "]", name, t ? "bad shape" : "missing", D);
		return -1;
	}
	L = t->dims[1] - 1;
	g = (int)floor(sqrt((double)L) + 0.5);
	if ((uint64_t)g * g != L) {
		snprintf(msg, len, "%s: tensor 'pos_embed': %" PRIu64 " positions "
		         "after the class token, not a square grid", name, L);
		return -1;
	}
	for (;;) {
		snprintf(tn, sizeof(tn), "blocks.%d.norm1.weight", depth);
		if (!st_find(f, tn))
			break;
		depth++;
	}
	if (depth < 1 || depth > VIT_MAXDEPTH) {
		snprintf(msg, len, "%s: %d blocks (blocks.N.*), expected 1 to %d",
		         name, depth, VIT_MAXDEPTH);
		return -1;
	}
	snprintf(tn, sizeof(tn), "blocks.0.mlp.fc1.weight");
	if (!(t = st_find(f, tn))) {
		snprintf(msg, len, "%s: no tensor '%s' (not a timm ViT?)", name, tn);
		return -1;
	}
	if (t->rank != 2 || t->dims[1] != D || t->dims[0] % D) {
		snprintf(msg, len, "%s: tensor '%s': rank %d, shape [%" PRIu64 ",%"
		         PRIu64 "...], expected [h*%" PRIu64 ",%" PRIu64 "]", name, tn,
		         t->rank, t->dims[0], t->dims[1], D, D);
		return -1;
	}
	H = f->heads[0] ? atoi(f->heads) : (int)(D / 64);
	if (H < 1 || D % H) {
		snprintf(msg, len, "%s: %d heads for width %" PRIu64 " (set "
		         "__metadata__ num_heads)", name, H, D);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.patch = p, c.channels = C, c.gh = c.gw = g;
	c.dim = (int)D, c.depth = depth, c.heads = H;
	c.ddim = 4, c.ddepth = 1, c.dheads = 1;
	c.mlp = (int)(t->dims[0] / D);
	c.target = VIT_PIXEL;
	c.ratio = 0.0f;
	c.lneps = (float)ST_TIMM_EPS;
	if (vit_build(v, &c, maxB, bmsg, sizeof(bmsg)) < 0) {
		snprintf(msg, len, "%s: %s", name, bmsg);
		return -1;
	}
	if (!(tmp = malloc((size_t)D * v->P * sizeof(float))))
		goto nomem;
	/* patch embedding: (D, C, p, p) to (D, (row, col, channel)) */
	if (st_get_f32(f, pw, tmp, bmsg, sizeof(bmsg)) < 0)
		goto err;
	for (k = 0; k < (int)D; k++) {
		int r, q, ch;

		for (r = 0; r < p; r++)
			for (q = 0; q < p; q++)
				for (ch = 0; ch < C; ch++)
					v->w.pew[(size_t)k * v->P + ((size_t)r * p + q) * C + ch] =
					    tmp[(((size_t)k * C + ch) * p + r) * p + q];
	}
	free(tmp);
	tmp = NULL;
#define GET(tname, dst, rank_, ...) do { \
		uint64_t dd_[] = { __VA_ARGS__ }; \
		if (!(t = need(f, name, tname, rank_, dd_, msg, len))) \
			goto fail; \
		if (st_get_f32(f, t, dst, bmsg, sizeof(bmsg)) < 0) \
			goto err; \
	} while (0)
	GET("patch_embed.proj.bias", v->w.peb, 1, D);
	GET("cls_token", v->w.cls, 3, 1, 1, D);
	GET("pos_embed", v->pos, 3, 1, L + 1, D);
	for (i = 0; i < depth; i++) {
		struct vit_blockw *b = &v->w.enc[i];
		float *dst[12] = { b->ln1w, b->ln1b, b->qkvw, b->qkvb, b->projw,
		                   b->projb, b->ln2w, b->ln2b, b->fc1w, b->fc1b,
		                   b->fc2w, b->fc2b };
		uint64_t h = (uint64_t)c.mlp * D;
		uint64_t shp[12][2] = { { D, 0 }, { D, 0 }, { 3 * D, D }, { 3 * D, 0 },
		                        { D, D }, { D, 0 }, { D, 0 }, { D, 0 },
		                        { h, D }, { h, 0 }, { D, h }, { D, 0 } };

		for (k = 0; k < 12; k++) {
			snprintf(tn, sizeof(tn), "blocks.%d.%s", i, sfx[k]);
			d[0] = shp[k][0];
			d[1] = shp[k][1];
			if (!(t = need(f, name, tn, shp[k][1] ? 2 : 1, d, msg, len)))
				goto fail;
			if (st_get_f32(f, t, dst[k], bmsg, sizeof(bmsg)) < 0)
				goto err;
		}
	}
	GET("norm.weight", v->w.enw, 1, D);
	GET("norm.bias", v->w.enb, 1, D);
#undef GET
	return 0;
nomem:
	snprintf(msg, len, "%s: out of memory", name);
	goto fail;
err:
	snprintf(msg, len, "%s: %s", name, bmsg);
fail:
	free(tmp);
	vit_free(v);
	return -1;
}
