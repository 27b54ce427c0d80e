// See LICENSE file for copyright and license details.
//
// kmeans_faiss: the faiss 1.7.3 peer of the kmeans-* benchmarks.
//
//	kmeans_faiss rows.npy init.npy iters threads inertia.txt
//
// Reads the rows (f32 .npy, any rank: the last dimension is D, the
// others are flattened into rows, as kmeans-fit does) and the initial
// centroids (f32 .npy [K, D]), runs `iters' Lloyd iterations of
// faiss::Clustering from those centroids on every row
// (max_points_per_centroid raised so faiss does not subsample) with
// `threads' OpenMP threads, then assigns every row to the final
// centroids and writes the inertia there to inertia.txt (%.17g): the sum
// over rows of the squared distance to the nearest centroid, computed
// the way kmeans-fit computes its `inertia' meta (each row's distance
// to its centroid directly, as a float sum of (x - c)^2, added up in
// double).  That last assignment is the counterpart of kmeans-fit's
// final pass and is inside the timed run.
//
// Built by bench/run with g++ -O2 ... -lfaiss; not installed.
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void
die(const char *what, const char *file)
{
	std::fprintf(stderr, "kmeans_faiss: %s: %s\n", file, what);
	std::exit(1);
}

// npy version 1.0, '<f4', C order: the data as rows of the last dim
static std::vector<float>
load_npy(const char *path, size_t *rows, size_t *dim)
{
	FILE *f = std::fopen(path, "rb");
	unsigned char h[10];
	if (!f)
		die("cannot open", path);
	if (std::fread(h, 1, 10, f) != 10 || std::memcmp(h, "\x93NUMPY", 6) ||
	    h[6] != 1)
		die("not a version 1 .npy file", path);
	size_t hl = h[8] | (size_t)h[9] << 8;
	std::string hdr(hl, '\0');
	if (std::fread(&hdr[0], 1, hl, f) != hl)
		die("short header", path);
	if (hdr.find("'<f4'") == std::string::npos ||
	    hdr.find("'fortran_order': False") == std::string::npos)
		die("not C-order f32", path);
	size_t p = hdr.find("'shape': (");
	if (p == std::string::npos)
		die("no shape", path);
	p += 10;
	std::vector<size_t> dims;
	while (p < hdr.size() && hdr[p] != ')') {
		char *end;
		dims.push_back(std::strtoull(&hdr[p], &end, 10));
		p = end - hdr.data();
		while (p < hdr.size() && (hdr[p] == ',' || hdr[p] == ' '))
			p++;
	}
	if (dims.empty())
		die("rank 0", path);
	size_t n = 1;
	for (size_t i = 0; i + 1 < dims.size(); i++)
		n *= dims[i];
	*rows = n;
	*dim = dims.back();
	std::vector<float> x(n * *dim);
	if (std::fread(x.data(), sizeof(float), x.size(), f) != x.size())
		die("short data", path);
	std::fclose(f);
	return x;
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		std::fprintf(stderr, "usage: kmeans_faiss rows.npy init.npy iters threads inertia.txt\n");
		return 2;
	}
	size_t n, d, k, dk;
	std::vector<float> x = load_npy(argv[1], &n, &d);
	std::vector<float> init = load_npy(argv[2], &k, &dk);
	if (dk != d)
		die("centroids and rows differ in D", argv[2]);
	int iters = std::atoi(argv[3]), threads = std::atoi(argv[4]);
	omp_set_num_threads(threads);

	faiss::ClusteringParameters cp;
	cp.niter = iters;
	cp.nredo = 1;
	cp.verbose = false;
	cp.max_points_per_centroid = 1 << 30; // every row, no subsample
	faiss::Clustering clus(d, k, cp);
	clus.centroids = init;                // all K given: used as is
	faiss::IndexFlatL2 index(d);
	clus.train(n, x.data(), index);

	// final assignment at the final centroids, as kmeans-fit's last pass
	index.reset();
	index.add(k, clus.centroids.data());
	std::vector<float> dis(n);
	std::vector<faiss::Index::idx_t> lab(n);
	index.search(n, x.data(), 1, dis.data(), lab.data());
	double inertia = 0;
	for (size_t i = 0; i < n; i++) {
		const float *xi = &x[i * d], *c = &clus.centroids[lab[i] * d];
		float s = 0;
		for (size_t j = 0; j < d; j++)
			s += (xi[j] - c[j]) * (xi[j] - c[j]);
		inertia += s;
	}
	FILE *f = std::fopen(argv[5], "w");
	if (!f || std::fprintf(f, "%.17g\n", inertia) < 0 || std::fclose(f))
		die("cannot write", argv[5]);
	return 0;
}
