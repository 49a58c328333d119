// Memory summaries for the CI gate: measuring a recording through the analysis queries, the versioned
// JSON baseline (docs/ci.md), and median/max aggregation of repeated runs.
#include "analysis/baseline.h"

#include "analysis/json_io.h"
#include "analysis/queries.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace tidemark::analysis {

using nlohmann::json;

const PhaseMeasures* SpaceMeasures::find(const std::string& phase) const
{
    for (const auto& p : phases)
        if (p.phase == phase)
            return &p;
    return nullptr;
}

const SpaceMeasures* MemorySummary::find(const std::string& space) const
{
    for (const auto& s : spaces)
        if (s.space == space)
            return &s;
    return nullptr;
}

const char* aggregateName(Aggregate a)
{
    return a == Aggregate::Max ? "max" : "median";
}

namespace {

    std::vector<SiteAmount> fromBreakdown(const std::vector<BreakdownRow>& rows)
    {
        std::vector<SiteAmount> out;
        for (const auto& r : rows)
            out.push_back(SiteAmount { r.key, r.label, "", r.bytes, r.count, 0.0 });
        return out;
    }

    Result<PhaseMeasures> measure(Recording& rec, int64_t spaceId, const std::string& phase, int top)
    {
        Filter filter { phase };
        PhaseMeasures m;
        m.phase = phase;
        auto p = peak(rec, spaceId, filter, top);
        if (!p)
            return p.error();
        m.peakBytes = phase.empty() ? p->bytes : p->live.totalBytes;
        m.peakOffsetNs = p->ts - rec.startNs();
        m.phaseAtPeak = p->phaseAtPeak;
        m.peakSites = fromBreakdown(p->live.bySite);
        m.peakPhases = fromBreakdown(p->live.byPhase);
        auto l = leaks(rec, spaceId, filter, 0);
        if (!l)
            return l.error();
        m.leakedBytes = l->leakedBytes;
        m.leakedCount = l->leakedCount;
        m.liveAtEndBytes = l->liveAtEndBytes - l->poolReservedBytes;
        m.steps = l->steps;
        for (const auto& s : l->sites)
            if (s.isLeak && (top <= 0 || m.leakSites.size() < static_cast<size_t>(top)))
                m.leakSites.push_back(
                    SiteAmount { s.site.key, s.site.label, s.phase, s.bytes, s.count, s.bytesPerStep });
        auto g = growth(rec, spaceId, filter, 0);
        if (!g)
            return g.error();
        if (g->method == "steps") {
            double perStep = phase.empty() ? g->bytesPerStep : 0.0;
            for (const auto& s : g->sites) {
                if (!phase.empty())
                    perStep += s.bytesPerStep;
                if (top <= 0 || m.growthSites.size() < static_cast<size_t>(top))
                    m.growthSites.push_back(
                        SiteAmount { s.site.key, s.site.label, s.phase, s.bytes, s.count, s.bytesPerStep });
            }
            m.growthPerStepBytes = perStep;
        }
        return m;
    }

} // namespace

Result<MemorySummary> summarize(Recording& rec, const SummarizeOptions& options)
{
    auto sum = analysis::summary(rec);
    if (!sum)
        return sum.error();
    MemorySummary out;
    out.source = rec.path();
    out.program = sum->program;
    out.commandLine = sum->commandLine;
    out.durationNs = sum->durationNs;
    out.cutShort = sum->cutShort;
    if (!sum->processList.empty()) {
        out.rank = sum->processList.front().rank;
        out.host = sum->processList.front().host;
    }
    std::optional<int64_t> only;
    if (!options.space.empty()) {
        auto s = rec.findSpace(options.space);
        if (!s)
            return s.error();
        only = s->id;
    }
    for (const auto& ss : sum->spaces) {
        if (only ? ss.space.id != *only : ss.allocations == 0)
            continue;
        SpaceMeasures sm;
        sm.space = ss.space.name;
        sm.kind = ss.space.kind;
        auto whole = measure(rec, ss.space.id, "", options.top);
        if (!whole)
            return whole.error();
        std::vector<std::string> phases = options.phases;
        if (options.phasesAtPeak)
            for (size_t i = 0; i < whole->peakPhases.size() && i < 5; ++i)
                if (!whole->peakPhases[i].key.empty())
                    phases.push_back(whole->peakPhases[i].key);
        sm.phases.push_back(std::move(*whole));
        std::set<std::string> seen { "" };
        for (const auto& ph : phases) {
            if (!seen.insert(ph).second)
                continue;
            auto m = measure(rec, ss.space.id, ph, options.top);
            if (!m)
                return m.error();
            sm.phases.push_back(std::move(*m));
        }
        out.spaces.push_back(std::move(sm));
    }
    return out;
}

// ---- JSON ------------------------------------------------------------------------------------

namespace {

    json sitesJson(const std::vector<SiteAmount>& sites)
    {
        json a = json::array();
        for (const auto& s : sites) {
            json o { { "key", s.key }, { "label", s.label }, { "bytes", s.bytes }, { "count", s.count } };
            if (!s.phase.empty())
                o["phase"] = s.phase;
            if (s.bytesPerStep != 0.0)
                o["bytes_per_step"] = s.bytesPerStep;
            a.push_back(std::move(o));
        }
        return a;
    }

    std::vector<SiteAmount> sitesFrom(const json& a)
    {
        std::vector<SiteAmount> out;
        if (!a.is_array())
            return out;
        for (const auto& o : a)
            out.push_back(SiteAmount { o.value("key", ""), o.value("label", ""), o.value("phase", ""),
                o.value("bytes", int64_t(0)), o.value("count", int64_t(0)), o.value("bytes_per_step", 0.0) });
        return out;
    }

    json phaseJson(const PhaseMeasures& m)
    {
        json o { { "phase", m.phase }, { "peak_bytes", m.peakBytes }, { "peak_offset_ns", m.peakOffsetNs },
            { "phase_at_peak", m.phaseAtPeak }, { "leaked_bytes", m.leakedBytes }, { "leaked_count", m.leakedCount },
            { "live_at_end_bytes", m.liveAtEndBytes }, { "steps", m.steps },
            { "growth_per_step_bytes", m.growthPerStepBytes ? json(*m.growthPerStepBytes) : json(nullptr) },
            { "peak_sites", sitesJson(m.peakSites) }, { "peak_phases", sitesJson(m.peakPhases) },
            { "leak_sites", sitesJson(m.leakSites) }, { "growth_sites", sitesJson(m.growthSites) } };
        return o;
    }

    PhaseMeasures phaseFrom(const json& o)
    {
        PhaseMeasures m;
        m.phase = o.value("phase", "");
        m.peakBytes = o.at("peak_bytes").get<int64_t>();
        m.peakOffsetNs = o.value("peak_offset_ns", int64_t(0));
        m.phaseAtPeak = o.value("phase_at_peak", "");
        m.leakedBytes = o.at("leaked_bytes").get<int64_t>();
        m.leakedCount = o.value("leaked_count", int64_t(0));
        m.liveAtEndBytes = o.value("live_at_end_bytes", int64_t(0));
        m.steps = o.value("steps", int64_t(0));
        if (o.contains("growth_per_step_bytes") && o["growth_per_step_bytes"].is_number())
            m.growthPerStepBytes = o["growth_per_step_bytes"].get<double>();
        m.peakSites = sitesFrom(o.value("peak_sites", json::array()));
        m.peakPhases = sitesFrom(o.value("peak_phases", json::array()));
        m.leakSites = sitesFrom(o.value("leak_sites", json::array()));
        m.growthSites = sitesFrom(o.value("growth_sites", json::array()));
        return m;
    }

} // namespace

std::string summaryToJson(const MemorySummary& s, int indent)
{
    json spaces = json::array();
    for (const auto& sp : s.spaces) {
        json phases = json::array();
        for (const auto& p : sp.phases)
            phases.push_back(phaseJson(p));
        spaces.push_back(json { { "space", sp.space }, { "kind", sp.kind }, { "phases", std::move(phases) } });
    }
    json doc { { "format", kBaselineFormat }, { "version", s.version }, { "source", s.source },
        { "program", s.program }, { "command_line", s.commandLine }, { "rank", s.rank ? json(*s.rank) : json(nullptr) },
        { "host", s.host }, { "duration_ns", s.durationNs }, { "cut_short", s.cutShort }, { "runs", s.runs },
        { "aggregate", s.aggregate }, { "spaces", std::move(spaces) } };
    return dumpJson(doc, indent) + "\n";
}

Result<MemorySummary> summaryFromJson(const std::string& text, const std::string& origin)
{
    std::string why;
    auto parsed = parseJsonInput(text, &why);
    if (!parsed)
        return makeError(ErrorCode::Corrupt, origin + " is not valid JSON (" + why + ")");
    json doc = std::move(*parsed);
    if (!doc.is_object())
        return makeError(ErrorCode::Corrupt, origin + " is not a tidemark baseline (not a JSON object)");
    if (doc.value("format", "") != kBaselineFormat)
        return makeError(ErrorCode::Corrupt,
            origin + " is not a tidemark baseline (no \"format\": \"" + kBaselineFormat + "\")",
            "make one with 'tidemark summarize RUN.tmdb -o baseline.json'");
    int version = doc.value("version", 0);
    if (version > kBaselineVersion)
        return makeError(ErrorCode::NewerSchema,
            origin + " is baseline version " + std::to_string(version) + " but this tidemark reads up to version "
                + std::to_string(kBaselineVersion),
            "upgrade tidemark, or regenerate the baseline with this version");
    try {
        MemorySummary s;
        s.version = version;
        s.source = doc.value("source", origin);
        s.program = doc.value("program", "");
        s.commandLine = doc.value("command_line", "");
        if (doc.contains("rank") && doc["rank"].is_number_integer())
            s.rank = doc["rank"].get<int64_t>();
        s.host = doc.value("host", "");
        s.durationNs = doc.value("duration_ns", int64_t(0));
        s.cutShort = doc.value("cut_short", false);
        s.runs = doc.value("runs", 1);
        s.aggregate = doc.value("aggregate", "");
        for (const auto& sp : doc.at("spaces")) {
            SpaceMeasures m;
            m.space = sp.at("space").get<std::string>();
            m.kind = sp.value("kind", "");
            for (const auto& p : sp.at("phases"))
                m.phases.push_back(phaseFrom(p));
            s.spaces.push_back(std::move(m));
        }
        return s;
    } catch (const json::exception& e) {
        return makeError(ErrorCode::Corrupt, origin + " is a damaged baseline: " + e.what());
    }
}

Result<MemorySummary> loadSummary(const std::string& path, const SummarizeOptions& options)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError(ErrorCode::Io, "cannot open " + path);
    char head[16] = {};
    in.read(head, sizeof(head));
    if (in.gcount() == 16 && std::string(head, 15) == "SQLite format 3") {
        in.close();
        auto rec = Recording::open(path);
        if (!rec)
            return rec.error();
        return summarize(*rec, options);
    }
    in.clear();
    in.seekg(0);
    std::ostringstream text;
    text << in.rdbuf();
    auto s = summaryFromJson(text.str(), path);
    if (s && s->source != path)
        s->source = path + " (summary of " + s->source + ")";
    return s;
}

// ---- aggregation -----------------------------------------------------------------------------

namespace {

    template <typename T> T pick(std::vector<T> v, Aggregate how)
    {
        std::sort(v.begin(), v.end());
        if (how == Aggregate::Max)
            return v.back();
        size_t n = v.size();
        if (n % 2 == 1)
            return v[n / 2];
        return static_cast<T>((v[n / 2 - 1] + v[n / 2]) / 2);
    }

    PhaseMeasures aggregatePhase(const std::vector<const PhaseMeasures*>& ms, Aggregate how)
    {
        std::vector<int64_t> peaks, leaked, leakedCount, live;
        std::vector<double> growth;
        for (const auto* m : ms) {
            peaks.push_back(m->peakBytes);
            leaked.push_back(m->leakedBytes);
            leakedCount.push_back(m->leakedCount);
            live.push_back(m->liveAtEndBytes);
            if (m->growthPerStepBytes)
                growth.push_back(*m->growthPerStepBytes);
        }
        int64_t peakValue = pick(peaks, how);
        // Sites and the peak's moment come from the run closest to the aggregated peak, so they add up.
        const PhaseMeasures* rep = *std::min_element(ms.begin(), ms.end(), [&](auto* a, auto* b) {
            return std::llabs(a->peakBytes - peakValue) < std::llabs(b->peakBytes - peakValue);
        });
        PhaseMeasures out = *rep;
        out.peakBytes = peakValue;
        out.leakedBytes = pick(leaked, how);
        out.leakedCount = pick(leakedCount, how);
        out.liveAtEndBytes = pick(live, how);
        out.growthPerStepBytes = growth.empty() ? std::nullopt : std::optional<double>(pick(growth, how));
        const PhaseMeasures* leakRep = *std::min_element(ms.begin(), ms.end(), [&](auto* a, auto* b) {
            return std::llabs(a->leakedBytes - out.leakedBytes) < std::llabs(b->leakedBytes - out.leakedBytes);
        });
        out.leakSites = leakRep->leakSites;
        return out;
    }

} // namespace

Result<MemorySummary> aggregateSummaries(const std::vector<MemorySummary>& runs, Aggregate how)
{
    if (runs.empty())
        return makeError(ErrorCode::Usage, "no runs to aggregate");
    if (runs.size() == 1)
        return runs.front();
    MemorySummary out = runs.front();
    out.runs = 0;
    out.aggregate = aggregateName(how);
    out.spaces.clear();
    std::vector<std::string> sources;
    for (const auto& r : runs) {
        out.runs += r.runs;
        sources.push_back(r.source);
        out.cutShort = out.cutShort || r.cutShort;
    }
    out.source.clear();
    for (const auto& s : sources)
        out.source += (out.source.empty() ? "" : ", ") + s;
    // Spaces and phases in first-seen order over all runs.
    std::vector<std::pair<std::string, std::string>> spaceOrder;
    std::map<std::string, std::vector<std::string>> phaseOrder;
    for (const auto& r : runs)
        for (const auto& sp : r.spaces) {
            if (!phaseOrder.count(sp.space))
                spaceOrder.emplace_back(sp.space, sp.kind);
            auto& order = phaseOrder[sp.space];
            for (const auto& p : sp.phases)
                if (std::find(order.begin(), order.end(), p.phase) == order.end())
                    order.push_back(p.phase);
        }
    for (const auto& [space, kind] : spaceOrder) {
        SpaceMeasures sm { space, kind, {} };
        for (const auto& phase : phaseOrder[space]) {
            std::vector<const PhaseMeasures*> ms;
            for (const auto& r : runs)
                if (const auto* sp = r.find(space))
                    if (const auto* p = sp->find(phase))
                        ms.push_back(p);
            sm.phases.push_back(aggregatePhase(ms, how));
        }
        out.spaces.push_back(std::move(sm));
    }
    return out;
}

} // namespace tidemark::analysis
