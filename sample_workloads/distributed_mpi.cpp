// MPI implementation of --distributed: one rank per process, gradients summed with
// MPI_Allreduce(MPI_SUM) in place. Every rank receives the same sums, so the ranks' weights stay
// identical step after step (the truth file's parameter_checksum shows it).
#include "distributed.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

namespace tidemark::train {

namespace {

    class MpiCommunicator final : public Communicator {
    public:
        MpiCommunicator()
        {
            MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
            MPI_Comm_size(MPI_COMM_WORLD, &m_size);
        }
        int rank() const override { return m_rank; }
        int size() const override { return m_size; }
        void allreduceSum(float* data, size_t n) override
        {
            // MPI counts are int: reduce in chunks so any layer size works.
            constexpr size_t kChunk = std::numeric_limits<int>::max() / 2;
            for (size_t done = 0; done < n; done += kChunk) {
                const int count = static_cast<int>(std::min(kChunk, n - done));
                MPI_Allreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            }
        }

    private:
        int m_rank = 0;
        int m_size = 1;
    };

} // namespace

bool distributedBuilt()
{
    return true;
}

std::unique_ptr<Communicator> startDistributed(int* argc, char*** argv, std::string* errorOut)
{
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        if (errorOut)
            *errorOut = "MPI_Init failed";
        return nullptr;
    }
    return std::make_unique<MpiCommunicator>();
}

void stopDistributed()
{
    MPI_Finalize();
}

void abortDistributed(int status)
{
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status); // MPI_Abort does not return in practice; this keeps the promise if it does
}

} // namespace tidemark::train
