// The budget files of `tidemark check` (JSON, and TOML read with toml++) and the size and percent syntax.
#include "analysis/budget.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace tidemark;
    std::string text(fuzz::asView(data, size));
    (void)analysis::parseBudgetJson(text, "fuzz.json");
    (void)analysis::parseBudgetToml(text, "fuzz.toml");
    (void)analysis::parseSize(text);
    (void)analysis::parsePercent(text);
    return 0;
}
