// The collector's ingest of a spool file (the stream the capture library writes in the target):
// headers, chunk framing, record sizes and kinds, references between records.
#include "collector/ingest.h"
#include "tests/fuzz/fuzz_support.h"
#include "trace/recording.h"

#include <filesystem>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace tidemark;
    static const std::string spool = [] {
        std::string dir = fuzz::scratchDir() + "/spool";
        std::filesystem::create_directories(dir);
        return dir;
    }();
    fuzz::writeScratch("spool/1.tmspool", fuzz::asView(data, size));
    auto db = trace::createRecording(fuzz::scratchDir() + "/ingested.tmdb");
    if (db)
        (void)collector::ingest(spool, *db);
    return 0;
}
