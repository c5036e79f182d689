// CKernels: element-wise kernels compiled for several x86-64 levels (AVX-512, AVX2, baseline)
// and picked at load time for the CPU (clang's target_clones, an ifunc). Swift compiles the
// rest of RecHub for baseline x86-64 (SSE2): 128-bit lanes. Every clone performs the same IEEE
// operations in the same order (no FMA contraction), so results are bit-identical on every CPU.
#ifndef RECHUB_KERNELS_H
#define RECHUB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// One Adam step over n contiguous floats (Kingma & Ba, ICLR 2015, Algorithm 1, PyTorch's
// arithmetic): g += wd·p; m += (1−β1)(g − m); v = β2·v + (1−β2)·g·g;
// p −= step_size·m / (√v / bc2_sqrt + ε).
void rechub_adam_step(float *p, const float *g, float *m, float *v, ptrdiff_t n, float beta1, float beta2,
                      float epsilon, float weight_decay, float step_size, float bc2_sqrt);
// The same step on `count` scattered rows of `dim` floats of the tables w, m, v: row rows[k]
// from the gradient row g[k·dim ..< (k+1)·dim] (lazy embedding updates), prefetching ahead.
void rechub_adam_rows(float *w, float *m, float *v, const int32_t *rows, const float *g, ptrdiff_t count,
                      ptrdiff_t dim, float beta1, float beta2, float epsilon, float weight_decay, float step_size,
                      float bc2_sqrt);

// Batch normalisation's row-wise passes over a (rows, cols) row-major matrix with row stride ld
// (Layers/BatchNorm.swift;
// Ioffe & Szegedy, ICML 2015, Algorithm 1–2). Column sums are taken in Float over blocks of
// `block` rows (acc_a, acc_b: cols floats of work space each) and the block sums in Double across
// blocks; rows are read in order.

// sums[j] = Σ_i (x[i, j] − shift[j]), squares[j] = Σ_i (x[i, j] − shift[j])² (overwritten).
void rechub_bn_shifted_moments(double *sums, double *squares, float *acc_a, float *acc_b, const float *x,
                               const float *shift, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t block);

// Training: xhat = (x − mean)·inv_std; x ← γ·xhat + β, then max(·, 0) where not positive (NaN
// included) if relu.
void rechub_bn_normalize(float *x, float *xhat, const float *mean, const float *inv_std, const float *gamma,
                         const float *beta, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, int relu);

// Inference: x ← γ·(x − mean)·inv_std + β.
void rechub_bn_normalize_inference(float *x, const float *mean, const float *inv_std, const float *gamma,
                                   const float *beta, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld);

// sums[j] = Σ_i dy[i, j], sums_xhat[j] = Σ_i dy[i, j]·xhat[i, j] (overwritten). With relu_gamma and
// relu_beta (both or neither NULL), dy is first taken as 0 where γ·xhat + β, the ReLU's input, is
// not positive (recomputed from xhat: the forward's own arithmetic, so the same mask); dy is not
// written, so this pass only reads.
void rechub_bn_gradient_sums(double *sums, double *sums_xhat, float *acc_a, float *acc_b, const float *dy,
                             const float *xhat, const float *relu_gamma, const float *relu_beta, ptrdiff_t rows,
                             ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t block);

// dy ← k·(n·dy − sum_dy − xhat·sum_dy_xhat), with dy first masked by the ReLU as in
// rechub_bn_gradient_sums when relu_gamma and relu_beta are given; d_bias[j] += Σ_i of the result,
// row by row, if d_bias is not NULL.
void rechub_bn_input_gradient(float *dy, float *d_bias, const float *xhat, const float *k, const float *sum_dy,
                              const float *sum_dy_xhat, const float *relu_gamma, const float *relu_beta, float n,
                              ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld);

// The name of the clone the loader picked ("avx512f", "avx2" or "default").
const char *rechub_kernels_level(void);

// The CPUs this process may run on (its affinity mask, as sched_getaffinity reports it), or
// 0 when the mask cannot be read.
int rechub_usable_cpus(void);

#ifdef __cplusplus
}
#endif

#endif
