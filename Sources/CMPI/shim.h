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
static inline MPI_Op cmpi_min(void) { return MPI_MIN; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }

/// The ranks of `comm` that share memory with this one (one node), ordered by `key`.
static inline int cmpi_comm_split_shared(MPI_Comm comm, int key, MPI_Comm *out) {
    return MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, key, MPI_INFO_NULL, out);
}

/// MPI_Win_allocate_shared of `bytes` per rank, each rank's segment apart (page-aligned),
/// not one contiguous run (`alloc_shared_noncontig`).
static inline int cmpi_win_allocate_shared(MPI_Aint bytes, MPI_Comm comm, void *base, MPI_Win *win) {
    MPI_Info info;
    int rc = MPI_Info_create(&info);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    rc = MPI_Win_allocate_shared(bytes, (int)sizeof(float), info, comm, base, win);
    MPI_Info_free(&info);
    return rc;
}

/// The value of OpenMPI's string control variable `name` (e.g. `osc_sm_backing_directory`) as
/// the library will use it (set by the environment, a config file or `mpirun --mca`), through
/// the MPI tool interface; 0 when `out` received it, -1 otherwise.
static inline int cmpi_string_cvar(const char *name, char *out, int capacity) {
    int provided = 0, index = 0, count = 0, rc = -1;
    if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return -1;
    if (MPI_T_cvar_get_index(name, &index) == MPI_SUCCESS) {
        MPI_T_cvar_handle handle;
        if (MPI_T_cvar_handle_alloc(index, NULL, &handle, &count) == MPI_SUCCESS) {
            if (count > 0 && count < capacity && MPI_T_cvar_read(handle, out) == MPI_SUCCESS) {
                out[count] = 0;
                rc = 0;
            }
            MPI_T_cvar_handle_free(&handle);
        }
    }
    MPI_T_finalize();
    return rc;
}
