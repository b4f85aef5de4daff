/* The C baseline for the GEMM benchmarks: OpenBLAS cblas_sgemm timed from plain C.
 * It sets the bar the TypeScript kernels are measured against; OpenBLAS is dlopen'ed so no headers or -l flags are needed.
 *
 * Output: one JSON object per line, {"name", "ms", "gflops", ...}, or one line
 * {"unavailable": "..."} (exit 2) when no OpenBLAS library loads.
 * Usage: sgemm_baseline [threads (default 2)] [repetitions (default 7)] [shapes file]
 * With a shapes file (one GEMM per line: m n k transA transB count), only that list is timed,
 * as "shapes": the GEMMs some workload executed (a training step, say), back to back.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../openblas_paths.h"

/* CBLAS enum values (cblas.h), spelled out so no header is needed. */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);
typedef void (*set_threads_fn)(int n);

enum { WARMUP_RUNS = 2, DEFAULT_REPS = 7, DEFAULT_THREADS = 2 };

static sgemm_fn sgemm;

/* One GEMM of a benchmark: C(m,n) = op(A) op(B), `count` times. */
typedef struct {
  int m, n, k, transA, transB, count;
} Shape;

/* One pre-LN transformer block at T=256, d=512, 8 heads of 64, MLP 2048, batch 1.
 * Linear weights are stored (in, out): Y = X W, dX = dY W^T, dW = X^T dY. */
enum { T = 256, D = 512, HEADS = 8, HD = 64, MLP = 2048 };
static const Shape BLOCK_GEMMS[] = {
    /* forward */
    {T, 3 * D, D, 0, 0, 1},  /* qkv */
    {T, T, HD, 0, 1, HEADS}, /* scores = Q K^T */
    {T, HD, T, 0, 0, HEADS}, /* context = P V */
    {T, D, D, 0, 0, 1},      /* out proj */
    {T, MLP, D, 0, 0, 1},    /* fc1 */
    {T, D, MLP, 0, 0, 1},    /* fc2 */
    /* backward, linears: dX = dY W^T, dW = X^T dY */
    {T, D, MLP, 0, 1, 1}, {MLP, D, T, 1, 0, 1}, /* fc2 */
    {T, MLP, D, 0, 1, 1}, {D, MLP, T, 1, 0, 1}, /* fc1 */
    {T, D, D, 0, 1, 1},   {D, D, T, 1, 0, 1},   /* out proj */
    {T, D, 3 * D, 0, 1, 1}, {D, 3 * D, T, 1, 0, 1}, /* qkv */
    /* backward, per head */
    {T, T, HD, 0, 1, HEADS}, /* dP = dO V^T */
    {T, HD, T, 1, 0, HEADS}, /* dV = P^T dO */
    {T, HD, T, 0, 0, HEADS}, /* dQ = dS K */
    {T, HD, T, 1, 0, HEADS}, /* dK = dS^T Q */
};
static const Shape MATMUL_1024[] = {{1024, 1024, 1024, 0, 0, 1}};
static const Shape MATMUL_256x4096x4096[] = {{256, 4096, 4096, 0, 0, 1}};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static float* random_matrix(size_t n) {
  float* p = malloc(n * sizeof(float));
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  unsigned s = 12345u;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  return p;
}

static void run_shapes(const Shape* shapes, int count, float* a, float* b, float* c) {
  for (int s = 0; s < count; s++) {
    const Shape* x = &shapes[s];
    int lda = x->transA ? x->m : x->k;
    int ldb = x->transB ? x->k : x->n;
    for (int r = 0; r < x->count; r++)
      sgemm(ROW_MAJOR, x->transA ? TRANS : NO_TRANS, x->transB ? TRANS : NO_TRANS, x->m, x->n, x->k, 1.0f, a, lda, b, ldb,
            0.0f, c, x->n);
  }
}

/* Times the whole list of shapes back to back; prints the median over reps. */
static void bench(const char* name, const Shape* shapes, int count, int reps, int threads) {
  size_t max_a = 0, max_b = 0, max_c = 0;
  double flops = 0;
  int gemms = 0;
  for (int s = 0; s < count; s++) {
    const Shape* x = &shapes[s];
    size_t sa = (size_t)x->m * x->k, sb = (size_t)x->k * x->n, sc = (size_t)x->m * x->n;
    if (sa > max_a) max_a = sa;
    if (sb > max_b) max_b = sb;
    if (sc > max_c) max_c = sc;
    flops += 2.0 * x->m * x->n * x->k * x->count;
    gemms += x->count;
  }
  float* a = random_matrix(max_a);
  float* b = random_matrix(max_b);
  float* c = random_matrix(max_c);
  for (int w = 0; w < WARMUP_RUNS; w++) run_shapes(shapes, count, a, b, c);
  double* times = malloc(sizeof(double) * reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_ms();
    run_shapes(shapes, count, a, b, c);
    times[r] = now_ms() - t0;
  }
  qsort(times, reps, sizeof(double), compare_doubles);
  double ms = times[reps / 2];
  printf("{\"name\":\"%s\",\"ms\":%.4f,\"gflops\":%.2f,\"flops\":%.0f,\"gemms\":%d,\"threads\":%d,\"reps\":%d}\n", name, ms,
         flops / (ms * 1e6), flops, gemms, threads, reps);
  fflush(stdout);
  free(times);
  free(a);
  free(b);
  free(c);
}

/* Reads "m n k transA transB count" lines; returns the count of shapes, or -1 on a malformed file. */
static int read_shapes(const char* path, Shape** out) {
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  int cap = 64, n = 0;
  Shape* shapes = malloc(sizeof(Shape) * cap);
  Shape x;
  int got;
  while ((got = fscanf(f, "%d %d %d %d %d %d", &x.m, &x.n, &x.k, &x.transA, &x.transB, &x.count)) == 6) {
    if (x.m < 1 || x.n < 1 || x.k < 1 || x.count < 1) break;
    if (n == cap) shapes = realloc(shapes, sizeof(Shape) * (cap *= 2));
    shapes[n++] = x;
  }
  int ok = got == EOF && !ferror(f);
  fclose(f);
  if (!ok) {
    free(shapes);
    return -1;
  }
  *out = shapes;
  return n;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : DEFAULT_THREADS;
  int reps = argc > 2 ? atoi(argv[2]) : DEFAULT_REPS;
  if (threads < 1 || reps < 1) {
    fprintf(stderr, "usage: sgemm_baseline [threads >= 1] [repetitions >= 1] [shapes file]\n");
    return 1;
  }
  Shape* custom = NULL;
  int custom_count = 0;
  if (argc > 3 && (custom_count = read_shapes(argv[3], &custom)) <= 0) {
    fprintf(stderr, "sgemm_baseline: %s: expected lines of 'm n k transA transB count'\n", argv[3]);
    return 1;
  }
  void* lib = NULL;
  const char* loaded = NULL;
  llava_pin_openblas_coretype();
  for (size_t i = 0; i < sizeof OPENBLAS_CANDIDATES / sizeof *OPENBLAS_CANDIDATES && !lib; i++) {
    lib = dlopen(OPENBLAS_CANDIDATES[i], RTLD_NOW | RTLD_LOCAL);
    if (lib) loaded = OPENBLAS_CANDIDATES[i];
  }
  if (!lib) {
    printf("{\"unavailable\":\"no OpenBLAS library found (tried libopenblas.so.0 and the Debian openblas-* paths)\"}\n");
    return 2;
  }
  sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  set_threads_fn set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
  if (!sgemm) {
    printf("{\"unavailable\":\"%s has no cblas_sgemm\"}\n", loaded);
    return 2;
  }
  if (set_threads) set_threads(threads);
  printf("{\"library\":\"%s\",\"threads\":%d}\n", loaded, threads);
  if (custom) {
    bench("shapes", custom, custom_count, reps, threads);
    free(custom);
    return 0;
  }
  bench("matmul_1024", MATMUL_1024, 1, reps, threads);
  bench("matmul_256x4096x4096", MATMUL_256x4096x4096, 1, reps, threads);
  bench("block_gemms", BLOCK_GEMMS, sizeof BLOCK_GEMMS / sizeof *BLOCK_GEMMS, reps, threads);
  return 0;
}
