// Text and Markdown renderings of the report: the same sections, as aligned columns with human sizes
// for a terminal, or as headings and pipe tables for a pull request. Coverage only when data was lost
// or asked for; the stacks of the headline sites with --stacks.
#include "analysis/report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tidemark::analysis {

namespace {

std::string pct(double share)
{
    char b[16];
    std::snprintf(b, sizeof b, "%.1f%%", share * 100.0);
    return b;
}

std::string num(int64_t v)
{
    std::string s = std::to_string(v < 0 ? -v : v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
        s.insert(static_cast<size_t>(i), ",");
    if (v < 0)
        s.insert(s.begin(), '-');
    return s;
}

std::string fixed(double v, int digits)
{
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

class Writer {
public:
    explicit Writer(bool markdown)
        : m_md(markdown)
    {
    }
    void heading(int level, const std::string& text)
    {
        if (m_md)
            m_out << "\n" << std::string(static_cast<size_t>(level + 1), '#') << " " << text << "\n\n";
        else if (level == 1)
            m_out << "\n== " << text << " ==\n";
        else
            m_out << "\n" << text << "\n";
    }
    void title(const std::string& text) { m_out << (m_md ? "# " : "") << text << (m_md ? "\n\n" : "\n"); }
    void line(const std::string& text) { m_out << (m_md ? "" : "  ") << text << (m_md ? "  \n" : "\n"); }
    void bullet(const std::string& text) { m_out << (m_md ? "- " : "  * ") << text << "\n"; }
    void blank() { m_out << "\n"; }
    // First column left-aligned text, columns flagged numeric right-aligned.
    void table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& numeric)
    {
        if (rows.empty()) {
            line("(none)");
            return;
        }
        if (m_md) {
            std::string sofar = m_out.str();
            bool blank = sofar.size() >= 2 && sofar.compare(sofar.size() - 2, 2, "\n\n") == 0;
            m_out << (blank ? "|" : "\n|");
            for (const auto& h : head)
                m_out << " " << h << " |";
            m_out << "\n|";
            for (size_t i = 0; i < head.size(); ++i)
                m_out << (numeric[i] ? " ---: |" : " --- |");
            m_out << "\n";
            for (const auto& r : rows) {
                m_out << "|";
                for (const auto& c : r) {
                    std::string e = c;
                    for (size_t p = 0; (p = e.find('|', p)) != std::string::npos; p += 2)
                        e.replace(p, 1, "\\|");
                    m_out << " " << e << " |";
                }
                m_out << "\n";
            }
            return;
        }
        std::vector<size_t> w(head.size());
        for (size_t i = 0; i < head.size(); ++i)
            w[i] = head[i].size();
        for (const auto& r : rows)
            for (size_t i = 0; i < r.size() && i < w.size(); ++i)
                w[i] = std::max(w[i], r[i].size());
        auto emit = [&](const std::vector<std::string>& r) {
            std::string s = "    ";
            for (size_t i = 0; i < r.size(); ++i) {
                bool last = i + 1 == r.size();
                std::string pad(w[i] - std::min(w[i], r[i].size()), ' ');
                s += numeric[i] ? pad + r[i] : (last ? r[i] : r[i] + pad);
                if (!last)
                    s += "  ";
            }
            m_out << s << "\n";
        };
        emit(head);
        for (const auto& r : rows)
            emit(r);
    }
    std::string str() const { return m_out.str(); }

private:
    bool m_md;
    std::ostringstream m_out;
};

// Rows per table: the report's own cut (top) with --full, else a screenful's (textRows).
size_t rowsShown(const ReportOptions& o) { return static_cast<size_t>(std::max(1, o.full ? o.top : o.textRows)); }

template <typename T>
std::vector<T> firstRows(const std::vector<T>& rows, size_t n)
{
    return std::vector<T>(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(std::min(n, rows.size())));
}

void breakdown(Writer& w, const std::string& title, const std::vector<BreakdownRow>& rows, size_t n)
{
    if (rows.empty())
        return;
    w.heading(2, title);
    std::vector<std::vector<std::string>> t;
    for (const auto& r : firstRows(rows, n))
        t.push_back({ humanBytes(static_cast<double>(r.bytes)), pct(r.share), num(r.count), r.label });
    w.table({ "bytes", "share", "count", "what" }, t, { true, true, true, false });
}

// A finding's sentence: under its own heading with --full, else one "Leaks: ..." line.
void finding(Writer& w, bool full, const std::string& title, const std::string& label, const std::string& text)
{
    if (full) {
        w.heading(2, title);
        w.line(text);
    } else {
        w.line(label + ": " + text);
    }
}

void spaceSection(Writer& w, const SpaceReport& s, const ReportOptions& o)
{
    const bool full = o.full;
    const size_t n = rowsShown(o);
    const auto& sp = s.summary.space;
    w.heading(1, sp.name + " (" + sp.kind + ")");
    for (const auto& e : s.peak.explanation)
        w.line(e);
    breakdown(w, "Top call sites at the peak", s.peak.live.bySite, n);
    breakdown(w, "By phase at the peak", s.peak.live.byPhase, n);
    if (full && s.peak.live.byApi.size() > 1)
        breakdown(w, "By API at the peak", s.peak.live.byApi, n);
    if (full)
        breakdown(w, "By name at the peak", s.peak.live.byName, n);
    if (!full)
        w.blank();

    const auto& l = s.leaks;
    const auto& su = s.startup;
    finding(w, full, "Leaks (live at the end)", "Leaks",
        "leaked " + humanBytes(static_cast<double>(l.leakedBytes)) + " in " + num(l.leakedCount) + " allocations; retained by start-up "
            + humanBytes(static_cast<double>(su.bytes)) + " in " + num(su.count) + " allocations; retained once "
            + humanBytes(static_cast<double>(l.retainedBytes)) + "; live at end " + humanBytes(static_cast<double>(l.liveAtEndBytes))
            + (l.poolReservedBytes ? ", of which " + humanBytes(static_cast<double>(l.poolReservedBytes)) + " is pool-cached (not a leak)" : "")
            + (l.cutShort ? " (the capture did not end at a process exit: no leak verdict, see growth)" : ""));
    std::vector<std::vector<std::string>> t;
    for (const auto& x : firstRows(l.sites, n))
        t.push_back({ x.isLeak ? "leak" : "once", humanBytes(static_cast<double>(x.bytes)), num(x.count),
            x.bytesPerStep > 0 ? humanBytes(x.bytesPerStep) : "-", x.phase.empty() ? "-" : x.phase, x.site.label });
    if (full)
        for (const auto& x : firstRows(su.sites, n))
            t.push_back({ "start-up", humanBytes(static_cast<double>(x.bytes)), num(x.count), "-", x.phase.empty() ? "-" : x.phase,
                x.site.label });
    if (full || !t.empty())
        w.table({ "kind", "bytes", "count", "per step", "phase", "site" }, t, { false, true, true, true, false, false });

    const auto& g = s.growth;
    if (g.method == "steps")
        finding(w, full, "Growth", "Growth",
            std::string(g.growing ? "GROWING: " : "stable: ") + humanBytes(g.bytesPerStep) + " per " + g.stepName + " over "
                + num(static_cast<int64_t>(g.points.size())) + " " + g.stepName + " boundaries (r2 " + fixed(g.r2, 2) + ")");
    else
        finding(w, full, "Growth", "Growth",
            std::string(g.growing ? "GROWING: " : "stable: ") + humanBytes(g.bytesPerSecond) + " per second (regression, r2 "
                + fixed(g.r2, 2) + "; no step ranges)");
    t.clear();
    for (const auto& x : firstRows(g.sites, n))
        t.push_back({ humanBytes(static_cast<double>(x.bytes)), x.bytesPerStep > 0 ? humanBytes(x.bytesPerStep) : "-", num(x.count),
            x.phase.empty() ? "-" : x.phase, x.site.label });
    if (!t.empty() && (full || g.growing))
        w.table({ "bytes", "per step", "count", "phase", "site" }, t, { true, true, true, false, false });

    const auto& c = s.churn;
    finding(w, full, "Churn and temporaries", "Churn",
        num(c.temporaries) + " of " + num(c.allocations) + " allocations were temporary ("
            + humanBytes(static_cast<double>(c.temporaryBytes)) + "), " + fixed(c.allocationsPerSecond, 0) + " allocations/s");
    t.clear();
    for (const auto& x : firstRows(c.sites, full ? n : std::min<size_t>(n, 3)))
        t.push_back({ num(x.temporaries), num(x.allocations), fixed(x.allocationsPerSecond, 0),
            x.medianLifetimeTimed ? humanDuration(x.medianLifetimeNs) : "untimed", x.site.label });
    if (full || !t.empty())
        w.table({ "temporary", "allocs", "per s", "median life", "site" }, t, { true, true, true, true, false });
    if (std::any_of(t.begin(), t.end(), [](const auto& row) { return row[3] == "untimed"; }))
        w.line("untimed: most of the site's blocks were freed within " + std::to_string(c.untimedUpToNs)
            + " heap events of their allocation, between two clock reads of the capture, so their lifetimes were "
              "not measured (short, up to one drain period)");

    if (s.fragmentation) {
        const auto& f = *s.fragmentation;
        finding(w, full, "Fragmentation", "Fragmentation", f.explanation);
        w.line("mean fragmentation " + fixed(f.meanFragmentation, 2) + " over " + num(static_cast<int64_t>(f.points.size()))
            + " samples, " + num(f.heaps) + " heaps, median request " + humanBytes(static_cast<double>(f.medianRequestBytes)));
        if (full)
            breakdown(w, "Blocks pinning free extents at the worst moment", f.pinningSites, n);
    }
}

// "file.cc:12" when known, the module, "(inlined)".
std::string frameWhere(const Location& loc)
{
    std::string out = loc.module.empty() ? "(no module)" : loc.module;
    if (!loc.file.empty()) {
        auto slash = loc.file.find_last_of('/');
        out += "  " + (slash == std::string::npos ? loc.file : loc.file.substr(slash + 1));
        if (loc.line > 0)
            out += ":" + std::to_string(loc.line);
    }
    if (loc.inlined)
        out += "  (inlined)";
    return out;
}

// --stacks: every headline site's stack, innermost first; frames walked past are marked with why.
void stacksSection(Writer& w, const Report& r)
{
    if (r.headlineStacks.empty())
        return;
    w.heading(1, "Stacks of the headline sites");
    w.line("innermost first; 'skip' frames were walked past as plumbing or library code, '>' is the site;");
    w.line("one stack that reaches each site (a site merges every stack ending at the same code).");
    for (const auto& hs : r.headlineStacks) {
        w.heading(2, "headline " + std::to_string(hs.headline + 1) + (hs.space.empty() ? "" : " (" + hs.space + ")") + ": "
            + hs.site.label);
        std::vector<std::vector<std::string>> t;
        for (size_t i = 0; i < hs.frames.size(); ++i) {
            const auto& f = hs.frames[i];
            std::string mark = f.isSite ? "> site" : (f.skipped ? std::string("skip ") + frameRoleName(f.role) : frameRoleName(f.role));
            t.push_back({ "#" + std::to_string(i), mark, frameWhere(f.location), f.location.function });
        }
        w.table({ "frame", "role", "where", "function" }, t, { false, false, false, false });
    }
}

std::string render(const Report& r, bool md)
{
    Writer w(md);
    const auto& s = r.summary;
    w.title("tidemark report: " + s.path);
    w.line("program    " + (s.commandLine.empty() ? s.program : s.commandLine));
    std::string status = s.exitStatus ? "exit status " + std::to_string(*s.exitStatus) : "exit status unknown";
    w.line("duration   " + humanDuration(s.durationNs) + ", " + status + (s.cutShort ? ", CUT SHORT" : "")
        + (s.cutShortDetail.empty() ? "" : " (" + s.cutShortDetail + ")"));
    w.line("counts     " + num(s.allocations) + " allocations, " + num(s.frees) + " frees, " + num(s.failedAllocations)
        + " failed, " + num(s.processes) + " processes, " + num(s.threads) + " threads, " + num(s.ranges) + " ranges, "
        + num(s.kernels) + " kernels");
    if (!r.options.phase.empty())
        w.line("phase      only allocations in phase '" + r.options.phase + "'");
    if (!r.headlines.empty()) {
        w.heading(1, "Headlines");
        for (const auto& h : r.headlines)
            w.bullet(h);
        if (r.moreFindings > 0)
            w.line("(" + num(r.moreFindings) + " more " + (r.moreFindings == 1 ? "finding" : "findings")
                + " in the sections below; --full lists every one here)");
    }
    stacksSection(w, r);
    w.heading(1, "Memory spaces");
    std::vector<std::vector<std::string>> t;
    for (const auto& sp : r.spaces) {
        const auto& ss = sp.summary;
        t.push_back({ ss.space.name, ss.space.kind, num(ss.allocations), humanBytes(static_cast<double>(ss.peakBytes)),
            humanDuration(ss.peakNs - s.startNs), humanBytes(static_cast<double>(ss.liveAtEndBytes)),
            ss.reservedPeakBytes ? humanBytes(static_cast<double>(*ss.reservedPeakBytes)) : "-" });
    }
    w.table({ "space", "kind", "allocations", "peak", "at", "live at end", "reserved peak" }, t,
        { false, false, true, true, true, true, true });
    for (const auto& sp : r.spaces)
        spaceSection(w, sp, r.options);
    if (r.ooms.empty() && !r.options.full) {
        w.blank();
        w.line("Failed allocations: none");
    } else {
        w.heading(1, "Failed allocations");
        t.clear();
        for (const auto& o : r.ooms)
            t.push_back({ humanDuration(o.ts - s.startNs), o.spaceName, humanBytes(static_cast<double>(o.requestBytes)),
                o.verdict, o.site.label });
        w.table({ "at", "space", "request", "verdict", "site" }, t, { true, false, true, false, false });
        for (const auto& o : r.ooms)
            w.bullet(o.spaceName + " at " + humanDuration(o.ts - s.startNs) + ": " + o.explanation);
    }
    if (!r.showCoverage()) {
        w.blank();
        w.line("Capture: nothing was lost (no records dropped, no stacks cut); --coverage shows what was captured.");
        if (!r.options.full)
            w.line("--full shows every table and row; --top N sets the rows per table; --stacks the headline sites' stacks.");
        return w.str();
    }
    w.heading(1, "Capture coverage");
    if (!r.losses.empty()) {
        int64_t lost = 0;
        for (const auto& l : r.losses)
            lost += *l.value;
        w.line(num(static_cast<int64_t>(r.losses.size())) + (r.losses.size() == 1 ? " counter reports" : " counters report")
            + " lost data (" + num(lost) + " in total):");
        for (const auto& l : r.losses)
            w.bullet(l.source + " " + l.name + " = " + num(*l.value) + (l.detail.empty() ? "" : " (" + l.detail + ")"));
    }
    // The counters that lost data say what was missed; every counter only when asked for.
    if (!r.options.coverage && !r.options.full) {
        w.line("--coverage shows every capture counter; --full shows every table and row.");
        return w.str();
    }
    t.clear();
    for (const auto& it : r.coverage.items)
        t.push_back({ it.source, it.name, it.value ? num(*it.value) : "-", it.detail });
    w.table({ "source", "item", "value", "detail" }, t, { false, false, true, false });
    for (const auto& warn : r.coverage.warnings)
        w.bullet("warning: " + warn);
    return w.str();
}

} // namespace

std::string renderText(const Report& report) { return render(report, false); }
std::string renderMarkdown(const Report& report) { return render(report, true); }

} // namespace tidemark::analysis
