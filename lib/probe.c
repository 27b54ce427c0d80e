/* See LICENSE file for copyright and license details. */
/*
 * probe: encoder loading and running, L-BFGS logistic regression and
 * weighted k-NN (probe.h).
 */
#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "probe.h"
#include "safetensors.h"
#include "tensor.h"

#ifdef _OPENMP
#define OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define OMP_FOR
#endif

/* ------------------------------------------------------------------ */
/* the encoder                                                         */

static int
cfg_long(const struct tensor *t, const char *key, long *v, const char *name,
         char *msg, size_t len)
{
	char buf[64], *end;

	if (!tensor_meta_get(t, key, buf, sizeof(buf))) {
		snprintf(msg, len, "%s: record 0 'step': no '%s' in the config",
		         name, key);
		return -1;
	}
	errno = 0;
	*v = strtol(buf, &end, 10);
	if (errno || *end || end == buf || *v < 0 || *v > 1L << 30) {
		snprintf(msg, len, "%s: record 0 'step': %s=%s is not a count",
		         name, key, buf);
		return -1;
	}
	return 0;
}

int
probe_load_ckpt(struct vit *v, FILE *fp, const char *name, int maxB,
                char *msg, size_t len)
{
	static const char *keys[] = { "patch_size", "channels", "k", "dim",
	                              "depth", "heads", "dec_dim", "dec_depth",
	                              "dec_heads", "mlp_ratio", "norm_pix" };
	struct vit_config c;
	struct tsr_reader r;
	struct tensor t, st;
	char buf[64], bmsg[256];
	long val[11];
	int rc, i, j, ret = -1, built = 0;
	unsigned char *seen = NULL;

	tsr_reader_init(&r, fp, name);
	tensor_init(&t);
	tensor_init(&st);
	memset(v, 0, sizeof(*v));
	if ((rc = tsr_read(&r, &st)) < 0) {
		snprintf(msg, len, "%s", r.msg);
		goto out;
	}
	if (rc == 0 || strcmp(st.name, "step") || st.dtype != TSR_I64 ||
	    st.rank != 0) {
		snprintf(msg, len, "%s: not a mim-train checkpoint (expected an i64 "
		         "scalar 'step' first)", name);
		goto out;
	}
	for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		if (cfg_long(&st, keys[i], &val[i], name, msg, len) < 0)
			goto out;
	memset(&c, 0, sizeof(c));
	if (!tensor_meta_get(&st, "target", buf, sizeof(buf))) {
		snprintf(msg, len, "%s: record 0 'step': no 'target' in the config",
		         name);
		goto out;
	}
	c.target = !strcmp(buf, "tokens") ? VIT_TOKENS : VIT_PIXEL;
	if (!tensor_meta_get(&st, "grid", buf, sizeof(buf)) ||
	    sscanf(buf, "%dx%d", &c.gh, &c.gw) != 2 || c.gh < 1 || c.gw < 1) {
		snprintf(msg, len, "%s: record 0 'step': no grid HxW in the config",
		         name);
		goto out;
	}
	c.patch = val[0];
	c.channels = val[1];
	c.k = val[2];
	c.dim = val[3];
	c.depth = val[4];
	c.heads = val[5];
	c.ddim = val[6];
	c.ddepth = val[7];
	c.dheads = val[8];
	c.mlp = val[9];
	c.normpix = val[10];
	c.ratio = 0.0f;
	if (c.patch < 1 || c.channels < 1 || c.mlp < 1) {
		snprintf(msg, len, "%s: record 0 'step': patch_size %d, channels "
		         "%d, mlp_ratio %d: expected at least 1", name, c.patch,
		         c.channels, c.mlp);
		goto out;
	}
	if (vit_build(v, &c, maxB, bmsg, sizeof(bmsg)) < 0) {
		snprintf(msg, len, "%s: %s", name, bmsg);
		goto out;
	}
	built = 1;
	if (!(seen = calloc(v->npt, 1))) {
		snprintf(msg, len, "%s: out of memory", name);
		goto out;
	}
	while ((rc = tsr_read(&r, &t)) > 0) {
		const struct vit_tensor *p;

		if (!strcmp(t.name, "rng") || !strncmp(t.name, "opt.", 4))
			continue;
		if (!(p = vit_param(v, t.name))) {
			snprintf(msg, len, "%s: record %" PRIu64 " '%s': not a tensor "
			         "of this model", name, r.index - 1, t.name);
			goto out;
		}
		if (t.dtype != TSR_F32 || t.rank != p->rank) {
			snprintf(msg, len, "%s: record %" PRIu64 " '%s': %s of rank %d, "
			         "expected f32 of rank %d", name, r.index - 1, t.name,
			         tsr_dtype_name(t.dtype), t.rank, p->rank);
			goto out;
		}
		for (j = 0; j < p->rank; j++)
			if (t.dims[j] != (uint64_t)p->dims[j]) {
				snprintf(msg, len, "%s: record %" PRIu64 " '%s': dim %d is "
				         "%" PRIu64 ", the config says %d", name,
				         r.index - 1, t.name, j, t.dims[j], p->dims[j]);
				goto out;
			}
		memcpy(v->params + p->off, t.data, p->n * sizeof(float));
		seen[p - v->pt] = 1;
	}
	if (rc < 0) {
		snprintf(msg, len, "%s", r.msg);
		goto out;
	}
	for (i = 0; i < v->npt; i++)
		if (!seen[i] && !strncmp(v->pt[i].name, "enc.", 4)) {
			snprintf(msg, len, "%s: no record '%s' (truncated or not a "
			         "checkpoint?)", name, v->pt[i].name);
			goto out;
		}
	ret = 0;
out:
	if (ret < 0 && built)
		vit_free(v);
	free(seen);
	tensor_free(&t);
	tensor_free(&st);
	tsr_reader_free(&r);
	return ret;
}

int
probe_load_model(struct vit *v, double *lneps, const char *path, int maxB,
                 char *msg, size_t len)
{
	size_t n = path ? strlen(path) : 0;
	const char *name = path && strcmp(path, "-") ? path : "<stdin>";
	FILE *fp = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	int rc;

	*lneps = 0;
	if (!fp) {
		snprintf(msg, len, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (n > 12 && !strcmp(path + n - 12, ".safetensors")) {
		struct st_file f;

		rc = st_read(&f, fp, name, msg, len);
		if (rc == 0) {
			rc = st_load_timm(v, &f, name, maxB, msg, len);
			st_free(&f);
		}
		*lneps = ST_TIMM_EPS;
	} else {
		rc = probe_load_ckpt(v, fp, name, maxB, msg, len);
	}
	if (fp != stdin)
		fclose(fp);
	return rc;
}

/* layer norm with eps: out (N,C) */
static void
lnorm(float *out, const float *inp, const float *w, const float *b, int N,
      int C, float eps)
{
	int i;

	OMP_FOR
	for (i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C, m = 0.0f, var = 0.0f, s;
		int c;

		for (c = 0; c < C; c++)
			m += x[c];
		m /= C;
		for (c = 0; c < C; c++)
			var += (x[c] - m) * (x[c] - m);
		var /= C;
		s = 1.0f / sqrtf(var + eps);
		for (c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
	}
}

/* vit_encode with layer-norm eps: a.eln (B,1+L,D) */
static void
encode_eps(struct vit *v, const float *patches, int B, float eps)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int L = v->L, P = v->P, D = c->dim, Te = 1 + L, H = c->mlp * D, b, i;
	int N = B * Te;

	v->B = B;
	memcpy(a->xv, patches, (size_t)B * L * P * sizeof(float));
	linear_forward(a->pe, a->xv, w->pew, w->peb, B * L, P, D);
	for (b = 0; b < B; b++) {
		float *x = a->ex[0] + (size_t)b * Te * D;
		int j, d;

		for (d = 0; d < D; d++)
			x[d] = w->cls[d] + v->pos[d];
		for (j = 0; j < L; j++)
			for (d = 0; d < D; d++)
				x[(1 + j) * D + d] = a->pe[((size_t)b * L + j) * D + d] +
				                     v->pos[(size_t)(1 + j) * D + d];
	}
	for (i = 0; i < c->depth; i++) {
		const struct vit_blockw *bw = &w->enc[i];
		const struct vit_blocka *ba = &a->enc[i];
		const float *x = a->ex[i];
		float *out = a->ex[i + 1];

		lnorm(ba->ln1, x, bw->ln1w, bw->ln1b, N, D, eps);
		linear_forward(ba->qkv, ba->ln1, bw->qkvw, bw->qkvb, N, D, 3 * D);
		attention_forward(ba->atty, ba->att, ba->qkv, B, Te, D, c->heads);
		linear_forward(ba->r1, ba->atty, bw->projw, bw->projb, N, D, D);
		residual_forward(ba->r1, ba->r1, x, (size_t)N * D);
		lnorm(ba->ln2, ba->r1, bw->ln2w, bw->ln2b, N, D, eps);
		linear_forward(ba->fch, ba->ln2, bw->fc1w, bw->fc1b, N, D, H);
		gelu_forward(ba->fcg, ba->fch, (size_t)N * H);
		linear_forward(out, ba->fcg, bw->fc2w, bw->fc2b, N, H, D);
		residual_forward(out, out, ba->r1, (size_t)N * D);
	}
	lnorm(a->eln, a->ex[c->depth], w->enw, w->enb, N, D, eps);
}

void
probe_encode(struct vit *v, double lneps, const float *x, size_t n,
             float *feat, float *pooled, float *cls)
{
	size_t L = v->L, P = v->P, D = v->c.dim, i0, b, l, d;

	for (i0 = 0; i0 < n; i0 += v->maxB) {
		int B = n - i0 < (size_t)v->maxB ? (int)(n - i0) : v->maxB;

		if (lneps > 0)
			encode_eps(v, x + i0 * L * P, B, (float)lneps);
		else
			vit_encode(v, x + i0 * L * P, B);
		for (b = 0; b < (size_t)B; b++) {
			const float *e = v->a.eln + b * (1 + L) * D;

			if (cls)
				memcpy(cls + (i0 + b) * D, e, D * sizeof(float));
			if (feat)
				memcpy(feat + (i0 + b) * L * D, e + D,
				       L * D * sizeof(float));
			if (pooled) {
				float *o = pooled + (i0 + b) * D;

				/* summed in patch order, in double */
				for (d = 0; d < D; d++) {
					double s = 0;

					for (l = 0; l < L; l++)
						s += e[(1 + l) * D + d];
					o[d] = (float)(s / L);
				}
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* L-BFGS                                                              */

static double
dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double
amax(const double *a, size_t n)
{
	double m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

int
lbfgs_minimize(double *x, size_t n, lbfgs_fn fn, void *ctx, int m,
               double tol, int maxit, struct lbfgs_result *res)
{
	double *g, *d, *xn, *gn, *S, *Y, *rho, *alpha, f, fnew, step, gd;
	int k, head = 0, cnt = 0, j, idx;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (m < 1 || !(g = malloc(((4 + 2 * (size_t)m) * n + 2 * m) *
	                          sizeof(double))))
		return -1;
	d = g + n;
	xn = d + n;
	gn = xn + n;
	S = gn + n;
	Y = S + (size_t)m * n;
	rho = Y + (size_t)m * n;
	alpha = rho + m;

	f = fn(ctx, x, g);
	res->evals = 1;
	for (k = 0; k < maxit; k++) {
		if (amax(g, n) <= tol) {
			res->converged = 1;
			break;
		}
		/* two-loop recursion: d = -H g */
		for (i = 0; i < n; i++)
			d[i] = -g[i];
		for (j = 0; j < cnt; j++) {
			idx = (head - 1 - j + m) % m;
			alpha[idx] = rho[idx] * dot(S + (size_t)idx * n, d, n);
			for (i = 0; i < n; i++)
				d[i] -= alpha[idx] * Y[(size_t)idx * n + i];
		}
		if (cnt) {
			idx = (head - 1 + m) % m;
			double gam = dot(S + (size_t)idx * n, Y + (size_t)idx * n, n) /
			             dot(Y + (size_t)idx * n, Y + (size_t)idx * n, n);

			for (i = 0; i < n; i++)
				d[i] *= gam;
		}
		for (j = cnt - 1; j >= 0; j--) {
			double beta;

			idx = (head - 1 - j + m) % m;
			beta = rho[idx] * dot(Y + (size_t)idx * n, d, n);
			for (i = 0; i < n; i++)
				d[i] += (alpha[idx] - beta) * S[(size_t)idx * n + i];
		}
		gd = dot(g, d, n);
		if (!(gd < 0)) { /* not a descent direction: restart */
			cnt = 0;
			for (i = 0; i < n; i++)
				d[i] = -g[i];
			gd = dot(g, d, n);
		}
		/* backtracking line search, Armijo c1 = 1e-4 */
		step = cnt ? 1.0 : fmin(1.0, 1.0 / sqrt(-gd));
		for (;;) {
			for (i = 0; i < n; i++)
				xn[i] = x[i] + step * d[i];
			fnew = fn(ctx, xn, gn);
			res->evals++;
			if (isfinite(fnew) && fnew <= f + 1e-4 * step * gd)
				break;
			step *= 0.5;
			if (step < 1e-20)
				break;
		}
		if (step < 1e-20)
			break; /* no progress possible: not converged */
		/* the new pair */
		idx = head;
		for (i = 0; i < n; i++) {
			S[(size_t)idx * n + i] = xn[i] - x[i];
			Y[(size_t)idx * n + i] = gn[i] - g[i];
		}
		{
			double sy = dot(S + (size_t)idx * n, Y + (size_t)idx * n, n);

			if (sy > 1e-12 * dot(Y + (size_t)idx * n, Y + (size_t)idx * n,
			                     n) && sy > 0) {
				rho[idx] = 1.0 / sy;
				head = (head + 1) % m;
				if (cnt < m)
					cnt++;
			}
		}
		memcpy(x, xn, n * sizeof(double));
		memcpy(g, gn, n * sizeof(double));
		f = fnew;
	}
	if (!res->converged && amax(g, n) <= tol)
		res->converged = 1;
	res->iters = k;
	res->f = f;
	res->gmax = amax(g, n);
	free(g);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the linear probe                                                    */

void
probe_std_fit(const float *x, size_t n, int D, double *mean, double *sd)
{
	size_t i;
	int d;

	for (d = 0; d < D; d++)
		mean[d] = sd[d] = 0;
	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++)
			mean[d] += x[i * D + d];
	for (d = 0; d < D; d++)
		mean[d] /= n ? (double)n : 1.0;
	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++) {
			double e = x[i * D + d] - mean[d];

			sd[d] += e * e;
		}
	for (d = 0; d < D; d++)
		sd[d] = sqrt(sd[d] / (n ? (double)n : 1.0) + 1e-6);
}

void
probe_std_apply(const float *x, size_t n, int D, const double *mean,
                const double *sd, double *out)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++)
			out[i * D + d] = (x[i * D + d] - mean[d]) / sd[d];
}

struct lrctx {
	const double *x;
	const int32_t *y;
	size_t n;
	int D, K;
	double lambda;
	double *z;  /* (n,K) logits, then dloss/dlogits */
};

/* theta = W (K,D) then b (K) */
static double
lr_loss(void *p, const double *th, double *g)
{
	struct lrctx *c = p;
	const double *W = th, *b = th + (size_t)c->K * c->D;
	double *gW = g, *gb = g + (size_t)c->K * c->D, loss = 0, reg;
	size_t i, nw = (size_t)c->K * c->D;
	int k, K = c->K;

	for (i = 0; i < c->n; i++)
		memcpy(c->z + i * K, b, K * sizeof(double));
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->n, K, c->D,
	            1.0, c->x, c->D, W, c->D, 1.0, c->z, K);
	for (i = 0; i < c->n; i++) {
		double *z = c->z + i * K, mx = z[0], s = 0;

		for (k = 1; k < K; k++)
			if (z[k] > mx)
				mx = z[k];
		for (k = 0; k < K; k++)
			s += exp(z[k] - mx);
		loss += mx + log(s) - z[c->y[i]];
		for (k = 0; k < K; k++)
			z[k] = exp(z[k] - mx) / s / c->n;
		z[c->y[i]] -= 1.0 / c->n;
	}
	loss /= c->n;
	reg = 0;
	for (i = 0; i < nw; i++)
		reg += W[i] * W[i];
	memcpy(gW, W, nw * sizeof(double));
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, c->D, (int)c->n,
	            1.0, c->z, K, c->x, c->D, c->lambda, gW, c->D);
	for (k = 0; k < K; k++)
		gb[k] = 0;
	for (i = 0; i < c->n; i++)
		for (k = 0; k < K; k++)
			gb[k] += c->z[i * K + k];
	return loss + 0.5 * c->lambda * reg;
}

int
probe_lr_fit(struct probe_lr *m, const double *x, const int32_t *y, size_t n,
             int D, int K, double lambda, double tol, int maxit, char *msg,
             size_t len)
{
	struct lrctx c;
	double *th;
	size_t np = (size_t)K * D + K, i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= K) {
			snprintf(msg, len, "label %" PRId32 " of row %zu outside [0,%d)",
			         y[i], i, K);
			return -1;
		}
	if (n < 1 || D < 1 || K < 1) {
		snprintf(msg, len, "%zu rows of %d features, %d classes: nothing "
		         "to fit", n, D, K);
		return -1;
	}
	c.x = x;
	c.y = y;
	c.n = n;
	c.D = D;
	c.K = K;
	c.lambda = lambda;
	th = calloc(np, sizeof(double));
	c.z = malloc(n * K * sizeof(double));
	if (!th || !c.z) {
		free(th);
		free(c.z);
		snprintf(msg, len, "out of memory for %zu x %d logits", n, K);
		return -1;
	}
	if (lbfgs_minimize(th, np, lr_loss, &c, 10, tol, maxit, &m->res) < 0) {
		free(th);
		free(c.z);
		snprintf(msg, len, "out of memory for L-BFGS");
		return -1;
	}
	free(c.z);
	m->K = K;
	m->D = D;
	m->W = th;
	m->b = th + (size_t)K * D;
	return 0;
}

int
probe_lr_predict(const struct probe_lr *m, const double *x, size_t n,
                 int32_t *pred)
{
	double *z;
	size_t i, i0, blk = 4096;
	int k, K = m->K;

	if (!(z = malloc(blk * K * sizeof(double))))
		return -1;
	for (i0 = 0; i0 < n; i0 += blk) {
		size_t nb = MIN(blk, n - i0);

		for (i = 0; i < nb; i++)
			memcpy(z + i * K, m->b, K * sizeof(double));
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, K,
		            m->D, 1.0, x + i0 * m->D, m->D, m->W, m->D, 1.0, z, K);
		for (i = 0; i < nb; i++) {
			int best = 0;

			for (k = 1; k < K; k++)
				if (z[i * K + k] > z[i * K + best])
					best = k;
			pred[i0 + i] = best;
		}
	}
	free(z);
	return 0;
}

void
probe_lr_free(struct probe_lr *m)
{
	free(m->W);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* k-NN                                                                */

static void
l2rows(float *x, size_t n, int D)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		double s = 0;

		for (d = 0; d < D; d++)
			s += (double)x[i * D + d] * x[i * D + d];
		if (s > 0) {
			float r = (float)(1.0 / sqrt(s));

			for (d = 0; d < D; d++)
				x[i * D + d] *= r;
		}
	}
}

int
probe_knn(const float *train, const int32_t *ytrain, size_t n,
          const float *test, size_t m, int D, int K, int k, double T,
          int32_t *pred)
{
	float *tr, *te, *sim;
	double *votes;
	int *top, nt, j, c;
	float *topv;
	size_t i, i0, blk = 256, ix;

	if (k > (int)MIN(n, (size_t)1 << 30))
		k = (int)n;
	tr = malloc(n * D * sizeof(float));
	te = malloc(blk * D * sizeof(float));
	sim = malloc(blk * n * sizeof(float));
	votes = malloc((size_t)K * sizeof(double));
	top = malloc((size_t)(k + 1) * sizeof(int));
	topv = malloc((size_t)(k + 1) * sizeof(float));
	if (!tr || !te || !sim || !votes || !top || !topv) {
		free(tr), free(te), free(sim), free(votes), free(top), free(topv);
		return -1;
	}
	memcpy(tr, train, n * D * sizeof(float));
	l2rows(tr, n, D);
	for (i0 = 0; i0 < m; i0 += blk) {
		size_t nb = MIN(blk, m - i0);

		memcpy(te, test + i0 * D, nb * D * sizeof(float));
		l2rows(te, nb, D);
		if (n)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb,
			            (int)n, D, 1.0f, te, D, tr, D, 0.0f, sim, (int)n);
		for (i = 0; i < nb; i++) {
			const float *s = sim + i * n;
			int best = 0;

			/* the k greatest, sorted, earlier index first on ties */
			nt = 0;
			for (ix = 0; ix < n; ix++) {
				if (nt == k && !(s[ix] > topv[k - 1]))
					continue;
				j = nt < k ? nt++ : k - 1;
				while (j > 0 && s[ix] > topv[j - 1]) {
					topv[j] = topv[j - 1];
					top[j] = top[j - 1];
					j--;
				}
				topv[j] = s[ix];
				top[j] = (int)ix;
			}
			for (c = 0; c < K; c++)
				votes[c] = 0;
			for (j = 0; j < nt; j++)
				votes[ytrain[top[j]]] += exp(topv[j] / T);
			for (c = 1; c < K; c++)
				if (votes[c] > votes[best])
					best = c;
			pred[i0 + i] = best;
		}
	}
	free(tr), free(te), free(sim), free(votes), free(top), free(topv);
	return 0;
}

int
probe_check_patches(const struct vit *v, const struct tensor *x, char *msg,
                    size_t msglen)
{
	const struct vit_config *c = &v->c;
	char buf[64], shape[256];
	int p = c->patch, ch = c->channels, gh = c->gh, gw = c->gw;

	tensor_shape_str(x, shape, sizeof(shape));
	if ((x->dtype != TSR_F32 && x->dtype != TSR_U8) || x->rank != 3) {
		snprintf(msg, msglen, "%s %s, expected u8 or f32 [n, L, P]",
		         tsr_dtype_name(x->dtype), shape);
		return -1;
	}
	if (tensor_meta_get(x, "patch_size", buf, sizeof(buf)))
		p = atoi(buf);
	if (tensor_meta_get(x, "channels", buf, sizeof(buf)))
		ch = atoi(buf);
	if (tensor_meta_get(x, "grid", buf, sizeof(buf)) &&
	    sscanf(buf, "%dx%d", &gh, &gw) != 2) {
		snprintf(msg, msglen, "grid=%s, expected HxW", buf);
		return -1;
	}
	if (p != c->patch || ch != c->channels || gh != c->gh || gw != c->gw) {
		snprintf(msg, msglen, "patch %d, grid %dx%d, %d channels, but the "
		         "checkpoint was trained on patch %d, grid %dx%d, %d "
		         "channels", p, gh, gw, ch, c->patch, c->gh, c->gw,
		         c->channels);
		return -1;
	}
	if (x->dims[1] != (uint64_t)v->L || x->dims[2] != (uint64_t)v->P) {
		snprintf(msg, msglen, "shape %s, but the checkpoint expects "
		         "[n,%d,%d] (patch %d, grid %dx%d, %d channels)", shape,
		         v->L, v->P, c->patch, c->gh, c->gw, c->channels);
		return -1;
	}
	return 0;
}
