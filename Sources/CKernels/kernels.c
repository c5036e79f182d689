// See include/rechub_kernels.h.
#include "rechub_kernels.h"

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

CLONES
void rechub_adam_step(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1, float b2, float eps,
                      float wd, float step_size, float bc2_sqrt) {
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

const char *rechub_kernels_level(void) {
#if defined(__x86_64__)
    // The same order of preference as the target_clones resolver.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "default";
}
