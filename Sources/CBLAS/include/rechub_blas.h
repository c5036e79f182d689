// CBLAS: OpenBLAS reached through dlopen, so that RecHub can choose its kernel set ("core")
// before the library loads (OpenBLAS reads OPENBLAS_CORETYPE once, in its constructor), plus
// the CPU's feature bits from CPUID/XGETBV and a crash-proof check of a core in a child process.
// Swift decides (Kernels/BLASCore.swift); this file only loads, calls and probes.
#ifndef RECHUB_BLAS_H
#define RECHUB_BLAS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// CBLAS's row-major layout and transpose flags (the values of cblas.h).
enum { RECHUB_CBLAS_ROW_MAJOR = 101, RECHUB_CBLAS_NO_TRANS = 111, RECHUB_CBLAS_TRANS = 112 };

// Loads the library at `path` (NULL: "libopenblas.so.0"). With `coretype` non-NULL,
// OPENBLAS_CORETYPE is set to it while the library loads and restored afterwards.
// Returns 0 on success, 1 if a library was already loaded (nothing changed), -1 on failure with
// a message in `error`. Not thread-safe by itself: callers hold rechub_blas_lock().
int rechub_blas_open(const char *path, const char *coretype, char *error, size_t error_size);

// 1 once a library is loaded.
int rechub_blas_is_loaded(void);

// A process-wide mutex around the first load.
void rechub_blas_lock(void);
void rechub_blas_unlock(void);

// Calls through the loaded library (the caller ensures it is loaded).
void rechub_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);
const char *rechub_blas_corename(void);
void rechub_blas_set_num_threads(int n);
int rechub_blas_get_num_threads(void);

// MARK: MKL (gemm_backend: mkl), reached through dlopen like OpenBLAS

// Loads Intel MKL's single dynamic library (libmkl_rt) at `path`, with the LP64 interface and
// the SEQUENTIAL threading layer when `threads` is 1, else the INTEL one with `threads`
// threads. Returns 0 on success, 1 if MKL was already loaded (nothing changed), -1 on failure
// with a message in `error`. Callers hold rechub_blas_lock().
int rechub_mkl_open(const char *path, int threads, char *error, size_t error_size);
int rechub_mkl_is_loaded(void);
// MKL's version string ("" before loading).
void rechub_mkl_version(char *buffer, int length);
void rechub_mkl_set_num_threads(int n);

// MARK: oneDNN (gemm_backend: onednn), reached through dlopen like MKL

// Loads oneDNN's libdnnl (3.0 or newer) at `path` and makes its CPU engine; its products use
// `threads` threads (through the OpenMP runtime libdnnl loads, when it has one). Returns 0 on
// success, 1 if oneDNN was already loaded (nothing changed), -1 on failure with a message in
// `error`. Callers hold rechub_blas_lock().
int rechub_onednn_open(const char *path, int threads, char *error, size_t error_size);
int rechub_onednn_is_loaded(void);
// "oneDNN 3.2.0, avx512_core_bf16": the version and the instruction set its kernels use ("" before loading).
void rechub_onednn_version(char *buffer, int length);
void rechub_onednn_set_num_threads(int n);
// Whether the instruction set oneDNN's kernels use has bf16 instructions (AVX512_BF16, AMX,
// AVX2-VNNI-2); 0 before loading. ONEDNN_MAX_CPU_ISA can lower it below the CPU's.
int rechub_onednn_isa_has_bf16(void);
// The name of the implementation oneDNN picks for this product (as rechub_gemm would run it
// on this thread, bf16 != 0 for bf16 inputs; row strides as stored, bf16 copies are contiguous
// so pass their widths), e.g. "brg:avx512_core_bf16"; 0 on success, -1 if it cannot make one.
int rechub_onednn_impl(int bf16, int trans_a, int trans_b, int m, int n, int k, int lda, int ldb, int ldc,
                       float alpha, float beta, char *buffer, int length);
// How many products oneDNN could not make and OpenBLAS ran in fp32 instead (said once on stderr).
unsigned long long rechub_onednn_fallbacks(void);

// Which product rechub_gemm runs: OpenBLAS's sgemm, MKL's sgemm, MKL's
// cblas_gemm_bf16bf16f32 on inputs rounded to bf16 (fp32 accumulation and output), or
// oneDNN's matmul on fp32 inputs or on inputs rounded to bf16 (fp32 accumulation and output).
enum {
    RECHUB_GEMM_OPENBLAS = 0, RECHUB_GEMM_MKL_FP32 = 1, RECHUB_GEMM_MKL_BF16 = 2,
    RECHUB_GEMM_ONEDNN_FP32 = 3, RECHUB_GEMM_ONEDNN_BF16 = 4
};
// The mode is per thread, RECHUB_GEMM_OPENBLAS until set; setting returns the previous one.
int rechub_gemm_set_thread_mode(int mode);
int rechub_gemm_mode(void);
// C = alpha·op(A)·op(B) + beta·C, row-major, through the current mode's library (the caller
// ensures it is loaded).
void rechub_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
// A matrix converted to bf16 once, for every product on this thread that reads exactly it (the
// same pointer, rows, columns and row stride) until unpinned: an input several products read.
// Only in the bf16 modes (elsewhere a no-op). The caller must not change the matrix while
// it is pinned. Pins nest: each unpin releases the innermost; up to 4 are held at once (a
// deeper pin is counted but converts per product, as without a pin).
void rechub_bf16_pin(const float *x, int rows, int cols, int ld);
void rechub_bf16_unpin(void);
// How many values this thread has converted to bf16 for products (for tests and the bench).
unsigned long long rechub_bf16_converted(void);

// Rounds each value to the nearest bf16 (ties to even; NaN stays NaN), as the products'
// inputs are rounded in the bf16 modes, and writes it back as a float.
void rechub_round_to_bf16(const float *x, float *y, size_t n);

// What CPUID and XGETBV say (x86-64; all zero elsewhere).
typedef struct {
    char vendor[16];
    int family, model;
    int sse3, avx, fma, avx2;
    int avx512f, avx512bw, avx512dq, avx512vl, avx512cd, avx512_bf16, amx_tile, amx_bf16;
    int os_avx;     // XCR0 enables the YMM state
    int os_avx512;  // XCR0 enables the opmask and ZMM states
} rechub_cpu_features;

void rechub_cpu_detect(rechub_cpu_features *out);

// The outcome of checking one core in a child process.
typedef struct {
    int status;             // 0 passed; 1 wrong result; 2 could not load; 3 killed by a signal;
                            // 4 the child could not be started or said nothing
    int signal;             // the signal that ended the child (status 3)
    char corename[64];      // the core the child's OpenBLAS ran
    double worst_ratio;     // worst |c - reference| / bound over every checked entry
    char detail[256];       // which case failed, or the loader's message
} rechub_blas_probe_result;

// In a forked child (bounded by `timeout_seconds` through alarm()): loads a fresh copy of the
// library (dlmopen in a new namespace, so a library already loaded in this process does not
// answer instead), with OPENBLAS_CORETYPE = `coretype` (NULL: unset, OpenBLAS's own choice) and
// one thread; reports the core it runs; with `check` non-zero, also runs sgemm on the layers'
// shapes and transposes (odd sizes, alpha and beta) against a double-precision reference.
void rechub_blas_probe(const char *path, const char *coretype, int check, int timeout_seconds,
                       rechub_blas_probe_result *out);

#ifdef __cplusplus
}
#endif

#endif
