// Ingest throughput measurement (not a test): writes a synthetic spool of N host events from 4
// threads (allocations with a sliding window of live blocks, frees, 1,000 distinct 20-deep stacks)
// and times ingest into a fresh recording. Usage: collector_ingest_bench [events] [dir] [both|generate|ingest]
// (generate and ingest in separate runs to see the ingest's own peak memory).
#include "collector/ingest.h"
#include "spool_builder.h"
#include "trace/recording.h"

#include <chrono>
#include <cstdio>
#include <deque>
#include <sys/resource.h>

using namespace tidemark;
namespace fs = std::filesystem;

int main(int argc, char** argv)
{
    uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
    fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "tidemark_ingest_bench";
    std::string mode = argc > 3 ? argv[3] : "both";
    if (mode != "ingest")
        fs::remove_all(dir);
    auto t0 = std::chrono::steady_clock::now();
    if (mode != "ingest") {
        testing::SpoolBuilder b(4242, 1, 0, 1);
        b.module(1, 1, "/usr/bin/bench-app", 0x400000, 0x400000, 0x800000);
        for (uint32_t s = 1; s <= 1000; ++s) {
            std::vector<uint64_t> ips;
            for (int d = 0; d < 20; ++d)
                ips.push_back(0x400000 + (d < 10 ? d * 64 : (s * 977 + d * 131) % 0x300000));
            b.stack(1, s, ips);
        }
        b.flush(1);
        std::deque<uint64_t> live[4];
        uint64_t ts = 10, emitted = 0, next[4] = { 0x10000000, 0x20000000, 0x30000000, 0x40000000 };
        while (emitted < events) {
            for (uint32_t t = 0; t < 4 && emitted < events; ++t) {
                for (int k = 0; k < 1000 && emitted < events; ++k, ++emitted) {
                    if (live[t].size() > 1000 || (live[t].size() > 10 && (emitted % 3 == 0))) {
                        b.hostFree(t + 1, ts++, live[t].front());
                        live[t].pop_front();
                    } else {
                        uint64_t a = next[t] += 64;
                        b.hostAlloc(t + 1, ts++, a, 16 + emitted % 512, 1 + emitted % 1000);
                        live[t].push_back(a);
                    }
                }
                b.flush(t + 1);
            }
        }
        b.exit(1, ts);
        b.write(dir / "spool");
    }
    auto t1 = std::chrono::steady_clock::now();
    if (mode == "generate")
        return 0;
    auto db = trace::createRecording((dir / "bench.tmdb").string());
    if (!db)
        return 1;
    auto report = collector::ingest((dir / "spool").string(), *db);
    auto t2 = std::chrono::steady_clock::now();
    if (!report) {
        std::fprintf(stderr, "ingest failed: %s\n", report.error().message.c_str());
        return 1;
    }
    uint64_t spoolBytes = 0;
    for (const auto& e : fs::directory_iterator(dir / "spool"))
        spoolBytes += e.file_size();
    rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    double secs = std::chrono::duration<double>(t2 - t1).count();
    std::printf("events=%llu spool_bytes=%llu generate_s=%.2f ingest_s=%.2f events_per_s=%.2fM allocations=%llu "
                "still_live=%llu db_bytes=%llu max_rss_mib=%ld\n",
        static_cast<unsigned long long>(report->records), static_cast<unsigned long long>(spoolBytes),
        std::chrono::duration<double>(t1 - t0).count(), secs, report->records / secs / 1e6,
        static_cast<unsigned long long>(report->allocations), static_cast<unsigned long long>(report->still_live),
        static_cast<unsigned long long>(fs::file_size(dir / "bench.tmdb")), ru.ru_maxrss / 1024);
    if (mode == "both")
        fs::remove_all(dir);
    return 0;
}
