// Swift Testing runs tests concurrently, and several of them call cblas_sgemm at once.
// OpenBLAS 0.3.21 (Debian bookworm) can deadlock when threads call its multi-threaded sgemm
// concurrently (seen here: one caller spinning in exec_blas, another waiting on its mutex, for
// minutes). Its default thread count is the number of cores, so the test bundle asks for one
// BLAS thread before any test runs. RecHub loads OpenBLAS at run time (dlopen, on the first
// product), and OpenBLAS reads OPENBLAS_NUM_THREADS when it loads, so setting the variable in a
// constructor is enough. The trainer itself calls BLAS from one thread only.
#include <stdlib.h>

__attribute__((constructor)) static void rechub_tests_use_one_blas_thread(void) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
}
