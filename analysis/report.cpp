// Assembles the report of a recording from the queries (summary, per-space peak, leaks with start-up
// retention apart, growth, churn, fragmentation, OOM forensics, coverage) and picks the few headlines
// worth reading first, with the stacks of the sites they name when asked.
#include "analysis/report.h"

#include <algorithm>
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

// A finding worth a headline: its rank (lower first when there are more than maxHeadlines), its
// sentence and the site it names, if any.
struct Finding {
    int rank = 0;
    std::string text;
    std::string space;
    std::optional<Site> site;
};

std::string count(int64_t n, const char* one, const char* many)
{
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string peakSentence(Recording& rec, const SpaceReport& s, std::optional<Site>& site)
{
    const auto& p = s.peak;
    if (p.explanation.empty())
        return {};
    std::string text = p.explanation.front();
    // The phase sentence, when the phases explain the peak (not the largest site or pool lines).
    for (size_t i = 1; i < p.explanation.size(); ++i) {
        const auto& e = p.explanation[i];
        if (e.rfind("The largest site", 0) != 0 && e.rfind("The pool had", 0) != 0) {
            text += " " + e;
            break;
        }
    }
    if (!p.live.bySite.empty() && p.bytes > 0) {
        const auto& top = p.live.bySite.front();
        if (top.exampleCallsiteId != 0)
            site = rec.siteOf(top.exampleCallsiteId);
        char pct[16];
        std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * static_cast<double>(top.bytes) / static_cast<double>(p.bytes));
        text += " The largest site, " + top.label + ", holds " + humanBytes(static_cast<double>(top.bytes)) + " (" + pct
            + ") in " + count(top.count, "allocation", "allocations") + ".";
    }
    return text;
}

std::string lossSentence(const std::vector<CoverageItem>& losses)
{
    // Stacks cut at the depth limit lose frames, not bytes.
    if (losses.size() == 1 && losses.front().name == "stacks_truncated") {
        const auto& l = losses.front();
        return "Capture cut " + std::to_string(*l.value) + " stacks at the depth limit (" + l.source + " " + l.name + " = "
            + std::to_string(*l.value) + "): every byte is counted, but those stacks miss their outer frames, so their "
            "site may be a library's frame (record --stack-depth N, up to 256).";
    }
    std::string text = "Capture lost data: ";
    for (size_t i = 0; i < losses.size() && i < 3; ++i) {
        const auto& l = losses[i];
        text += (i ? "; " : "") + l.source + " " + l.name + " = " + std::to_string(*l.value) + (l.detail.empty() ? "" : " (" + l.detail + ")");
    }
    if (losses.size() > 3)
        text += "; and " + std::to_string(losses.size() - 3) + " more counters";
    return text + ". Figures may be low; see the capture coverage below.";
}

std::vector<Finding> findings(Recording& rec, const Report& r)
{
    std::vector<Finding> out;
    const auto& bad = r.summary.inconsistencies;
    if (bad.total() > 0 || r.summary.invalidLifetimes > 0) {
        std::string what;
        auto add = [&](int64_t n, const char* one, const char* many) {
            if (n > 0)
                what += (what.empty() ? "" : ", ") + count(n, one, many);
        };
        add(bad.negativeSizes, "allocation with a negative size", "allocations with a negative size");
        add(r.summary.invalidLifetimes, "free before its allocation", "frees before their allocation");
        add(bad.danglingCallsites, "allocation naming a missing call site", "allocations naming a missing call site");
        add(bad.danglingSpaces, "allocation in a missing memory space", "allocations in a missing memory space");
        add(bad.danglingRanges, "allocation in a missing range", "allocations in a missing range");
        add(bad.brokenCallsites, "call site with a missing or looping parent or frame",
            "call sites with a missing or looping parent or frame");
        add(bad.backwardSpans, "range, kernel or copy that ends before it starts",
            "ranges, kernels or copies that end before they start");
        out.push_back({ -1,
            "The recording contradicts itself (" + what
                + "): it was damaged or edited, and the figures below may be wrong.",
            {}, {} });
    }
    if (r.summary.cutShort)
        out.push_back({ 0,
            "The run was cut short" + (r.summary.cutShortDetail.empty() ? std::string() : " (" + r.summary.cutShortDetail + ")")
                + ": memory live at the end is not a leak verdict.",
            {}, {} });
    if (!r.losses.empty())
        out.push_back({ 1, lossSentence(r.losses), {}, {} });
    for (const auto& o : r.ooms)
        out.push_back({ 2,
            "Out of memory in " + o.spaceName + " (" + humanBytes(static_cast<double>(o.requestBytes)) + " at " + o.site.label
                + "): " + o.verdict + " — " + o.explanation + ".",
            o.spaceName, o.site });
    const SpaceReport* biggest = nullptr;
    for (const auto& s : r.spaces)
        if (!biggest || s.peak.bytes > biggest->peak.bytes)
            biggest = &s;
    if (biggest) {
        Finding f { 3, {}, biggest->summary.space.name, {} };
        f.text = peakSentence(rec, *biggest, f.site);
        if (!f.text.empty())
            out.push_back(std::move(f));
    }
    for (const auto& s : r.spaces) {
        const std::string& name = s.summary.space.name;
        // One headline per leaking space: its largest leak, and how much the others add.
        std::vector<const LeakSite*> leaking;
        for (const auto& l : s.leaks.sites)
            if (l.isLeak)
                leaking.push_back(&l);
        if (!leaking.empty()) {
            const LeakSite& l = *leaking.front();
            std::string per = l.bytesPerStep > 0 ? humanBytes(l.bytesPerStep) + " per step, " : std::string();
            std::string text = name + " leaks at " + l.site.label + ": " + per + humanBytes(static_cast<double>(l.bytes)) + " in "
                + count(l.count, "allocation", "allocations") + " never freed";
            if (s.leaks.leakedBytes > l.bytes)
                text += "; " + humanBytes(static_cast<double>(s.leaks.leakedBytes - l.bytes)) + " more leak at other sites";
            out.push_back({ 4, text + ".", name, l.site });
        }
        if (s.growth.growing) {
            std::string rate = s.growth.method == "steps" ? humanBytes(s.growth.bytesPerStep) + " per " + s.growth.stepName
                                                          : humanBytes(s.growth.bytesPerSecond) + " per second";
            Finding f { 5, name + " grows by " + rate, name, {} };
            if (!s.growth.sites.empty()) {
                f.text += ", mostly from " + s.growth.sites.front().site.label;
                f.site = s.growth.sites.front().site;
            }
            f.text += ".";
            out.push_back(std::move(f));
        }
        if (s.fragmentation && s.fragmentation->worst.fragmentation >= 0.3 && s.fragmentation->worst.freeBytes > 0) {
            Finding f { 6, s.fragmentation->explanation, name, {} };
            if (!s.fragmentation->pinningSites.empty() && s.fragmentation->pinningSites.front().exampleCallsiteId != 0)
                f.site = rec.siteOf(s.fragmentation->pinningSites.front().exampleCallsiteId);
            out.push_back(std::move(f));
        }
    }
    return out;
}

// Keeps the maxHeadlines findings of lowest rank, in the order they were found, and the stacks of
// their sites when asked.
void addHeadlines(Recording& rec, Report& r)
{
    std::vector<Finding> all = findings(rec, r);
    std::vector<size_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return all[a].rank < all[b].rank; });
    size_t keep = r.options.maxHeadlines > 0 ? std::min(order.size(), static_cast<size_t>(r.options.maxHeadlines)) : order.size();
    r.moreFindings = static_cast<int64_t>(order.size() - keep);
    order.resize(keep);
    std::sort(order.begin(), order.end());
    for (size_t i : order) {
        Finding& f = all[i];
        if (r.options.stacks && f.site && f.site->callsiteId != 0) {
            HeadlineStack hs;
            hs.headline = r.headlines.size();
            hs.space = f.space;
            hs.site = *f.site;
            if (auto frames = siteStack(rec, f.site->callsiteId))
                hs.frames = std::move(*frames);
            r.headlineStacks.push_back(std::move(hs));
        }
        r.headlines.push_back(std::move(f.text));
    }
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
        auto l = leaks(rec, id, filter, 0);
        if (!l)
            return l.error();
        sr.leaks = std::move(*l);
        if (auto st = separateStartupRetention(rec, filter, sr.leaks, sr.startup, options.top); !st)
            return st.error();
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
    r.losses = captureLosses(r.coverage);
    addHeadlines(rec, r);
    return r;
}

} // namespace tidemark::analysis
