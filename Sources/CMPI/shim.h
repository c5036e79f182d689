// CMPI: OpenMPI's C API, with `static inline` accessors for the handles that
// OpenMPI defines as macros over global structs (Swift cannot import those).
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_max(void) { return MPI_MAX; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
