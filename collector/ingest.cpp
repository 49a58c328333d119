// Ingest orchestration: follows the run's spool files (while the program runs, or all at once
// after), lays out the process tree (exec'd images are children of the previous image of the same
// pid, forked processes children of their parent's image by ppid), ingests each file, then writes
// spaces, the series and recording-wide counters.
#include "collector/ingest.h"

#include "collector/file_ingest.h"
#include "collector/spool_dir.h"
#include "collector/symbolize.h"

#include <algorithm>
#include <map>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <set>
#include <thread>
#include <unordered_set>

namespace tidemark::collector {

namespace {

    struct Image {
        explicit Image(SpoolFile f)
            : file(std::move(f))
        {
        }
        SpoolFile file;
        ProcessPlan plan;
        std::unique_ptr<FileIngest> ingest;
        // Kept when its ingest is done, for a forked child's frees of its parent's blocks.
        std::vector<FileIngest::UnmatchedFree> unmatched; // host space, time order
        uint64_t unmatchedCount = 0;
        int64_t hostSpace = 0;
        std::vector<FileIngest::UnmatchedFree> inheritedFrees; // those of `unmatched` that were inherited
        std::optional<std::unordered_set<uint64_t>> inheritedAtStart; // addresses, once asked for

        bool forkChild() const { return file.header().image_seq == 0 && plan.parent_id != 0; }
    };

    bool startsBefore(const wire::SpoolFileHeader& x, const wire::SpoolFileHeader& y)
    {
        return std::tie(x.start_ts_ns, x.pid, x.image_seq) < std::tie(y.start_ts_ns, y.pid, y.image_seq);
    }

    // The image this one replaced (exec: same pid, the latest earlier image) or the parent's image
    // that was running when it started (fork); 0 for the first process.
    int64_t parentOf(const Image& img, const std::vector<std::unique_ptr<Image>>& images)
    {
        const auto& h = img.file.header();
        const Image* best = nullptr;
        for (const auto& other : images) {
            const auto& o = other->file.header();
            if (other.get() == &img)
                continue;
            if (h.image_seq > 0) {
                if (o.pid == h.pid && o.image_seq < h.image_seq
                    && (!best || o.image_seq > best->file.header().image_seq))
                    best = other.get();
            } else if (o.pid == h.ppid && o.start_ts_ns <= h.start_ts_ns
                && (!best || o.start_ts_ns >= best->file.header().start_ts_ns)) {
                best = other.get();
            }
        }
        return best ? best->plan.id : 0;
    }

} // namespace

struct LiveIngest::State {
    std::string dir;
    trace::Db& db;
    RowWriter out;
    IngestContext ctx;
    std::vector<std::unique_ptr<Image>> images; // in process id order
    std::set<std::string> known; // paths taken, or found not to be spool files at the end
    std::vector<std::pair<std::string, std::string>> badFiles;
    uint64_t files = 0;
    bool begun = false;

    State(std::string d, trace::Db& database, IngestOptions options)
        : dir(std::move(d))
        , db(database)
        , out(database)
        , ctx { out, std::move(options), {}, {}, {}, {}, {} }
    {
    }

    Image* imageWithId(int64_t id)
    {
        for (auto& img : images)
            if (img->plan.id == id)
                return img.get();
        return nullptr;
    }

    // The host blocks a forked child started with: its parent's live at the fork.
    Result<const std::unordered_set<uint64_t>*> inheritedAtStart(Image& child)
    {
        if (!child.inheritedAtStart) {
            Image* parent = imageWithId(child.plan.parent_id);
            if (!parent)
                return makeError(ErrorCode::NotFound, "no process image " + std::to_string(child.plan.parent_id));
            auto live = liveAt(*parent, child.file.header().start_ts_ns);
            if (!live)
                return live.error();
            child.inheritedAtStart = std::move(*live);
        }
        return &*child.inheritedAtStart;
    }

    // The host blocks live in an image at time t: its own rows, and (a forked child) what it
    // inherited and had not freed by then. Reads the rows the writer stored (after sync()).
    Result<std::unordered_set<uint64_t>> liveAt(Image& img, uint64_t t)
    {
        std::unordered_set<uint64_t> live;
        if (img.forkChild()) {
            auto inherited = inheritedAtStart(img);
            if (!inherited)
                return inherited.error();
            live = **inherited;
            for (const auto& f : img.inheritedFrees)
                if (f.ts <= t)
                    live.erase(f.address);
        }
        auto st = db.prepare("SELECT address FROM allocations WHERE process_id = ? AND space_id = ? "
                             "AND alloc_ts_ns <= ?3 AND (free_ts_ns IS NULL OR free_ts_ns > ?3)");
        if (!st)
            return st.error();
        st->bind(1, img.plan.id).bind(2, img.hostSpace).bind(3, static_cast<int64_t>(t));
        while (st->step())
            live.insert(static_cast<uint64_t>(st->int64(0)));
        if (!st->status())
            return st->status().error();
        return live;
    }

    // A forked child starts with a copy of its parent's heap: its free of a block the parent had
    // allocated before the fork, and not freed, matches no allocation of its own yet loses nothing.
    // Such frees are counted as `inherited_frees`, not `unmatched_frees` (each inherited block once).
    // Only when some child has unmatched frees: the parent's rows are read back from the recording.
    Status classifyInheritedFrees(IngestReport& report)
    {
        bool any = false;
        for (const auto& img : images)
            any = any || (img->forkChild() && !img->unmatched.empty());
        if (!any)
            return okStatus();
        if (auto s = out.sync(); !s)
            return s;
        for (auto& img : images) { // start order: a parent is done before its children
            if (!img->forkChild() || img->unmatched.empty())
                continue;
            auto inherited = inheritedAtStart(*img);
            if (!inherited)
                return inherited.error();
            std::unordered_set<uint64_t> left = **inherited;
            for (const auto& f : img->unmatched)
                if (left.erase(f.address))
                    img->inheritedFrees.push_back(f);
            const uint64_t n = img->inheritedFrees.size();
            if (n == 0)
                continue;
            report.unmatched_frees -= n;
            report.inherited_frees += n;
            out.tableRow(out.stats,
                trace::CaptureStatRow { .process_id = img->plan.id,
                    .source = "collector",
                    .name = "unmatched_frees",
                    .value = static_cast<int64_t>(img->unmatchedCount - n) });
            out.tableRow(out.stats,
                trace::CaptureStatRow { .process_id = img->plan.id,
                    .source = "collector",
                    .name = "inherited_frees",
                    .value = static_cast<int64_t>(n) });
        }
        return okStatus();
    }

    // The frames inside a module with an id above `after`, with their module file.
    std::vector<FrameToSymbolize> framesToSymbolize(int64_t after) const
    {
        std::vector<FrameToSymbolize> frames;
        ctx.trie.forEachModuleFrame([&](int64_t id, int64_t module, uint64_t relPc) {
            auto file = ctx.moduleFiles.find(module);
            if (id > after && file != ctx.moduleFiles.end())
                frames.push_back({ id, relPc, file->second.first, file->second.second });
        });
        return frames;
    }

    // Opens the spool files that appeared since the last look; ids go in order of start. While
    // the program runs, a file that cannot be opened yet (still being created) is left for later.
    void discover(bool final)
    {
        auto paths = listSpoolFiles(dir);
        if (!paths)
            return;
        std::vector<std::unique_ptr<Image>> found;
        for (const std::string& path : *paths) {
            if (known.count(path))
                continue;
            auto file = final ? SpoolFile::open(path) : SpoolFile::openGrowing(path);
            if (!file) {
                if (final) {
                    known.insert(path);
                    ++files;
                    badFiles.emplace_back(path, file.error().message);
                }
                continue;
            }
            known.insert(path);
            ++files;
            found.push_back(std::make_unique<Image>(std::move(*file)));
        }
        std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
            return startsBefore(a->file.header(), b->file.header());
        });
        for (auto& img : found) {
            img->plan.id = static_cast<int64_t>(images.size() + 1);
            img->ingest = std::make_unique<FileIngest>(ctx, img->file, img->plan);
            images.push_back(std::move(img));
        }
    }
};

LiveIngest::LiveIngest(std::string spoolDir, trace::Db& db, IngestOptions options)
    : m_state(std::make_unique<State>(std::move(spoolDir), db, std::move(options)))
{
}

LiveIngest::~LiveIngest() = default;

Status LiveIngest::begin()
{
    State& st = *m_state;
    if (auto s = st.ctx.strings.load(st.db); !s)
        return s;
    if (auto s = st.out.begin(); !s) // from here on the connection belongs to the writer until sync()
        return s;
    st.begun = true;
    return okStatus();
}

uint64_t LiveIngest::poll(uint64_t limit)
{
    State& st = *m_state;
    if (!st.begun || !st.out.status().ok())
        return 0;
    st.discover(false);
    uint64_t paired = 0;
    for (auto& img : st.images) {
        if (!img->file.refresh(false))
            continue;
        paired += img->ingest->step(false, {}, limit);
    }
    return paired;
}

Result<IngestReport> LiveIngest::finish(const Progress& progress)
{
    State& st = *m_state;
    if (!st.begun)
        if (auto s = begin(); !s)
            return s.error();
    st.out.threaded(); // the program is gone: pairing and SQLite work on two cores
    st.discover(true);
    for (auto& img : st.images)
        if (auto s = img->file.refresh(true); !s)
            return s.error();
    for (auto& img : st.images)
        img->plan.parent_id = parentOf(*img, st.images);
    // The frames seen while the program ran are symbolized meanwhile, on a thread that only gets a
    // core the pairing and the SQLite writer leave idle: they are the ones the recording waits for.
    const int64_t earlyFrames = static_cast<int64_t>(st.ctx.trie.frameCount());
    SymbolResolver symbols;
    Resolution resolved;
    std::thread resolver;
    if (st.ctx.options.symbolize)
        resolver = std::thread([&, early = st.framesToSymbolize(0)]() mutable {
            sched_param idle {};
            pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
            pthread_setname_np(pthread_self(), "tidemark-sym");
            resolved = symbols.resolve(std::move(early));
        });
    struct Joiner {
        std::thread& t;
        ~Joiner()
        {
            if (t.joinable())
                t.join();
        }
    } joiner { resolver };

    IngestReport report;
    report.files = st.files;
    report.bad_files = st.badFiles.size();
    uint64_t totalBytes = 0, doneBytes = 0;
    for (const auto& img : st.images)
        totalBytes += img->file.sizeBytes();
    for (auto& img : st.images) {
        FileIngest& file = *img->ingest;
        file.step(true, [&](double f) {
            if (progress && totalBytes)
                progress("reading events", (doneBytes + f * img->file.sizeBytes()) / static_cast<double>(totalBytes));
        });
        doneBytes += img->file.sizeBytes();
        if (auto s = st.out.status(); !s.ok())
            return s.error();
        const FileCounters& c = file.counters();
        const SpoolFileScan& scan = img->file.scan();
        ++report.processes;
        report.records += scan.records;
        report.bad_records += scan.bad_records;
        report.truncated_bytes += scan.truncated_bytes;
        report.allocations += c.allocations;
        report.allocation_bytes += c.allocation_bytes;
        report.still_live += c.still_live;
        report.unmatched_frees += c.unmatched_frees;
        report.failed_allocations += c.failed;
        if (!report.root_process_id && file.plan().parent_id == 0)
            report.root_process_id = img->plan.id;
        if (file.cutShort()) {
            if (!report.cut_short)
                report.cut_short_detail = file.cutShortDetail();
            report.cut_short = true;
        }
        img->unmatched = file.takeUnmatchedHostFrees();
        img->unmatchedCount = c.unmatched_frees;
        img->hostSpace = file.hostSpace();
        img->ingest.reset();
        img->file.release(); // bounded memory over many processes: mappings end as files are done
    }
    if (auto s = st.classifyInheritedFrees(report); !s)
        return s.error();
    RowWriter& out = st.out;
    if (st.ctx.options.symbolize) {
        // Waited for now: back to a normal share of the CPU, or a machine busy with other work would
        // starve it. One libdw user at a time; the modules it read stay open for the rest.
        sched_param normal {};
        pthread_setschedparam(resolver.native_handle(), SCHED_OTHER, &normal);
        resolver.join();
        Resolution late = symbols.resolve(st.framesToSymbolize(earlyFrames), progress);
        writeSymbols(resolved, out, st.ctx.strings);
        writeSymbols(late, out, st.ctx.strings);
        report.frames_symbolized = resolved.report.resolved + late.report.resolved;
    }
    st.ctx.spaces.write(out);
    trace::SeriesParams series = st.ctx.series.finish(out);
    const auto collectorStat = [&](std::string name, int64_t value, std::optional<std::string> detail) {
        out.tableRow(out.stats,
            trace::CaptureStatRow {
                .source = "collector", .name = std::move(name), .value = value, .detail = std::move(detail) });
    };
    collectorStat("files", static_cast<int64_t>(report.files), std::nullopt);
    collectorStat("bad_files", static_cast<int64_t>(report.bad_files), std::nullopt);
    for (const auto& [path, message] : st.badFiles)
        collectorStat("bad_file:" + path.substr(path.rfind('/') + 1), 1, message);
    if (auto s = out.finish(); !s)
        return s.error();
    if (auto s = trace::writeSeriesParams(st.db, series); !s)
        return s.error();
    return report;
}

Result<IngestReport> ingest(
    const std::string& spoolDir, trace::Db& db, const IngestOptions& options, const Progress& progress)
{
    if (auto paths = listSpoolFiles(spoolDir); !paths)
        return paths.error();
    LiveIngest live(spoolDir, db, options);
    if (auto s = live.begin(); !s)
        return s.error();
    return live.finish(progress);
}

} // namespace tidemark::collector
