// See include/rechub_kernels.h.
#define _GNU_SOURCE
#include <sched.h>
#include "rechub_kernels.h"

int rechub_usable_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

#pragma clang fp contract(off)

typedef float v8 __attribute__((ext_vector_type(8)));

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

// Unaligned 8-lane loads and stores (macros: a v8 passed to or returned from a function
// would change the ABI between the clones).
#define LOAD8(ptr) ({ v8 x_; __builtin_memcpy(&x_, (ptr), sizeof x_); x_; })
#define STORE8(ptr, val) do { v8 y_ = (val); __builtin_memcpy((ptr), &y_, sizeof y_); } while (0)

// One Adam step over n contiguous floats (the body of both entry points below).
static inline __attribute__((always_inline)) void adam_span(float *p, const float *g, float *m, float *v, ptrdiff_t n,
                                                            float b1, float b2, float eps, float wd, float step_size,
                                                            float bc2_sqrt) {
    const v8 one_minus_b1 = 1 - b1, one_minus_b2 = 1 - b2, b2v = b2, epsv = eps, sv = step_size, cv = bc2_sqrt,
             wdv = wd;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8 pi = LOAD8(p + i), gi = LOAD8(g + i), mi = LOAD8(m + i), vi = LOAD8(v + i);
        if (wd != 0) gi += wdv * pi;
        mi += one_minus_b1 * (gi - mi);
        vi = vi * b2v + one_minus_b2 * gi * gi;
        STORE8(m + i, mi);
        STORE8(v + i, vi);
        STORE8(p + i, pi - sv * mi / (__builtin_elementwise_sqrt(vi) / cv + epsv));
    }
    for (; i < n; i++) {
        float gi = g[i];
        if (wd != 0) gi += wd * p[i];
        m[i] += (1 - b1) * (gi - m[i]);
        v[i] = v[i] * b2 + (1 - b2) * gi * gi;
        p[i] -= step_size * m[i] / (__builtin_sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

CLONES
void rechub_adam_step(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1, float b2, float eps,
                      float wd, float step_size, float bc2_sqrt) {
    adam_span(p, g, m, v, n, b1, b2, eps, wd, step_size, bc2_sqrt);
}

CLONES
void rechub_adam_rows(float *w, float *m, float *v, const int32_t *rows, const float *g, ptrdiff_t count,
                      ptrdiff_t dim, float b1, float b2, float eps, float wd, float step_size, float bc2_sqrt) {
    // The rows are scattered over tables larger than the caches: the rows a few updates ahead
    // are fetched while this one is computed (each row's three table lines, for writing).
    enum { ahead = 8 };
    for (ptrdiff_t k = 0; k < count; k++) {
        if (k + ahead < count) {
            const ptrdiff_t next = (ptrdiff_t)rows[k + ahead] * dim;
            for (ptrdiff_t b = 0; b < dim; b += 16) {
                __builtin_prefetch(w + next + b, 1);
                __builtin_prefetch(m + next + b, 1);
                __builtin_prefetch(v + next + b, 1);
            }
        }
        const ptrdiff_t base = (ptrdiff_t)rows[k] * dim;
        adam_span(w + base, g + k * dim, m + base, v + base, dim, b1, b2, eps, wd, step_size, bc2_sqrt);
    }
}

// Batch normalisation. Columns are independent lanes, so the 8-lane body and the scalar tail do
// the same operations per element; ReLU's select is a bit mask (keeps y where y > 0, else +0).
typedef int v8i __attribute__((ext_vector_type(8)));
#define RELU8(y) ({ v8 r_ = (y); (v8)((v8i)r_ & (r_ > 0)); })
// d where the ReLU's input is positive, else +0 (ReLU's derivative applied to d).
#define RELU_MASK8(d, in) ((v8)((v8i)(d) & ((in) > 0)))

CLONES
void rechub_bn_shifted_moments(double *sums, double *squares, float *acc_a, float *acc_b, const float *x,
                               const float *shift, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t block) {
    const ptrdiff_t c = cols;
    for (ptrdiff_t j = 0; j < c; j++) sums[j] = squares[j] = 0;
    for (ptrdiff_t i0 = 0; i0 < rows; i0 += block) {
        const ptrdiff_t i1 = i0 + block < rows ? i0 + block : rows;
        for (ptrdiff_t j = 0; j < c; j++) acc_a[j] = acc_b[j] = 0;
        for (ptrdiff_t i = i0; i < i1; i++) {
            const float *xr = x + i * ld;
            ptrdiff_t j = 0;
            for (; j + 8 <= c; j += 8) {
                v8 d = LOAD8(xr + j) - LOAD8(shift + j);
                STORE8(acc_a + j, LOAD8(acc_a + j) + d);
                STORE8(acc_b + j, LOAD8(acc_b + j) + d * d);
            }
            for (; j < c; j++) {
                float d = xr[j] - shift[j];
                acc_a[j] += d;
                acc_b[j] += d * d;
            }
        }
        for (ptrdiff_t j = 0; j < c; j++) {
            sums[j] += (double)acc_a[j];
            squares[j] += (double)acc_b[j];
        }
    }
}

CLONES
void rechub_bn_normalize(float *x, float *xhat, const float *mean, const float *inv_std, const float *gamma,
                         const float *beta, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, int relu) {
    const ptrdiff_t c = cols;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *xr = x + i * ld, *hr = xhat + i * ld;
        ptrdiff_t j = 0;
        for (; j + 8 <= c; j += 8) {
            v8 h = (LOAD8(xr + j) - LOAD8(mean + j)) * LOAD8(inv_std + j);
            STORE8(hr + j, h);
            v8 y = LOAD8(gamma + j) * h + LOAD8(beta + j);
            if (relu) y = RELU8(y);
            STORE8(xr + j, y);
        }
        for (; j < c; j++) {
            float h = (xr[j] - mean[j]) * inv_std[j];
            hr[j] = h;
            float y = gamma[j] * h + beta[j];
            xr[j] = relu ? (y > 0 ? y : 0) : y;
        }
    }
}

CLONES
void rechub_bn_normalize_inference(float *x, const float *mean, const float *inv_std, const float *gamma,
                                   const float *beta, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    const ptrdiff_t c = cols;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *xr = x + i * ld;
        ptrdiff_t j = 0;
        for (; j + 8 <= c; j += 8)
            STORE8(xr + j, LOAD8(gamma + j) * (LOAD8(xr + j) - LOAD8(mean + j)) * LOAD8(inv_std + j) + LOAD8(beta + j));
        for (; j < c; j++) xr[j] = gamma[j] * (xr[j] - mean[j]) * inv_std[j] + beta[j];
    }
}

CLONES
void rechub_bn_gradient_sums(double *sums, double *sums_xhat, float *acc_a, float *acc_b, const float *dy,
                             const float *xhat, const float *relu_gamma, const float *relu_beta, ptrdiff_t rows,
                             ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t block) {
    const ptrdiff_t c = cols;
    const int relu = relu_gamma != 0 && relu_beta != 0;
    for (ptrdiff_t j = 0; j < c; j++) sums[j] = sums_xhat[j] = 0;
    for (ptrdiff_t i0 = 0; i0 < rows; i0 += block) {
        const ptrdiff_t i1 = i0 + block < rows ? i0 + block : rows;
        for (ptrdiff_t j = 0; j < c; j++) acc_a[j] = acc_b[j] = 0;
        for (ptrdiff_t i = i0; i < i1; i++) {
            const float *dr = dy + i * ld, *hr = xhat + i * ld;
            ptrdiff_t j = 0;
            for (; j + 8 <= c; j += 8) {
                v8 d = LOAD8(dr + j), h = LOAD8(hr + j);
                if (relu) d = RELU_MASK8(d, LOAD8(relu_gamma + j) * h + LOAD8(relu_beta + j));
                STORE8(acc_a + j, LOAD8(acc_a + j) + d);
                STORE8(acc_b + j, LOAD8(acc_b + j) + d * h);
            }
            for (; j < c; j++) {
                float d = relu && !(relu_gamma[j] * hr[j] + relu_beta[j] > 0) ? 0 : dr[j];
                acc_a[j] += d;
                acc_b[j] += d * hr[j];
            }
        }
        for (ptrdiff_t j = 0; j < c; j++) {
            sums[j] += (double)acc_a[j];
            sums_xhat[j] += (double)acc_b[j];
        }
    }
}

CLONES
void rechub_bn_input_gradient(float *dy, float *d_bias, const float *xhat, const float *k, const float *sum_dy,
                              const float *sum_dy_xhat, const float *relu_gamma, const float *relu_beta, float n,
                              ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    const ptrdiff_t c = cols;
    const int relu = relu_gamma != 0 && relu_beta != 0;
    const v8 nv = n;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *dr = dy + i * ld;
        const float *hr = xhat + i * ld;
        ptrdiff_t j = 0;
        for (; j + 8 <= c; j += 8) {
            v8 g = LOAD8(dr + j), h = LOAD8(hr + j);
            if (relu) g = RELU_MASK8(g, LOAD8(relu_gamma + j) * h + LOAD8(relu_beta + j));
            v8 d = LOAD8(k + j) * (nv * g - LOAD8(sum_dy + j) - h * LOAD8(sum_dy_xhat + j));
            STORE8(dr + j, d);
            if (d_bias) STORE8(d_bias + j, LOAD8(d_bias + j) + d);
        }
        for (; j < c; j++) {
            float g = relu && !(relu_gamma[j] * hr[j] + relu_beta[j] > 0) ? 0 : dr[j];
            dr[j] = k[j] * (n * g - sum_dy[j] - hr[j] * sum_dy_xhat[j]);
            if (d_bias) d_bias[j] += dr[j];
        }
    }
}

const char *rechub_kernels_level(void) {
#if defined(__x86_64__)
    // The same order of preference as the target_clones resolver.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "default";
}
