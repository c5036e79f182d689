// MallocCounter: counts heap allocations made by the calling thread (test support only).
// Linking this target into the test executable interposes malloc and friends for the
// whole process; each thread counts its own calls, so concurrent tests don't interfere.
#include <stddef.h>

/// Allocation calls (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign)
/// made by this thread since the last reset.
long malloc_counter_thread_count(void);
/// Sets this thread's count to zero.
void malloc_counter_reset(void);
