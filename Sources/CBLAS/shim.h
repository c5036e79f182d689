// CBLAS: OpenBLAS's C interface, plus its thread-count controls.
#include <cblas.h>
