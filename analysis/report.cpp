// Assembles the report of a recording from the queries (summary, per-space peak, leaks, growth,
// churn, fragmentation, OOM forensics, coverage) and picks the headlines worth reading first.
#include "analysis/report.h"

#include <cmath>
#include <cstdio>

namespace tidemark::analysis {

std::string humanBytes(double bytes)
{
    static const char* kUnits[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = std::fabs(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        ++u;
    }
    char buf[48];
    const char* sign = bytes < 0 ? "-" : "";
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%s%.0f B", sign, v);
    else
        std::snprintf(buf, sizeof buf, "%s%.*f %s", sign, v < 10 ? 2 : (v < 100 ? 1 : 0), v, kUnits[u]);
    return buf;
}

std::string humanDuration(TimeNs ns)
{
    char buf[48];
    double v = static_cast<double>(ns);
    double a = std::fabs(v);
    if (a < 1e3)
        std::snprintf(buf, sizeof buf, "%.0f ns", v);
    else if (a < 1e6)
        std::snprintf(buf, sizeof buf, "%.2f us", v / 1e3);
    else if (a < 1e9)
        std::snprintf(buf, sizeof buf, "%.2f ms", v / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%.2f s", v / 1e9);
    return buf;
}

namespace {

void addHeadlines(Report& r)
{
    const SpaceReport* biggest = nullptr;
    for (const auto& s : r.spaces)
        if (!biggest || s.peak.bytes > biggest->peak.bytes)
            biggest = &s;
    if (r.summary.cutShort)
        r.headlines.push_back("The run was cut short" + (r.summary.cutShortDetail.empty() ? std::string() : " (" + r.summary.cutShortDetail + ")")
            + ": memory live at the end is not a leak verdict.");
    if (biggest && biggest->peak.explanation.size() > 1)
        r.headlines.push_back(biggest->peak.explanation[1]);
    else if (biggest && !biggest->peak.explanation.empty())
        r.headlines.push_back(biggest->peak.explanation[0]);
    for (const auto& s : r.spaces) {
        for (const auto& l : s.leaks.sites) {
            if (!l.isLeak)
                continue;
            std::string per = l.bytesPerStep > 0 ? humanBytes(l.bytesPerStep) + " per step, " : std::string();
            r.headlines.push_back(s.summary.space.name + " leaks at " + l.site.label + ": " + per + humanBytes(static_cast<double>(l.bytes))
                + " in " + std::to_string(l.count) + " allocations never freed.");
        }
        if (s.growth.growing) {
            std::string rate = s.growth.method == "steps" ? humanBytes(s.growth.bytesPerStep) + " per " + s.growth.stepName
                                                          : humanBytes(s.growth.bytesPerSecond) + " per second";
            std::string who = s.growth.sites.empty() ? std::string() : ", mostly from " + s.growth.sites.front().site.label;
            r.headlines.push_back(s.summary.space.name + " grows by " + rate + who + ".");
        }
        if (s.fragmentation && s.fragmentation->worst.fragmentation >= 0.3 && s.fragmentation->worst.freeBytes > 0)
            r.headlines.push_back(s.fragmentation->explanation);
    }
    for (const auto& o : r.ooms)
        r.headlines.push_back("Out of memory in " + o.spaceName + " (" + humanBytes(static_cast<double>(o.requestBytes)) + " at "
            + o.site.label + "): " + o.verdict + " — " + o.explanation + ".");
    if (!r.coverage.warnings.empty())
        r.headlines.push_back("Capture was incomplete: " + r.coverage.warnings.front()
            + (r.coverage.warnings.size() > 1 ? " (and " + std::to_string(r.coverage.warnings.size() - 1) + " more)" : "") + ".");
}

} // namespace

Result<Report> buildReport(Recording& rec, const ReportOptions& options)
{
    Report r;
    r.options = options;
    auto sum = summary(rec);
    if (!sum)
        return sum.error();
    r.summary = std::move(*sum);
    std::optional<int64_t> only;
    if (!options.space.empty()) {
        auto s = rec.findSpace(options.space);
        if (!s)
            return s.error();
        only = s->id;
    }
    Filter filter { options.phase };
    for (const auto& ss : r.summary.spaces) {
        if (only ? ss.space.id != *only : (ss.allocations == 0 && !ss.reservedPeakBytes))
            continue;
        SpaceReport sr;
        sr.summary = ss;
        int64_t id = ss.space.id;
        auto p = peak(rec, id, filter, options.top);
        if (!p)
            return p.error();
        sr.peak = std::move(*p);
        auto l = leaks(rec, id, filter, options.top);
        if (!l)
            return l.error();
        sr.leaks = std::move(*l);
        auto g = growth(rec, id, filter, options.top);
        if (!g)
            return g.error();
        sr.growth = std::move(*g);
        auto c = churn(rec, id, filter, options.top);
        if (!c)
            return c.error();
        sr.churn = std::move(*c);
        if (ss.space.isPool()) {
            auto f = fragmentation(rec, id, 200, options.top);
            if (!f)
                return f.error();
            sr.fragmentation = std::move(*f);
        }
        r.spaces.push_back(std::move(sr));
    }
    auto o = oomForensics(rec, options.top);
    if (!o)
        return o.error();
    r.ooms = std::move(*o);
    auto cov = coverage(rec);
    if (!cov)
        return cov.error();
    r.coverage = std::move(*cov);
    addHeadlines(r);
    return r;
}

} // namespace tidemark::analysis
