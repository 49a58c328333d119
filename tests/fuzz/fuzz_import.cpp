// `tidemark import` end to end on any bytes: format detection, gzip and tar unpacking, the PyTorch
// snapshot, Kineto and Nsight Systems importers, and the recording they write.
#include "analysis/import/import.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace tidemark;
    std::string input = fuzz::writeScratch("input", fuzz::asView(data, size));
    (void)import::importFile(input, fuzz::scratchDir() + "/imported.tmdb");
    return 0;
}
