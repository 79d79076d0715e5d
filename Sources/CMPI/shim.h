#ifndef PROTEIN_PERFORMER_CMPI_SHIM_H
#define PROTEIN_PERFORMER_CMPI_SHIM_H
// Open MPI's C API (pkg-config ompi-c). Its handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM,
// MPI_IN_PLACE, …) are macros over addresses of library globals, which Swift cannot import;
// these inline functions hand them over. Built only with PROTEIN_PERFORMER_MPI=1.
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_int(void) { return MPI_INT; }
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
