// The pickle reader of the PyTorch snapshot importer, on raw bytes (refused opcodes, unbalanced
// stacks, huge lengths, deep nesting).
#include "analysis/import/pickle_reader.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    (void)tidemark::import::parsePickle(tidemark::fuzz::asView(data, size));
    return 0;
}
