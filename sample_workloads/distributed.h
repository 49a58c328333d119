// --distributed: data-parallel training over MPI ranks. Available when the build found MPI;
// otherwise startDistributed() reports that it is not built.
#pragma once

#include "trainer.h"

#include <memory>
#include <string>

namespace tidemark::train {

bool distributedBuilt();
// Initialises MPI (MPI_Init) and returns the communicator of all ranks, or null with errorOut set.
std::unique_ptr<Communicator> startDistributed(int* argc, char*** argv, std::string* errorOut);
// MPI_Finalize; call after the communicator is no longer used.
void stopDistributed();
// MPI_Abort: a rank that fails must not leave the others waiting in an allreduce forever.
[[noreturn]] void abortDistributed(int status);

} // namespace tidemark::train
