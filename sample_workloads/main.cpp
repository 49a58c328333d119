// tidemark-train: the reference training workload that tidemark users profile first. Picks the
// backend, runs the training, prints the loss and a memory summary, and writes --truth.
#include "backend.h"
#include "distributed.h"
#include "options.h"
#include "trainer.h"

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

using namespace tidemark::train;

namespace {

int fail(int code, const std::string& message)
{
    std::fprintf(stderr, "tidemark-train: error: %s\n", message.c_str());
    return code;
}

std::unique_ptr<Backend> pickBackend(const std::string& device, std::string& error)
{
    if (device == "cpu")
        return makeCpuBackend();
    if (device == "cuda") {
        if (!cudaBackendBuilt()) {
            error = "this tidemark-train was built without CUDA (no nvcc at build time); use --device cpu";
            return nullptr;
        }
        return makeCudaBackend(&error);
    }
    std::string note;
    if (cudaDeviceCount(&note) > 0)
        return makeCudaBackend(&error);
    std::fprintf(stderr, "tidemark-train: note: no CUDA device (%s); using the CPU backend\n", note.c_str());
    return makeCpuBackend();
}

double mib(size_t bytes)
{
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

} // namespace

static int run(Options& options);

int main(int argc, char** argv)
{
    Options options;
    if (const std::string error = parseOptions(argc, argv, options); !error.empty())
        return fail(2, error);
    if (options.help) {
        std::fputs(usageText(), stdout);
        return 0;
    }
    std::unique_ptr<Communicator> comm;
    if (options.distributed) {
        std::string error;
        comm = startDistributed(&argc, &argv, &error);
        if (!comm)
            return fail(2, error);
        options.train.comm = comm.get();
        // One truth file per rank: "%r" in the name becomes the rank; without it only rank 0 writes.
        if (const auto at = options.truthPath.find("%r"); at != std::string::npos)
            options.truthPath.replace(at, 2, std::to_string(comm->rank()));
        else if (comm->rank() != 0)
            options.truthPath.clear();
    }
    const int status = run(options);
    if (comm && status != 0)
        abortDistributed(status);
    if (comm) {
        comm.reset();
        stopDistributed();
    }
    return status;
}

static int run(Options& options)
{
    // Open the truth file first so a bad path fails before a long run, not after it.
    std::FILE* truth = nullptr;
    if (!options.truthPath.empty()) {
        truth = std::fopen(options.truthPath.c_str(), "w");
        if (!truth)
            return fail(2, "cannot write --truth file '" + options.truthPath + "'");
    }
    std::string error;
    std::unique_ptr<Backend> backend = pickBackend(options.train.device, error);
    if (!backend)
        return fail(2, error);
    const TrainConfig& c = options.train;
    std::printf("tidemark-train: %s backend, %d residual layers x %d wide, batch %d, %d steps, %s activations%s\n",
        backend->name(), c.model.layers, c.model.hidden, c.model.batch, c.steps, dtypeName(c.model.precision),
        c.caching ? "" : ", no caching allocator");
    TrainResult result;
    try {
        result = runTraining(c, *backend, stdout);
    } catch (const std::exception& e) {
        return fail(1, e.what());
    }
    const AllocatorStats& s = result.stats;
    std::printf("done: loss %.6f -> %.6f; peak allocated %.2f MiB, peak reserved %.2f MiB, %llu segments",
        result.losses.empty() ? 0.0 : result.losses.front(), result.losses.empty() ? 0.0 : result.losses.back(),
        mib(s.peakAllocatedBytes), mib(s.peakReservedBytes), static_cast<unsigned long long>(s.segmentsCreated));
    if (c.comm)
        std::printf("; rank %d of %d, parameter checksum %016llx", c.comm->rank(), c.comm->size(),
            static_cast<unsigned long long>(result.parameterChecksum));
    if (result.leakCount)
        std::printf(
            "; leaked %llu x %zu bytes", static_cast<unsigned long long>(result.leakCount), result.leakBlockBytes);
    std::printf("\n");
    if (truth) {
        const std::string text = truthJson(c, result);
        const bool ok = std::fwrite(text.data(), 1, text.size(), truth) == text.size();
        if (std::fclose(truth) != 0 || !ok)
            return fail(1, "writing --truth file '" + options.truthPath + "' failed");
    }
    return 0;
}
