// Compiled instead of distributed_mpi.cpp when the build found no MPI: --distributed is refused
// with a clear message.
#include "distributed.h"

#include <cstdlib>

namespace tidemark::train {

bool distributedBuilt()
{
    return false;
}

std::unique_ptr<Communicator> startDistributed(int*, char***, std::string* errorOut)
{
    if (errorOut)
        *errorOut = "--distributed is not available: this tidemark-train was built without MPI";
    return nullptr;
}

void stopDistributed()
{
}

void abortDistributed(int status)
{
    std::_Exit(status);
}

} // namespace tidemark::train
