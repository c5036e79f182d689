// Swift Testing runs tests concurrently, and several of them call cblas_sgemm at once.
// OpenBLAS 0.3.21 (Debian bookworm) can deadlock when threads call its multi-threaded sgemm
// concurrently (seen here: one caller spinning in exec_blas, another waiting on its mutex, for
// minutes). Its default thread count is the number of cores, so the test bundle sets one BLAS
// thread before any test runs. The trainer itself calls BLAS from one thread only.
// (Shared libraries run their constructors first, so OpenBLAS is initialised by then.)
extern void openblas_set_num_threads(int);

__attribute__((constructor)) static void rechub_tests_use_one_blas_thread(void) {
    openblas_set_num_threads(1);
}
