// Debugging aid: prints the digest of spool files (stats, counts per API, live bytes, peak).
//   tidemark-spool-stats FILE...
#include "spool_summary.h"

#include <cstdio>

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: tidemark-spool-stats FILE...\n");
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; ++i) {
        tidemark::test::SpoolSummary s;
        std::string error;
        if (!tidemark::test::summarizeSpool(argv[i], s, error)) {
            std::fprintf(stderr, "tidemark-spool-stats: %s: %s\n", argv[i], error.c_str());
            rc = 2;
            continue;
        }
        std::printf("%s: pid %u ppid %u image %u, %llu chunks, %llu records, %llu bad, clean end %d\n", argv[i],
            s.header.pid, s.header.ppid, s.header.image_seq, (unsigned long long)s.scan.chunks,
            (unsigned long long)s.scan.records, (unsigned long long)s.scan.bad_records, int(s.scan.clean_end));
        for (const auto& [api, t] : s.allocs)
            std::printf("  api %u: %llu allocations, %llu bytes\n", api, (unsigned long long)t.count,
                (unsigned long long)t.bytes);
        std::printf("  live %llu bytes in %zu blocks, peak %llu, unmatched frees %llu, stacks %zu, modules %zu\n",
            (unsigned long long)s.liveBytes, s.live.size(), (unsigned long long)s.peakBytes,
            (unsigned long long)s.unmatchedFrees, s.stacks.size(), s.modules.size());
        for (const auto& [name, value] : s.stats)
            std::printf("  stat %s = %llu\n", name.c_str(), (unsigned long long)value);
    }
    return rc;
}
