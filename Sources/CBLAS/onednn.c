// gemm_backend: onednn. oneDNN (libdnnl, 3.0 or newer) is loaded with dlopen like MKL, and each
// product runs as its matmul primitive: src (M, K) · weights (K, N) → dst (M, N), plain strided
// layouts, so a transposed operand is the same memory with swapped strides. A primitive is
// made once per shape, transposes, strides and scalars, per thread, and reused (the memory
// objects are re-pointed at each call's buffers).
//
// oneDNN's C interface is declared here, as far as it is used, from its documented ABI
// (include/oneapi/dnnl/dnnl.h and dnnl_common_types.h of oneDNN 3.x): no header is needed at build time.
#define _GNU_SOURCE
#include "gemm_internal.h"
#include "rechub_blas.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *dnnl_object;      // engine, stream, memory (descriptor), primitive (descriptor), attributes
typedef int64_t dnnl_dims[12];  // DNNL_MAX_NDIMS
typedef struct { int arg; dnnl_object memory; } dnnl_exec_arg;
typedef struct {
    int major, minor, patch;
    const char *hash;
    unsigned cpu_runtime, gpu_runtime;
} dnnl_version_info;

enum {
    DNNL_SUCCESS = 0,
    DNNL_BF16 = 2, DNNL_F32 = 3,                          // dnnl_data_type_t
    DNNL_CPU = 1,                                         // dnnl_engine_kind_t
    DNNL_STREAM_IN_ORDER = 1,                             // dnnl_stream_flags_t
    DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33,
    DNNL_ARG_ATTR_SCALES = 4096,
    DNNL_QUERY_IMPL_INFO_STR = 8,                         // dnnl_query_t
};

static struct {
    int (*engine_create)(dnnl_object *, int, size_t);
    int (*stream_create)(dnnl_object *, dnnl_object, unsigned);
    int (*stream_wait)(dnnl_object);
    int (*md_create)(dnnl_object *, int, const dnnl_dims, int, const dnnl_dims);
    int (*md_destroy)(dnnl_object);
    int (*attr_create)(dnnl_object *);
    int (*attr_destroy)(dnnl_object);
    int (*attr_set_post_ops)(dnnl_object, dnnl_object);
    int (*attr_set_scales_mask)(dnnl_object, int, int);
    int (*post_ops_create)(dnnl_object *);
    int (*post_ops_destroy)(dnnl_object);
    int (*post_ops_append_sum)(dnnl_object, float, int32_t, int);
    int (*matmul_pd_create)(dnnl_object *, dnnl_object, dnnl_object, dnnl_object, dnnl_object, dnnl_object,
                            dnnl_object);
    int (*pd_query)(dnnl_object, int, int, void *);
    int (*pd_destroy)(dnnl_object);
    int (*primitive_create)(dnnl_object *, dnnl_object);
    int (*primitive_destroy)(dnnl_object);
    int (*primitive_execute)(dnnl_object, dnnl_object, int, const dnnl_exec_arg *);
    int (*memory_create)(dnnl_object *, dnnl_object, dnnl_object, void *);
    int (*memory_destroy)(dnnl_object);
    int (*memory_set_data_handle)(dnnl_object, void *);
    const dnnl_version_info *(*version)(void);
    int (*effective_isa)(void);
    void (*omp_set_num_threads)(int);  // the OpenMP runtime libdnnl uses (absent in other builds)
} api;

static dnnl_object engine;
static int loaded;
static int wanted_threads = 1;
static unsigned long long fallbacks;

int rechub_onednn_is_loaded(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

int rechub_onednn_open(const char *path, int threads, char *error, size_t error_size) {
    if (rechub_onednn_is_loaded()) return 1;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(error, error_size, "%s", why ? why : "unknown error");
        return -1;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&api.engine_create, "dnnl_engine_create"},
        {(void **)&api.stream_create, "dnnl_stream_create"},
        {(void **)&api.stream_wait, "dnnl_stream_wait"},
        {(void **)&api.md_create, "dnnl_memory_desc_create_with_strides"},
        {(void **)&api.md_destroy, "dnnl_memory_desc_destroy"},
        {(void **)&api.attr_create, "dnnl_primitive_attr_create"},
        {(void **)&api.attr_destroy, "dnnl_primitive_attr_destroy"},
        {(void **)&api.attr_set_post_ops, "dnnl_primitive_attr_set_post_ops"},
        {(void **)&api.attr_set_scales_mask, "dnnl_primitive_attr_set_scales_mask"},
        {(void **)&api.post_ops_create, "dnnl_post_ops_create"},
        {(void **)&api.post_ops_destroy, "dnnl_post_ops_destroy"},
        {(void **)&api.post_ops_append_sum, "dnnl_post_ops_append_sum"},
        {(void **)&api.matmul_pd_create, "dnnl_matmul_primitive_desc_create"},
        {(void **)&api.pd_query, "dnnl_primitive_desc_query"},
        {(void **)&api.pd_destroy, "dnnl_primitive_desc_destroy"},
        {(void **)&api.primitive_create, "dnnl_primitive_create"},
        {(void **)&api.primitive_destroy, "dnnl_primitive_destroy"},
        {(void **)&api.primitive_execute, "dnnl_primitive_execute"},
        {(void **)&api.memory_create, "dnnl_memory_create"},
        {(void **)&api.memory_destroy, "dnnl_memory_destroy"},
        {(void **)&api.memory_set_data_handle, "dnnl_memory_set_data_handle"},
        {(void **)&api.version, "dnnl_version"},
        {(void **)&api.effective_isa, "dnnl_get_effective_cpu_isa"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(handle, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(error, error_size, "%s has no %s (is it oneDNN's libdnnl, 3.0 or newer?)", path, symbols[i].name);
            dlclose(handle);
            return -1;
        }
    }
    const dnnl_version_info *v = api.version();
    if (!v || v->major < 3) {
        // 2.x passes memory descriptors by value: these declarations would be wrong for it.
        snprintf(error, error_size, "%s is oneDNN %d.%d; RecHub needs 3.0 or newer", path, v ? v->major : 0,
                 v ? v->minor : 0);
        return -1;
    }
    // Searched in libdnnl and the libraries it loaded (libgomp for the GNU OpenMP build).
    *(void **)&api.omp_set_num_threads = dlsym(handle, "omp_set_num_threads");
    if (api.engine_create(&engine, DNNL_CPU, 0) != DNNL_SUCCESS) {
        snprintf(error, error_size, "%s could not create a CPU engine", path);
        return -1;
    }
    wanted_threads = threads < 1 ? 1 : threads;
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
    return 0;
}

void rechub_onednn_version(char *buffer, int length) {
    if (length <= 0) return;
    buffer[0] = 0;
    if (!rechub_onednn_is_loaded()) return;
    const dnnl_version_info *v = api.version();
    const char *isa;
    switch (api.effective_isa()) {  // dnnl_cpu_isa_t
    case 0x1: isa = "sse41"; break;
    case 0x3: isa = "avx"; break;
    case 0x7: isa = "avx2"; break;
    case 0xf: isa = "avx2_vnni"; break;
    case 0x1f: isa = "avx2_vnni_2"; break;
    case 0x27: isa = "avx512_core"; break;
    case 0x67: isa = "avx512_core_vnni"; break;
    case 0xe7: isa = "avx512_core_bf16"; break;
    case 0x1ef: isa = "avx512_core_fp16"; break;
    case 0x3e7: case 0xfef: isa = "avx512_core_amx"; break;
    case 0x1fef: isa = "avx512_core_amx_fp16"; break;
    default: isa = NULL;
    }
    if (isa) snprintf(buffer, (size_t)length, "oneDNN %d.%d.%d, %s", v->major, v->minor, v->patch, isa);
    else snprintf(buffer, (size_t)length, "oneDNN %d.%d.%d, isa 0x%x", v->major, v->minor, v->patch, api.effective_isa());
}

int rechub_onednn_isa_has_bf16(void) {
    if (!rechub_onednn_is_loaded()) return 0;
    // dnnl_cpu_isa_t values are sets of feature bits: every AVX-512 level with bf16 (0xe7 and
    // those above it, AMX included, whose values differ between 3.x releases) has 0x80;
    // AVX2-VNNI-2 (0x1f) has bf16 conversions.
    unsigned isa = (unsigned)api.effective_isa();
    return (isa & 0x80u) != 0 || isa == 0x1fu;
}

void rechub_onednn_set_num_threads(int n) { wanted_threads = n < 1 ? 1 : n; }

unsigned long long rechub_onednn_fallbacks(void) { return fallbacks; }

// MARK: Primitives, per thread

typedef struct {
    int used, bf16, ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    dnnl_object primitive, src, weights, dst, scale;
    char impl[64];
} entry;

enum { CACHE_SIZE = 96 };
static __thread entry cache[CACHE_SIZE];
static __thread int cache_next;
static __thread dnnl_object stream;
static __thread int applied_threads;
static __thread float one_scale;  // the scale memory's storage: alpha for the current call

// Frees what `create` made (any part of it) and empties the entry.
static void release(entry *e) {
    if (e->primitive) api.primitive_destroy(e->primitive);
    dnnl_object memories[] = {e->src, e->weights, e->dst, e->scale};
    for (int i = 0; i < 4; i++) if (memories[i]) api.memory_destroy(memories[i]);
    memset(e, 0, sizeof *e);
}

// A 2-D memory descriptor for the (rows, cols) operand whose element (i, j) sits at
// i·row_stride + j·col_stride.
static dnnl_object md2(int rows, int cols, int64_t row_stride, int64_t col_stride, int type) {
    dnnl_dims dims = {rows, cols}, strides = {row_stride, col_stride};
    dnnl_object md = NULL;
    return api.md_create(&md, 2, dims, type, strides) == DNNL_SUCCESS ? md : NULL;
}

static int create(entry *e) {
    int type = e->bf16 ? DNNL_BF16 : DNNL_F32;
    dnnl_object src = md2(e->m, e->k, e->ta ? 1 : e->lda, e->ta ? e->lda : 1, type);
    dnnl_object wei = md2(e->k, e->n, e->tb ? 1 : e->ldb, e->tb ? e->ldb : 1, type);
    dnnl_object dst = md2(e->m, e->n, e->ldc, 1, DNNL_F32);
    dnnl_object scale_md = NULL, attr = NULL, post_ops = NULL, pd = NULL;
    int status = -1;
    if (!src || !wei || !dst || api.attr_create(&attr) != DNNL_SUCCESS) goto done;
    if (e->beta != 0) {  // dst = result + beta·dst
        if (api.post_ops_create(&post_ops) != DNNL_SUCCESS || api.post_ops_append_sum(post_ops, e->beta, 0, 0)
            || api.attr_set_post_ops(attr, post_ops))
            goto done;
    }
    if (e->alpha != 1) {  // one scale for the whole weights operand
        dnnl_dims one = {1}, unit = {1};
        if (api.attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS, 0) || api.md_create(&scale_md, 1, one, DNNL_F32, unit))
            goto done;
    }
    status = api.matmul_pd_create(&pd, engine, src, wei, NULL, dst, attr);
    if (status != DNNL_SUCCESS) { pd = NULL; goto done; }
    const char *impl = NULL;
    if (api.pd_query(pd, DNNL_QUERY_IMPL_INFO_STR, 0, &impl) == DNNL_SUCCESS && impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
    status = api.primitive_create(&e->primitive, pd);
    if (status != DNNL_SUCCESS) goto done;
    status = api.memory_create(&e->src, src, engine, NULL) || api.memory_create(&e->weights, wei, engine, NULL)
             || api.memory_create(&e->dst, dst, engine, NULL)
             || (scale_md && api.memory_create(&e->scale, scale_md, engine, &one_scale));
done:
    if (pd) api.pd_destroy(pd);
    if (post_ops) api.post_ops_destroy(post_ops);
    if (attr) api.attr_destroy(attr);
    if (src) api.md_destroy(src);
    if (wei) api.md_destroy(wei);
    if (dst) api.md_destroy(dst);
    if (scale_md) api.md_destroy(scale_md);
    return status;
}

// The entry for these arguments on this thread, made on first use (the oldest entry is
// replaced when the cache is full); NULL if oneDNN cannot make that product.
static entry *lookup(int bf16, int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc, float alpha,
                     float beta) {
    for (int i = 0; i < CACHE_SIZE; i++) {
        entry *e = &cache[i];
        if (e->used && e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb && e->ldc == ldc
            && e->ta == ta && e->tb == tb && e->bf16 == bf16 && e->beta == beta && (e->alpha == 1) == (alpha == 1))
            return e;
    }
    entry *e = &cache[cache_next];
    cache_next = (cache_next + 1) % CACHE_SIZE;
    release(e);
    *e = (entry){.bf16 = bf16, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
                 .alpha = alpha, .beta = beta};
    int status = create(e);
    if (status != DNNL_SUCCESS) {
        if (__atomic_fetch_add(&fallbacks, 1, __ATOMIC_RELAXED) == 0)
            fprintf(stderr, "warning: oneDNN cannot make a %s matmul for %c%c m=%d n=%d k=%d (status %d); such "
                            "products run on OpenBLAS in fp32\n",
                    bf16 ? "bf16" : "fp32", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, status);
        release(e);
        return NULL;
    }
    e->used = 1;
    return e;
}

int rechub_onednn_impl(int bf16, int trans_a, int trans_b, int m, int n, int k, int lda, int ldb, int ldc,
                       float alpha, float beta, char *buffer, int length) {
    if (length <= 0 || !rechub_onednn_is_loaded()) return -1;
    entry *e = lookup(bf16, trans_a == RECHUB_CBLAS_TRANS, trans_b == RECHUB_CBLAS_TRANS, m, n, k, lda, ldb, ldc,
                      alpha, beta);
    if (!e) return -1;
    snprintf(buffer, (size_t)length, "%s", e->impl);
    return 0;
}

void rechub_onednn_gemm(int bf16, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                        int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (k == 0) {  // no products: C = beta·C, which sgemm does without reading A or B
        rechub_openblas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int ta = trans_a == RECHUB_CBLAS_TRANS, tb = trans_b == RECHUB_CBLAS_TRANS;
    const void *a_data = a, *b_data = b;
    int stored_lda = lda, stored_ldb = ldb;
    if (bf16) {  // contiguous bf16 copies: the row stride becomes the stored width
        int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
        a_data = rechub_pack_bf16(0, a, a_rows, a_cols, lda);
        b_data = rechub_pack_bf16(1, b, b_rows, b_cols, ldb);
        if (!a_data || !b_data) {
            fprintf(stderr, "rechub: out of memory for the bf16 copies of a %d×%d×%d product\n", m, n, k);
            abort();
        }
        lda = a_cols;
        ldb = b_cols;
    }
    entry *e = lookup(bf16, ta, tb, m, n, k, lda, ldb, ldc, alpha, beta);
    if (!e) {
        rechub_openblas_sgemm(trans_a, trans_b, m, n, k, alpha, a, stored_lda, b, stored_ldb, beta, c, ldc);
        return;
    }
    if (!stream && api.stream_create(&stream, engine, DNNL_STREAM_IN_ORDER) != DNNL_SUCCESS) {
        fprintf(stderr, "rechub: oneDNN could not create a stream\n");
        abort();
    }
    if (applied_threads != wanted_threads && api.omp_set_num_threads) {
        api.omp_set_num_threads(wanted_threads);
        applied_threads = wanted_threads;
    }
    one_scale = alpha;
    api.memory_set_data_handle(e->src, (void *)a_data);
    api.memory_set_data_handle(e->weights, (void *)b_data);
    api.memory_set_data_handle(e->dst, c);
    dnnl_exec_arg args[4] = {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->weights}, {DNNL_ARG_DST, e->dst},
                             {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, e->scale}};
    int status = api.primitive_execute(e->primitive, stream, e->scale ? 4 : 3, args);
    if (status == DNNL_SUCCESS) status = api.stream_wait(stream);
    if (status != DNNL_SUCCESS) {
        fprintf(stderr, "rechub: oneDNN's matmul failed (status %d) for %c%c m=%d n=%d k=%d\n", status, ta ? 'T' : 'N',
                tb ? 'T' : 'N', m, n, k);
        abort();
    }
}
