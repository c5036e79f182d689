// Shared between the C files of CBLAS; not part of the module's interface.
#ifndef RECHUB_GEMM_INTERNAL_H
#define RECHUB_GEMM_INTERNAL_H

#include <stdint.h>

// The stored (rows, cols) matrix with row stride `ld`, as bf16 with rows contiguous, in this
// thread's scratch slot `slot` (0 or 1), or the pinned copy when it is that matrix; NULL if
// memory runs out.
const uint16_t *rechub_pack_bf16(int slot, const float *x, int rows, int cols, int ld);

// OpenBLAS's cblas_sgemm (loaded: the caller checked).
void rechub_openblas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc);

// oneDNN's matmul for one product in fp32 (bf16 == 0) or on bf16 copies of the inputs
// (bf16 != 0); see onednn.c.
void rechub_onednn_gemm(int bf16, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                        int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
