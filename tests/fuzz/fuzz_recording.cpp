// Opening a recording and building every section of the report from it, on any bytes: a damaged,
// truncated or foreign SQLite file, or a sound file whose rows contradict each other.
#include "analysis/recording.h"
#include "analysis/report.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace tidemark;
    std::string path = fuzz::writeScratch("input.tmdb", fuzz::asView(data, size));
    auto rec = analysis::Recording::open(path);
    if (!rec)
        return 0;
    analysis::ReportOptions options;
    options.full = true;
    options.coverage = true;
    options.stacks = true;
    auto report = analysis::buildReport(*rec, options);
    if (report) {
        (void)analysis::renderText(*report);
        (void)analysis::renderMarkdown(*report);
        (void)analysis::renderJson(*report);
    }
    return 0;
}
