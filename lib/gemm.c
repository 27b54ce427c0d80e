/* See LICENSE file for copyright and license details. */
/*
 * gemm: the products of the layers (gemm.h).
 *
 * The AVX-512 kernel is blocked as BLIS and OpenBLAS block theirs, with
 * the roles laid out for row-major c: b is packed, GEMM_KC rows by up
 * to NC columns at a time, into panels of NR = 32 columns (k-major, the
 * last panel padded with zeros as far as it is read); a into panels of
 * MR = 12 rows (k-major, GEMM_KC x 12; or, from a row-major a, its 12
 * rows as they are, GEMM_KC apart), a panel staying in the L1 cache
 * while the kernel runs over b's panels.
 * The micro-kernel keeps a 12 x 32 tile of c in 24 registers and adds,
 * for each k, the broadcast a(i,k) times the panel's row k, with fused
 * multiply-adds: each c(i,j) is a chain over k in order, ended and
 * added to c at each block of GEMM_KC.  Then the bias and res, in that
 * order; and the epilogue on each group of rows (and block of columns)
 * as soon as its last block of GEMM_KC is added.
 */
#include <cblas.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h"

enum { MR = 12, NR = GEMM_NR, NC = 512, NCPRE = 768, MC = 480, INPLACE = 8 * MR };

static int forced = -1;

void
gemm_force(int native)
{
	forced = native;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "avx512.h"
/* the loops over the tile's rows unroll, so that it lives in registers */
#define UNROLL _Pragma("GCC unroll 12")

int
gemm_native(void)
{
	static int have = -1;

	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx512f") ? 1 : 0;
	}
	return forced >= 0 ? forced && have : have;
}

/* the packed blocks of b and a, per thread: GEMM_KC x NC and MC x
 * GEMM_KC floats (512 and 480 KiB) */
static _Thread_local _Alignas(64) float bpack[GEMM_KC * NC];
static _Thread_local _Alignas(64) float apack[MC * GEMM_KC];

/* v into p; with nt past the caches, p 64-byte aligned (a pack for
 * later, which would only push out what is in them) */
INLINE AVX512 void
put(float *p, __m512 v, int nt)
{
	if (nt)
		_mm512_stream_ps(p, v);
	else
		_mm512_storeu_ps(p, v);
}

/*
 * b(k,j) for k < kc, j < nc (b at its (0,0), strides bk and bj) into
 * panels of NR columns: bp[p][k][NR], zeros past nc; with nt (bp
 * 64-byte aligned), in non-temporal stores.
 */
AVX512 static void
pack_b(float *restrict bp, const float *restrict b, long bk, long bj,
       long kc, long nc, int nt)
{
	long p, k, j, np = (nc + NR - 1) / NR;

	for (p = 0; p < np && bj != 1; p++) {
		float *d = bp + p * kc * NR;
		long w = nc - p * NR < NR ? nc - p * NR : NR;

		if (bj == 1) {
			break; /* below, row by row */
		} else if (bk == 1) {
			/* columns of b are rows in memory: two 16 x 16
			 * transposes, then 16 rows of the panel whole (one at
			 * most 16 wide has its second half unread) */
			for (k = 0; k < kc; k += 16) {
				__mmask16 mk = lanes(kc - k);
				__m512 r[16], u[16];

				for (j = 0; j < 16; j++)
					r[j] = j < w ? _mm512_maskz_loadu_ps(mk, b +
					           (p * NR + j) * bj + k) :
					       _mm512_setzero_ps();
				transpose16(r);
				for (j = 0; j < 16 && w > 16; j++)
					u[j] = 16 + j < w ? _mm512_maskz_loadu_ps(mk, b +
					           (p * NR + 16 + j) * bj + k) :
					       _mm512_setzero_ps();
				if (w > 16)
					transpose16(u);
				for (j = 0; j < 16 && k + j < kc; j++) {
					put(d + (k + j) * NR, r[j], nt);
					if (w > 16)
						put(d + (k + j) * NR + 16, u[j], nt);
				}
			}
		} else {
			for (k = 0; k < kc; k++)
				for (j = 0; j < NR; j++)
					d[k * NR + j] = j < w ? b[k * bk + (p * NR + j) * bj] :
					                0.0f;
		}
	}
	/* rows of b in memory: read in order, two masked loads a panel */
	for (k = 0; k < kc && bj == 1; k++)
		for (p = 0; p < np; p++) {
			long w = nc - p * NR;
			float *d = bp + (p * kc + k) * NR;
			const float *s = b + k * bk + p * NR;

			put(d, _mm512_maskz_loadu_ps(lanes(w), s), nt);
			put(d + 16, _mm512_maskz_loadu_ps(lanes(w - 16), s + 16), nt);
		}
}

/*
 * a(i,k) for i < m, k < kc, with ak not 1 (a's columns are rows in
 * memory), into panels of MR rows: ap[q][k][MR], zeros past m.  Read
 * in order when ai is 1: four k at a time, a panel's 4 x 12 floats
 * from four masked loads, three permutes and three whole stores; the
 * last k one at a time, a masked load and store.
 */
AVX512 static void
pack_a(float *restrict ap, const float *restrict a, long ai, long ak,
       long kc, long m)
{
	const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	                                     11, 16, 17, 18, 19);
	const __m512i i1 = _mm512_setr_epi32(4, 5, 6, 7, 8, 9, 10, 11, 16, 17,
	                                     18, 19, 20, 21, 22, 23);
	const __m512i i2 = _mm512_setr_epi32(8, 9, 10, 11, 16, 17, 18, 19, 20,
	                                     21, 22, 23, 24, 25, 26, 27);
	long nq = (m + MR - 1) / MR, q, k = 0;
	int i;

	_Static_assert(MR == 12, "the permutes are of 12-float panels");
	for (; ai == 1 && k + 4 <= kc; k += 4)
		for (q = 0; q < nq; q++) {
			float *d = ap + (q * kc + k) * MR;
			const float *s = a + k * ak + q * MR;
			__mmask16 mk = lanes(m - q * MR) & ((1u << MR) - 1);
			__m512 r0 = _mm512_maskz_loadu_ps(mk, s);
			__m512 r1 = _mm512_maskz_loadu_ps(mk, s + ak);
			__m512 r2 = _mm512_maskz_loadu_ps(mk, s + 2 * ak);
			__m512 r3 = _mm512_maskz_loadu_ps(mk, s + 3 * ak);

			_mm512_storeu_ps(d, _mm512_permutex2var_ps(r0, i0, r1));
			_mm512_storeu_ps(d + 16, _mm512_permutex2var_ps(r1, i1, r2));
			_mm512_storeu_ps(d + 32, _mm512_permutex2var_ps(r2, i2, r3));
		}
	for (; k < kc; k++)
		for (q = 0; q < nq; q++) {
			float *d = ap + (q * kc + k) * MR;

			if (ai == 1)
				_mm512_mask_storeu_ps(d, (__mmask16)((1u << MR) - 1),
				                      _mm512_maskz_loadu_ps(lanes(m - q * MR),
				                          a + k * ak + q * MR));
			else
				for (i = 0; i < MR; i++)
					d[i] = q * MR + i < m ? a[(q * MR + i) * ai + k * ak] :
					       0.0f;
		}
}

/* mr <= MR rows of a row-major a (a(i,k) at a[i ai + k], k < kc) into
 * at[i][GEMM_KC], zeros in the rows past mr: the micro-kernel computes
 * them and nothing stores them */
AVX512 static void
copy_rows(float *restrict at, const float *restrict a, long ai, long kc,
          int mr)
{
	long k;
	int i;

	for (i = 0; i < MR; i++)
		for (k = 0; k < kc; k += 16)
			_mm512_storeu_ps(at + i * GEMM_KC + k,
			                 i < mr ? _mm512_maskz_loadu_ps(lanes(kc - k),
			                                                a + i * ai + k) :
			                 _mm512_setzero_ps());
}

/* nv vectors of floats from p into the cache, ahead of their use */
INLINE void
fetch(const float *p, int nv)
{
	_mm_prefetch((const char *)p, _MM_HINT_T0);
	if (nv == 2)
		_mm_prefetch((const char *)(p + 16), _MM_HINT_T0);
}

/*
 * The micro-kernel: c (rows lo <= i < mr <= MR, the lanes m0, m1 of its
 * nv <= 2 vectors of columns) [+]= a (MR,kc) b (kc,16 nv), a packed
 * (a(i,k) at a[i ai + k ak]: ai 1 and ak MR, or ai GEMM_KC and ak 1),
 * row k of b at b + k ldb (packed: ldb = NR); old: add c's old value;
 * then bias and res if not NULL.  Rows before lo are computed and
 * dropped.  Called with ai, ak, nv and, for whole panels, the masks
 * constant, so each use compiles to its own addressing (one pointer,
 * constant offsets), registers and plain loads.
 * The tile of c and of res that the end reads and writes is fetched
 * into the cache first, so that it is there by then: from memory (the
 * activations, a slab of gradients) it would stall the kernel each
 * call.  With pf, a panel of b (kc x NR) is fetched too, a row for each
 * k: the next one, while a prepacked b comes from memory.
 */
INLINE AVX512 void
ukernel(long kc, const float *a, long ai, long ak, const float *b, long ldb,
        int nv, float *c, long ldc, int lo, int mr, __mmask16 m0,
        __mmask16 m1, int old, const float *bias, const float *res,
        const float *pf)
{
	__m512 x[MR][2];
	long k;
	int i;

	UNROLL
	for (i = 0; i < MR; i++) {
		x[i][0] = x[i][1] = _mm512_setzero_ps();
		if (i < mr) {
			fetch(c + i * ldc, nv);
			if (res)
				fetch(res + i * ldc, nv);
		}
	}
#pragma GCC unroll 2
	for (k = 0; k < kc; k++) { /* two k an iteration: fewer branches */
		__m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1;

		if (nv == 2)
			b1 = _mm512_maskz_loadu_ps(m1, b + 16);
		if (pf)
			fetch(pf + k * NR, 2);
		UNROLL
		for (i = 0; i < MR; i++) {
			__m512 av = _mm512_set1_ps(a[i * ai]);

			x[i][0] = _mm512_fmadd_ps(av, b0, x[i][0]);
			if (nv == 2)
				x[i][1] = _mm512_fmadd_ps(av, b1, x[i][1]);
		}
		a += ak;
		b += ldb;
	}
	/* unrolled with constant i, so that x stays in registers */
	UNROLL
	for (i = 0; i < MR; i++) {
		float *ci = c + i * ldc;
		__m512 y0 = x[i][0], y1 = x[i][1];

		if (i >= mr)
			break;
		if (i < lo)
			continue;

		if (old) {
			y0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), y0);
			y1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), y1);
		}
		if (bias) {
			y0 = _mm512_add_ps(y0, _mm512_maskz_loadu_ps(m0, bias));
			y1 = _mm512_add_ps(y1, _mm512_maskz_loadu_ps(m1, bias + 16));
		}
		if (res) {
			const float *ri = res + i * ldc;

			y0 = _mm512_add_ps(y0, _mm512_maskz_loadu_ps(m0, ri));
			y1 = _mm512_add_ps(y1, _mm512_maskz_loadu_ps(m1, ri + 16));
		}
		_mm512_mask_storeu_ps(ci, m0, y0);
		if (nv == 2)
			_mm512_mask_storeu_ps(ci + 16, m1, y1);
	}
}

/* the forms: one vector of columns or two, and a whole panel of two,
 * unmasked, without and with a panel of b to fetch; of a k-major panel
 * of a, or of rows (r).  Each a function of its own, whose registers
 * hold the tile. */
#define UKERNEL(name, AI, AK, NV, M0, M1, PF) \
__attribute__((noinline)) AVX512 static void \
name(long kc, const float *a, const float *b, long ldb, float *c, \
     long ldc, int lo, int mr, __mmask16 m0, __mmask16 m1, int old, \
     const float *bias, const float *res, const float *pf) \
{ \
	(void)m0, (void)m1, (void)pf; \
	ukernel(kc, a, AI, AK, b, ldb, NV, c, ldc, lo, mr, M0, M1, old, bias, \
	        res, PF); \
}
UKERNEL(ukernel_1, 1, MR, 1, m0, m1, NULL)
UKERNEL(ukernel_2, 1, MR, 2, m0, m1, NULL)
UKERNEL(ukernel_full, 1, MR, 2, 0xffff, 0xffff, NULL)
UKERNEL(ukernel_fullpf, 1, MR, 2, 0xffff, 0xffff, pf)
UKERNEL(ukernel_1r, GEMM_KC, 1, 1, m0, m1, NULL)
UKERNEL(ukernel_2r, GEMM_KC, 1, 2, m0, m1, NULL)
UKERNEL(ukernel_fullr, GEMM_KC, 1, 2, 0xffff, 0xffff, NULL)
UKERNEL(ukernel_fullrpf, GEMM_KC, 1, 2, 0xffff, 0xffff, pf)

/* by the panel of a (k-major, rows) and the form: up to 16 wide, up to
 * 31, 32, 32 with a panel to fetch */
static void (*const ukernels[2][4])(long, const float *, const float *,
                                    long, float *, long, int, int,
                                    __mmask16, __mmask16, int,
                                    const float *, const float *,
                                    const float *) = {
	{ ukernel_1, ukernel_2, ukernel_full, ukernel_fullpf },
	{ ukernel_1r, ukernel_2r, ukernel_fullr, ukernel_fullrpf },
};

/*
 * b is packed a block at a time, unless its rows are rows in memory (bj
 * 1) and there are too few rows of a (M < INPLACE) to pay for the copy:
 * then it is read where it is.  When its rows are rows in memory (ak
 * 1), a is copied a group of MR rows at a time into at, as they are,
 * which the kernel then reads for every panel of b; a last group of
 * fewer than MR rows is the last MR rows of a, the ones before it
 * computed again and dropped, or, when a has fewer than MR rows, padded
 * with zeros.  Else (its columns rows in memory, as the weight
 * gradient's x^T, or other strides) a is packed MC rows at a time, a
 * row of x^T after another.
 */
AVX512 static void
gemm_avx512(long M, long N, long K, const float *a, long ai, long ak,
            const float *b, long bk, long bj, const float *bpre, float *c,
            long ldc, int acc, const float *bias, const float *res,
            const struct gemm_epi *epi)
{
	_Alignas(64) float at[GEMM_KC * MR];
	long jc, pc, mc, ic, p, npad = (N + NR - 1) / NR * NR;

	/* b packed beforehand or read in place needs no blocks of
	 * columns, so that a group of rows of a is copied once for all;
	 * but a packed b twice NCPRE wide or wider is swept NCPRE columns
	 * at a time, that the panels swept stay in the L2 cache */
	long ncb = bpre ? (N >= 2 * NCPRE ? NCPRE : N) :
	           bj == 1 && M < INPLACE ? N : NC;

	for (jc = 0; jc < N; jc += ncb) {
		long nc = N - jc < ncb ? N - jc : ncb, np = (nc + NR - 1) / NR;

		for (pc = 0; pc < K; pc += GEMM_KC) {
			long kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
			int old = acc || pc > 0, last = pc + kc == K;
			const float *bb = b + pc * bk + jc * bj, *bpk = bpack;
			int packed = bpre || bj != 1 || M >= INPLACE;

			if (bpre)
				bpk = bpre + pc * npad + jc * kc;
			else if (packed)
				pack_b(bpack, bb, bk, bj, kc, nc, 0);
			for (mc = 0; mc < M; mc += MC) {
				long mcc = M - mc < MC ? M - mc : MC;

				if (ak != 1)
					pack_a(apack, a + mc * ai + pc * ak, ai, ak, kc, mcc);
				for (ic = mc; ic < mc + mcc; ic += MR) {
					int mr = M - ic < MR ? (int)(M - ic) : MR, lo = 0;
					long i0 = ic;
					const float *ap = a + ic * ai + pc * ak;

					if (ak != 1) {
						ap = apack + (ic - mc) * kc;
					} else {
						if (mr < MR && M >= MR) {
							lo = MR - mr, i0 = ic - lo, mr = MR;
							ap = a + i0 * ai + pc * ak;
						}
						copy_rows(at, ap, ai, kc, mr);
						ap = at;
					}
					for (p = 0; p < np; p++) {
						long j = jc + p * NR, w = nc - p * NR;
						const float *bp = packed ? bpk + p * kc * NR :
						                  bb + p * NR;
						long ldb = packed ? NR : bk;
						float *cp = c + i0 * ldc + j;
						const float *bi = last && bias ? bias + j : NULL;
						const float *ri = last && res ? res + i0 * ldc + j :
						                  NULL;
						__mmask16 m0 = lanes(w), m1 = lanes(w - 16);
						/* a prepacked b comes from memory: the
						 * first group of rows fetches the next
						 * panel as it goes, the others find it */
						const float *pf = bpre && ic == mc && p + 1 < np ?
						                  bp + kc * NR : NULL;

						ukernels[ak == 1][w < NR ? w > 16 : pf ? 3 : 2](kc, ap,
						    bp, ldb, cp, ldc, lo, mr, m0, m1, old, bi, ri, pf);
					}
					if (last && epi) { /* rows i0 + lo to i0 + mr final */
						long off = (i0 + lo) * ldc + jc;

						epi->fn(epi, c + off, off, ldc, mr - lo, nc);
					}
				}
			}
		}
	}
}
/* columns [j0, j1) of b, block after block of GEMM_KC rows; when b's
 * columns are rows in memory (a layer's weight for the forward pass),
 * a panel after another instead, in every block, so that its 32 rows
 * are read once from memory and then from the cache.  Stored past the
 * caches where bp is 64-byte aligned (as the layers' packs are). */
AVX512 static void
pack_all(float *bp, long N, long K, const float *b, long bk, long bj,
         long j0, long j1)
{
	long pc, j, npad = (N + NR - 1) / NR * NR;
	int nt = ((uintptr_t)bp & 63) == 0;

	for (j = j0; j < j1 && bk == 1; j += NR)
		for (pc = 0; pc < K; pc += GEMM_KC) {
			long kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;

			pack_b(bp + pc * npad + j * kc, b + pc + j * bj, 1, bj, kc,
			       j1 - j < NR ? j1 - j : NR, nt);
		}
	for (pc = 0; pc < K && bk != 1; pc += GEMM_KC) {
		long kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;

		pack_b(bp + pc * npad + j0 * kc, b + pc * bk + j0 * bj, bk, bj, kc,
		       j1 - j0, nt);
	}
	_mm_sfence(); /* the stores seen before any that follow */
}
#else
int
gemm_native(void)
{
	return 0;
}
#endif

/* OpenBLAS: c set to [c +] bias [+ res] first, then c += a b; the
 * epilogue on all of c */
static void
gemm_blas(long M, long N, long K, const float *a, long ai, long ak,
          const float *b, long bk, long bj, float *c, long ldc, int acc,
          const float *bias, const float *res, const struct gemm_epi *epi)
{
	long i, j;
	float beta = acc || bias || res ? 1.0f : 0.0f;

	for (i = 0; i < M && (bias || res); i++) {
		float *ci = c + i * ldc;

		for (j = 0; j < N; j++)
			ci[j] = (acc ? ci[j] : 0.0f) + (bias ? bias[j] : 0.0f) +
			        (res ? res[i * ldc + j] : 0.0f);
	}
	if (K > 0)
		cblas_sgemm(CblasRowMajor, ak == 1 ? CblasNoTrans : CblasTrans,
		            bj == 1 ? CblasNoTrans : CblasTrans, M, N, K, 1.0f, a,
		            ak == 1 ? ai : ak, b, bj == 1 ? bk : bj, beta, c, ldc);
	else if (!beta)
		for (i = 0; i < M; i++)
			memset(c + i * ldc, 0, N * sizeof(*c));
	if (epi)
		epi->fn(epi, c, 0, ldc, M, N);
}

size_t
gemm_packsize(long N, long K)
{
	return (size_t)K * ((N + 31) / 32 * 32);
}

void
gemm_pack(float *bp, long N, long K, const float *b, long bk, long bj)
{
	gemm_pack_part(bp, N, K, b, bk, bj, 0, N);
}

void
gemm_pack_part(float *bp, long N, long K, const float *b, long bk, long bj,
               long j0, long j1)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (gemm_native() && j0 < j1)
		pack_all(bp, N, K, b, bk, bj, j0, j1);
#else
	(void)bp, (void)N, (void)K, (void)b, (void)bk, (void)bj, (void)j0;
	(void)j1;
#endif
}

void
gemm(long M, long N, long K, const float *a, long ai, long ak,
     const float *b, long bk, long bj, const float *bp, float *c, long ldc,
     int acc, const float *bias, const float *res, const struct gemm_epi *epi)
{
	if (M <= 0 || N <= 0)
		return;
#if defined(__x86_64__) && defined(__GNUC__)
	if (K > 0 && gemm_native()) {
		gemm_avx512(M, N, K, a, ai, ak, b, bk, bj, bp, c, ldc, acc, bias,
		            res, epi);
		return;
	}
#endif
	gemm_blas(M, N, K, a, ai, ak, b, bk, bj, c, ldc, acc, bias, res, epi);
}
