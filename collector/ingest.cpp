// Ingest orchestration: opens the run's spool files, lays out the process tree (exec'd images are
// children of the previous image of the same pid, forked processes children of their parent's image
// by ppid), ingests each file, then writes spaces and recording-wide counters.
#include "collector/ingest.h"

#include "collector/file_ingest.h"
#include "collector/spool_dir.h"

#include <algorithm>

namespace tidemark::collector {

namespace {

    struct Image {
        SpoolFile file;
        ProcessPlan plan;
    };

    // Assigns process ids in start order and links every image to its parent image.
    void planProcesses(std::vector<Image>& images)
    {
        std::sort(images.begin(), images.end(), [](const Image& a, const Image& b) {
            const auto& x = a.file.header();
            const auto& y = b.file.header();
            return std::tie(x.start_ts_ns, x.pid, x.image_seq) < std::tie(y.start_ts_ns, y.pid, y.image_seq);
        });
        for (size_t i = 0; i < images.size(); ++i)
            images[i].plan.id = static_cast<int64_t>(i + 1);
        for (Image& img : images) {
            const auto& h = img.file.header();
            const Image* best = nullptr;
            for (const Image& other : images) {
                const auto& o = other.file.header();
                if (&other == &img)
                    continue;
                if (h.image_seq > 0) {
                    // The image this one replaced: same pid, the latest earlier image.
                    if (o.pid == h.pid && o.image_seq < h.image_seq
                        && (!best || o.image_seq > best->file.header().image_seq))
                        best = &other;
                } else if (o.pid == h.ppid && o.start_ts_ns <= h.start_ts_ns
                    && (!best || o.start_ts_ns >= best->file.header().start_ts_ns)) {
                    // The parent's image that was running when this process started.
                    best = &other;
                }
            }
            img.plan.parent_id = best ? best->plan.id : 0;
        }
    }

} // namespace

Result<IngestReport> ingest(
    const std::string& spoolDir, trace::Db& db, const IngestOptions& options, const Progress& progress)
{
    auto paths = listSpoolFiles(spoolDir);
    if (!paths)
        return paths.error();
    IngestReport report;
    std::vector<Image> images;
    std::vector<std::pair<std::string, std::string>> badFiles;
    uint64_t totalBytes = 0;
    for (const std::string& path : *paths) {
        ++report.files;
        auto file = SpoolFile::open(path);
        if (!file) {
            ++report.bad_files;
            badFiles.emplace_back(path, file.error().message);
            continue;
        }
        totalBytes += file->sizeBytes();
        images.push_back({ std::move(*file), {} });
    }
    planProcesses(images);

    RowWriter out(db);
    IngestContext ctx { out, options, {}, {}, {}, {} };
    if (auto s = ctx.strings.load(db); !s)
        return s.error();
    if (auto s = out.begin(); !s) // from here on the connection belongs to the writer until sync()
        return s.error();

    // One file: every space's changes come in one time-ordered stream, so the series is written
    // while ingesting. Several files (fork, exec) share spaces; finalize builds theirs from the rows.
    if (images.size() == 1) {
        auto [lo, hi] = images.front().file.timeSpan(isMemoryKind);
        if (lo <= hi)
            ctx.series.start(trace::chooseSeriesParams(static_cast<int64_t>(lo), static_cast<int64_t>(hi)));
    }

    uint64_t doneBytes = 0;
    for (Image& img : images) {
        FileIngest file(ctx, img.file, img.plan);
        file.run([&](double f) {
            if (progress && totalBytes)
                progress("reading events", (doneBytes + f * img.file.sizeBytes()) / static_cast<double>(totalBytes));
        });
        doneBytes += img.file.sizeBytes();
        if (!out.status().ok())
            return out.status().error();
        const FileCounters& c = file.counters();
        const SpoolFileScan& scan = img.file.scan();
        ++report.processes;
        report.records += scan.records;
        report.bad_records += scan.bad_records;
        report.truncated_bytes += scan.truncated_bytes;
        report.allocations += c.allocations;
        report.allocation_bytes += c.allocation_bytes;
        report.still_live += c.still_live;
        report.unmatched_frees += c.unmatched_frees;
        report.failed_allocations += c.failed;
        if (!report.root_process_id && img.plan.parent_id == 0)
            report.root_process_id = img.plan.id;
        if (file.cutShort()) {
            if (!report.cut_short)
                report.cut_short_detail = file.cutShortDetail();
            report.cut_short = true;
        }
        img.file.release(); // bounded memory over many processes: one mapping at a time
    }
    ctx.spaces.write(out);
    if (auto s = out.sync(); !s)
        return s.error();
    if (auto s = ctx.series.finish(db); !s)
        return s.error();
    out.row(out.stats, nullptr, "collector", "files", report.files, nullptr);
    out.row(out.stats, nullptr, "collector", "bad_files", report.bad_files, nullptr);
    for (const auto& [path, message] : badFiles)
        out.row(out.stats, nullptr, "collector", "bad_file:" + path.substr(path.rfind('/') + 1), 1, message);
    if (auto s = out.finish(); !s)
        return s.error();
    return report;
}

} // namespace tidemark::collector
