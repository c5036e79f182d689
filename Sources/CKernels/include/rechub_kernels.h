// CKernels: element-wise kernels compiled for several x86-64 levels (AVX-512, AVX2, baseline)
// and picked at load time for the CPU (clang's target_clones, an ifunc). Swift compiles the
// rest of RecHub for baseline x86-64 (SSE2): 128-bit lanes. Every clone performs the same IEEE
// operations in the same order (no FMA contraction), so results are bit-identical on every CPU.
#ifndef RECHUB_KERNELS_H
#define RECHUB_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// One Adam step over n contiguous floats (Kingma & Ba, ICLR 2015, Algorithm 1, PyTorch's
// arithmetic): g += wd·p; m += (1−β1)(g − m); v = β2·v + (1−β2)·g·g;
// p −= step_size·m / (√v / bc2_sqrt + ε).
void rechub_adam_step(float *p, const float *g, float *m, float *v, ptrdiff_t n, float beta1, float beta2,
                      float epsilon, float weight_decay, float step_size, float bc2_sqrt);

// The name of the clone the loader picked ("avx512f", "avx2" or "default").
const char *rechub_kernels_level(void);

#ifdef __cplusplus
}
#endif

#endif
