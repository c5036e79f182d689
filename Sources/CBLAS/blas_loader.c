// See include/rechub_blas.h. OpenBLAS is loaded with dlopen so that its core can be chosen
// first; a core is checked in a forked child so that a crash (SIGILL on a CPU without the
// instructions, a fault) or a wrong result costs nothing but the child.
#define _GNU_SOURCE
#include "gemm_internal.h"
#include "rechub_blas.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef char *(*corename_fn)(void);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static sgemm_fn p_sgemm;
static corename_fn p_corename;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static pthread_mutex_t load_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char *default_path(const char *path) { return path && *path ? path : "libopenblas.so.0"; }

void rechub_blas_lock(void) { pthread_mutex_lock(&load_mutex); }
void rechub_blas_unlock(void) { pthread_mutex_unlock(&load_mutex); }
int rechub_blas_is_loaded(void) { return __atomic_load_n(&p_sgemm, __ATOMIC_ACQUIRE) != NULL; }

// Resolves the four entry points from `handle`; 0 on success.
static int resolve(void *handle, sgemm_fn *sgemm, corename_fn *corename, set_threads_fn *set_threads,
                   get_threads_fn *get_threads, char *error, size_t error_size) {
    *sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    *corename = (corename_fn)dlsym(handle, "openblas_get_corename");
    *set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    *get_threads = (get_threads_fn)dlsym(handle, "openblas_get_num_threads");
    if (!*sgemm || !*corename || !*set_threads || !*get_threads) {
        snprintf(error, error_size, "the library has no %s (is it OpenBLAS?)",
                 !*sgemm ? "cblas_sgemm" : !*corename ? "openblas_get_corename" : "openblas_set_num_threads");
        return -1;
    }
    return 0;
}

int rechub_blas_open(const char *path, const char *coretype, char *error, size_t error_size) {
    if (rechub_blas_is_loaded()) return 1;
    const char *lib = default_path(path);
    char *saved = NULL;
    int had = 0;
    if (coretype) {
        const char *old = getenv("OPENBLAS_CORETYPE");
        if (old) { had = 1; saved = strdup(old); }
        setenv("OPENBLAS_CORETYPE", coretype, 1);
    }
    void *handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    const char *why = handle ? NULL : dlerror();
    if (coretype) {
        if (had) setenv("OPENBLAS_CORETYPE", saved, 1); else unsetenv("OPENBLAS_CORETYPE");
        free(saved);
    }
    if (!handle) {
        snprintf(error, error_size, "cannot load %s: %s", lib, why ? why : "unknown error");
        return -1;
    }
    sgemm_fn s; corename_fn c; set_threads_fn st; get_threads_fn gt;
    if (resolve(handle, &s, &c, &st, &gt, error, error_size) != 0) return -1;
    p_corename = c;
    p_set_threads = st;
    p_get_threads = gt;
    __atomic_store_n(&p_sgemm, s, __ATOMIC_RELEASE);
    return 0;
}

void rechub_openblas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc) {
    p_sgemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void rechub_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc) {
    p_sgemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *rechub_blas_corename(void) { return p_corename ? p_corename() : NULL; }
void rechub_blas_set_num_threads(int n) { if (p_set_threads) p_set_threads(n); }
int rechub_blas_get_num_threads(void) { return p_get_threads ? p_get_threads() : 0; }

// MARK: MKL

typedef void (*bf16_gemm_fn)(int, int, int, int, int, int, float, const uint16_t *, int, const uint16_t *, int,
                             float, float *, int);
typedef int (*mkl_layer_fn)(int);
typedef void (*mkl_version_fn)(char *, int);
typedef void (*mkl_threads_fn)(int);

static sgemm_fn m_sgemm;
static bf16_gemm_fn m_bf16_gemm;
static mkl_version_fn m_version;
static mkl_threads_fn m_set_threads;

int rechub_mkl_is_loaded(void) { return __atomic_load_n(&m_sgemm, __ATOMIC_ACQUIRE) != NULL; }

int rechub_mkl_open(const char *path, int threads, char *error, size_t error_size) {
    if (rechub_mkl_is_loaded()) return 1;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(error, error_size, "%s", why ? why : "unknown error");
        return -1;
    }
    mkl_layer_fn interface_layer = (mkl_layer_fn)dlsym(handle, "MKL_Set_Interface_Layer");
    mkl_layer_fn threading_layer = (mkl_layer_fn)dlsym(handle, "MKL_Set_Threading_Layer");
    mkl_version_fn version = (mkl_version_fn)dlsym(handle, "MKL_Get_Version_String");
    mkl_threads_fn set_threads = (mkl_threads_fn)dlsym(handle, "MKL_Set_Num_Threads");
    sgemm_fn sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    bf16_gemm_fn bf16 = (bf16_gemm_fn)dlsym(handle, "cblas_gemm_bf16bf16f32");
    const char *missing = !interface_layer ? "MKL_Set_Interface_Layer" : !threading_layer ? "MKL_Set_Threading_Layer"
                        : !version ? "MKL_Get_Version_String" : !set_threads ? "MKL_Set_Num_Threads"
                        : !sgemm ? "cblas_sgemm" : !bf16 ? "cblas_gemm_bf16bf16f32" : NULL;
    if (missing) {
        snprintf(error, error_size, "%s has no %s (is it MKL's libmkl_rt, 2020 or newer?)", path, missing);
        dlclose(handle);
        return -1;
    }
    // Before any other call: 32-bit integers (LP64), and the threading layer.
    if (interface_layer(0) < 0 || threading_layer(threads <= 1 ? 1 : 0) < 0) {
        snprintf(error, error_size, "%s refused the LP64 interface or the %s threading layer", path,
                 threads <= 1 ? "SEQUENTIAL" : "INTEL");
        return -1;
    }
    m_bf16_gemm = bf16;
    m_version = version;
    m_set_threads = set_threads;
    if (threads > 1) set_threads(threads);
    __atomic_store_n(&m_sgemm, sgemm, __ATOMIC_RELEASE);
    return 0;
}

void rechub_mkl_version(char *buffer, int length) {
    if (length <= 0) return;
    buffer[0] = 0;
    if (m_version) m_version(buffer, length);
    buffer[length - 1] = 0;
}

void rechub_mkl_set_num_threads(int n) { if (m_set_threads) m_set_threads(n); }

// MARK: The products

static __thread int thread_mode = RECHUB_GEMM_OPENBLAS;

int rechub_gemm_set_thread_mode(int mode) {
    int previous = thread_mode;
    thread_mode = mode;
    return previous;
}
int rechub_gemm_mode(void) { return thread_mode; }

// Nearest bf16, ties to even; a NaN keeps its sign and stays a (quiet) NaN. Branch-free, so
// that the loops below vectorize (3.5x faster than with a branch at AVX-512, measured).
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

// The conversion loops, compiled for the CPU's widest vector level (as CKernels' loops are).
#define CONVERSION_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CONVERSION_CLONES void rechub_round_to_bf16(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)to_bf16(x[i]) << 16;
        memcpy(&y[i], &u, sizeof u);
    }
}

// The bf16 copies of the two inputs, per thread, grown as needed.
static __thread uint16_t *scratch[2];
static __thread size_t scratch_size[2];

// The pinned matrices (rechub_bf16_pin), innermost last, each with its bf16 copy kept for the
// next pin at that depth; and the count of converted values, per thread.
#define PIN_DEPTH 4
typedef struct {
    const float *x;
    int rows, cols, ld, active;
    uint16_t *data;
    size_t size;
} pin_slot;
static __thread pin_slot pins[PIN_DEPTH];
static __thread int pin_count;  // pins pushed, including those that got no slot (deeper than PIN_DEPTH)
static __thread unsigned long long converted;

unsigned long long rechub_bf16_converted(void) { return converted; }

CONVERSION_CLONES static void convert_row(const float *x, uint16_t *y, int n) {
    for (int j = 0; j < n; j++) y[j] = to_bf16(x[j]);
}

// The pinned copy of exactly this matrix, innermost first, or NULL.
static const uint16_t *pinned_copy(const float *x, int rows, int cols, int ld) {
    for (int d = (pin_count < PIN_DEPTH ? pin_count : PIN_DEPTH) - 1; d >= 0; d--) {
        const pin_slot *p = &pins[d];
        if (p->active && p->x == x && p->rows == rows && p->cols == cols && p->ld == ld) return p->data;
    }
    return NULL;
}

// Packs the stored (rows, cols) matrix with row stride `ld` into this thread's scratch slot as
// bf16, rows contiguous (or returns its pinned copy); NULL if memory runs out.
const uint16_t *rechub_pack_bf16(int slot, const float *x, int rows, int cols, int ld) {
    const uint16_t *copy = pinned_copy(x, rows, cols, ld);
    if (copy) return copy;
    size_t need = (size_t)rows * (size_t)cols;
    converted += need;
    if (need > scratch_size[slot]) {
        uint16_t *grown = realloc(scratch[slot], need * sizeof(uint16_t));
        if (!grown) return NULL;
        scratch[slot] = grown;
        scratch_size[slot] = need;
    }
    uint16_t *out = scratch[slot];
    for (int i = 0; i < rows; i++) convert_row(x + (size_t)i * (size_t)ld, out + (size_t)i * (size_t)cols, cols);
    return out;
}

void rechub_bf16_pin(const float *x, int rows, int cols, int ld) {
    int depth = pin_count++;
    if (depth >= PIN_DEPTH) return;  // too deep: this matrix is converted per product (still correct)
    pin_slot *p = &pins[depth];
    p->active = 0;
    if ((thread_mode != RECHUB_GEMM_MKL_BF16 && thread_mode != RECHUB_GEMM_ONEDNN_BF16) || rows <= 0 || cols <= 0) return;
    if (pinned_copy(x, rows, cols, ld)) return;  // pinned further out: that copy serves
    size_t need = (size_t)rows * (size_t)cols;
    if (need > p->size) {
        uint16_t *grown = realloc(p->data, need * sizeof(uint16_t));
        if (!grown) return;  // no pin: the products convert as usual
        p->data = grown;
        p->size = need;
    }
    for (int i = 0; i < rows; i++) convert_row(x + (size_t)i * (size_t)ld, p->data + (size_t)i * (size_t)cols, cols);
    converted += need;
    p->x = x;
    p->rows = rows;
    p->cols = cols;
    p->ld = ld;
    p->active = 1;
}

void rechub_bf16_unpin(void) {
    if (pin_count == 0) return;
    pin_count--;
    if (pin_count < PIN_DEPTH) pins[pin_count].active = 0;
}

void rechub_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    switch (rechub_gemm_mode()) {
    case RECHUB_GEMM_MKL_FP32:
        m_sgemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    case RECHUB_GEMM_MKL_BF16: {
        if (k == 0) {  // no products: C = beta·C, which sgemm does without reading A or B
            m_sgemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        int a_rows = trans_a == RECHUB_CBLAS_TRANS ? k : m, a_cols = trans_a == RECHUB_CBLAS_TRANS ? m : k;
        int b_rows = trans_b == RECHUB_CBLAS_TRANS ? n : k, b_cols = trans_b == RECHUB_CBLAS_TRANS ? k : n;
        const uint16_t *a16 = rechub_pack_bf16(0, a, a_rows, a_cols, lda);
        const uint16_t *b16 = rechub_pack_bf16(1, b, b_rows, b_cols, ldb);
        if (!a16 || !b16) {
            fprintf(stderr, "rechub: out of memory for the bf16 copies of a %d×%d×%d product\n", m, n, k);
            abort();
        }
        m_bf16_gemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a16, a_cols, b16, b_cols, beta, c, ldc);
        return;
    }
    case RECHUB_GEMM_ONEDNN_FP32:
    case RECHUB_GEMM_ONEDNN_BF16:
        rechub_onednn_gemm(rechub_gemm_mode() == RECHUB_GEMM_ONEDNN_BF16, trans_a, trans_b, m, n, k, alpha, a, lda, b,
                           ldb, beta, c, ldc);
        return;
    default:
        p_sgemm(RECHUB_CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

// MARK: CPU features

void rechub_cpu_detect(rechub_cpu_features *f) {
    memset(f, 0, sizeof *f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(f->vendor, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = 0;
    __get_cpuid(1, &a, &b, &c, &d);
    int family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model += ((a >> 16) & 0xf) << 4;
    f->family = family;
    f->model = model;
    f->sse3 = (c >> 0) & 1;
    f->fma = (c >> 12) & 1;
    int osxsave = (c >> 27) & 1;
    f->avx = (c >> 28) & 1;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        f->os_avx = (lo & 0x6) == 0x6;
        f->os_avx512 = (lo & 0xe6) == 0xe6;
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned max_sub = a;
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512cd = (b >> 28) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->amx_bf16 = (d >> 22) & 1;
        f->amx_tile = (d >> 24) & 1;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512_bf16 = (a >> 5) & 1;
        }
    }
#endif
}

// MARK: The check in a child process

// One sgemm case: op(A) (m, k), op(B) (k, n), C (m, n), row-major with padded strides.
typedef struct { int ta, tb, m, n, k; float alpha, beta; } gemm_case;

// The shapes and transposes the layers use (Linear and ExpertBank: forward NT, weight
// gradient TN, input gradient NN; TT for completeness), at odd sizes that exercise the
// kernels' edge handling, at the tutorial's widths, and with alpha and beta.
static const gemm_case cases[] = {
    {0, 1, 1, 1, 1, 1.0f, 0.0f},      {0, 1, 7, 13, 5, 1.0f, 0.0f},      {1, 0, 13, 7, 33, 1.0f, 1.0f},
    {0, 0, 33, 17, 65, 1.0f, 0.0f},   {1, 1, 17, 31, 9, 0.5f, 0.25f},    {0, 1, 64, 10, 376, 1.0f, 1.0f},
    {0, 1, 129, 255, 31, 1.0f, 0.0f}, {1, 0, 256, 376, 97, 1.0f, 1.0f},  {0, 0, 97, 376, 256, 1.0f, 1.0f},
    {0, 1, 96, 128, 256, -1.0f, 1.0f}, {1, 0, 128, 256, 96, 1.0f, 0.0f}, {0, 0, 61, 8, 129, 2.0f, 0.5f},
};

// Deterministic values in [-1, 1).
static float next_value(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

// Runs every case; returns the worst |c - ref| / bound, and the failing case's index in *bad
// (-1 when all pass). The bound for an entry is the classical one for a dot product of length
// k summed in any order in float (Higham, "Accuracy and Stability of Numerical Algorithms",
// §3.1): |c - ref| <= 2·k·u·(|alpha|·Σ_p |a_ip b_pj| + |beta·c_ij|) + u·|ref|, u = 2^-24.
// Any wrong kernel misses it by orders of magnitude.
static double check_cases(sgemm_fn sgemm, int *bad) {
    const double u = 1.0 / 16777216.0;
    double worst = 0;
    uint64_t seed = 0x5eedULL;
    *bad = -1;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        gemm_case g = cases[ci];
        int ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;  // A as stored
        int br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;  // B as stored
        int lda = ac + 3, ldb = bc + 1, ldc = g.n + 2;
        float *a = malloc(sizeof(float) * (size_t)ar * lda);
        float *b = malloc(sizeof(float) * (size_t)br * ldb);
        float *c = malloc(sizeof(float) * (size_t)g.m * ldc);
        float *c0 = malloc(sizeof(float) * (size_t)g.m * ldc);
        if (!a || !b || !c || !c0) { free(a); free(b); free(c); free(c0); *bad = (int)ci; return INFINITY; }
        for (int i = 0; i < ar * lda; i++) a[i] = next_value(&seed);
        for (int i = 0; i < br * ldb; i++) b[i] = next_value(&seed);
        for (int i = 0; i < g.m * ldc; i++) c[i] = c0[i] = next_value(&seed);
        sgemm(RECHUB_CBLAS_ROW_MAJOR, g.ta ? RECHUB_CBLAS_TRANS : RECHUB_CBLAS_NO_TRANS,
              g.tb ? RECHUB_CBLAS_TRANS : RECHUB_CBLAS_NO_TRANS, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta,
              c, ldc);
        for (int i = 0; i < g.m; i++) {
            for (int j = 0; j < g.n; j++) {
                double sum = 0, mag = 0;
                for (int p = 0; p < g.k; p++) {
                    double x = g.ta ? a[p * lda + i] : a[i * lda + p];
                    double y = g.tb ? b[j * ldb + p] : b[p * ldb + j];
                    sum += x * y;
                    mag += fabs(x * y);
                }
                double old = g.beta == 0 ? 0 : (double)g.beta * c0[i * ldc + j];
                double ref = (double)g.alpha * sum + old;
                double bound = 2.0 * g.k * u * (fabs((double)g.alpha) * mag + fabs(old)) + u * fabs(ref) + 1e-30;
                double got = c[i * ldc + j];
                double ratio = isfinite(got) ? fabs(got - ref) / bound : INFINITY;
                if (!(ratio <= worst)) worst = ratio;
            }
        }
        // The padding between rows of C must be untouched.
        for (int i = 0; i < g.m; i++)
            for (int j = g.n; j < ldc; j++)
                if (c[i * ldc + j] != c0[i * ldc + j]) worst = INFINITY;
        free(a); free(b); free(c); free(c0);
        if (!(worst <= 1.0)) { *bad = (int)ci; return worst; }
    }
    return worst;
}

// Writes all of `len` bytes (the child's one message).
static void write_all(int fd, const void *p, size_t len) {
    const char *s = p;
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        len -= (size_t)w;
    }
}

static void child(const char *lib, const char *coretype, int check, int timeout_seconds, int fd) {
    rechub_blas_probe_result r;
    memset(&r, 0, sizeof r);
    // The parent's crash handlers (the Swift runtime's backtracer) must not run here: a crash
    // of the checked core simply ends the child, and the parent reads the signal.
    const int crashes[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGTRAP, SIGALRM};
    for (size_t i = 0; i < sizeof crashes / sizeof crashes[0]; i++) signal(crashes[i], SIG_DFL);
    alarm((unsigned)(timeout_seconds > 0 ? timeout_seconds : 20));
    if (coretype) setenv("OPENBLAS_CORETYPE", coretype, 1); else unsetenv("OPENBLAS_CORETYPE");
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    // A fresh copy in a new namespace: if this process already had OpenBLAS loaded, plain dlopen
    // would hand back that copy, initialised with another core.
    void *handle = dlmopen(LM_ID_NEWLM, lib, RTLD_NOW | RTLD_LOCAL);
    if (!handle) handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        r.status = 2;
        const char *why = dlerror();
        snprintf(r.detail, sizeof r.detail, "cannot load %s: %s", lib, why ? why : "unknown error");
        write_all(fd, &r, sizeof r);
        _exit(0);
    }
    sgemm_fn s; corename_fn c; set_threads_fn st; get_threads_fn gt;
    if (resolve(handle, &s, &c, &st, &gt, r.detail, sizeof r.detail) != 0) {
        r.status = 2;
        write_all(fd, &r, sizeof r);
        _exit(0);
    }
    const char *name = c();
    snprintf(r.corename, sizeof r.corename, "%s", name ? name : "unknown");
    if (check) {
        int bad = -1;
        r.worst_ratio = check_cases(s, &bad);
        if (bad >= 0) {
            gemm_case g = cases[bad];
            r.status = 1;
            snprintf(r.detail, sizeof r.detail,
                     "sgemm %s%s m=%d n=%d k=%d alpha=%g beta=%g is off by %.3g times the rounding bound",
                     g.ta ? "T" : "N", g.tb ? "T" : "N", g.m, g.n, g.k, g.alpha, g.beta, r.worst_ratio);
        }
    }
    write_all(fd, &r, sizeof r);
    _exit(0);
}

void rechub_blas_probe(const char *path, const char *coretype, int check, int timeout_seconds,
                       rechub_blas_probe_result *out) {
    memset(out, 0, sizeof *out);
    const char *lib = default_path(path);
    int fds[2];
    if (pipe(fds) != 0) {
        out->status = 4;
        snprintf(out->detail, sizeof out->detail, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        out->status = 4;
        snprintf(out->detail, sizeof out->detail, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        child(lib, coretype, check, timeout_seconds, fds[1]);
    }
    close(fds[1]);
    size_t got = 0;
    char *p = (char *)out;
    while (got < sizeof *out) {
        ssize_t n = read(fds[0], p + got, sizeof *out - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        rechub_blas_probe_result killed;
        memset(&killed, 0, sizeof killed);
        killed.status = 3;
        killed.signal = sig;
        snprintf(killed.detail, sizeof killed.detail, "the check was killed by signal %d (%s)%s", sig, strsignal(sig),
                 sig == SIGALRM ? ", it ran out of time" : "");
        *out = killed;
    } else if (got < sizeof *out) {
        out->status = 4;
        snprintf(out->detail, sizeof out->detail, "the check process exited (status %d) without a result",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    }
}
