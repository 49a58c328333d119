// The CI gate's measuring: each rule of a budget evaluated on a memory summary (and its baseline),
// naming the site and phase behind every failure. Budgets are read in budget.cpp, verdicts rendered in
// check_render.cpp.
#include "analysis/check.h"

#include "analysis/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tidemark::analysis {

const char* verdictName(Verdict v)
{
    return v == Verdict::Pass ? "pass" : v == Verdict::Fail ? "fail" : "skip";
}

namespace {

    // The list entry that grew most against the baseline list (by key), or the largest without one.
    const SiteAmount* culprit(const std::vector<SiteAmount>& now, const std::vector<SiteAmount>* before, int64_t& delta)
    {
        const SiteAmount* best = nullptr;
        delta = 0;
        for (const auto& s : now) {
            int64_t d = s.bytes;
            if (before) {
                auto it
                    = std::find_if(before->begin(), before->end(), [&](const SiteAmount& b) { return b.key == s.key; });
                if (it != before->end())
                    d -= it->bytes;
            }
            if (!best || d > delta) {
                best = &s;
                delta = d;
            }
        }
        return best;
    }

    std::string pct(double f)
    {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%+.1f%%", f * 100.0);
        return buf;
    }

    std::string phaseLabel(const std::string& p)
    {
        return p.empty() ? "(no phase)" : p;
    }

    void measureRule(RuleResult& r, const PhaseMeasures& m, const PhaseMeasures* base, const Tolerance& tol)
    {
        auto slack = [&](double reference) {
            return static_cast<double>(tol.absoluteBytes) + tol.relative * std::fabs(reference);
        };
        int64_t delta = 0;
        const SiteAmount* site = nullptr;
        const SiteAmount* phase = nullptr;
        switch (r.rule.kind) {
        case RuleKind::MaxPeak:
            r.measured = static_cast<double>(m.peakBytes);
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.peakSites, nullptr, delta);
            phase = culprit(m.peakPhases, nullptr, delta);
            break;
        case RuleKind::MaxPeakGrowth: {
            double b = static_cast<double>(base->peakBytes);
            r.baselineValue = b;
            double allowedBytes = b * (1.0 + r.limit) + slack(b * (1.0 + r.limit));
            r.measured = b > 0 ? static_cast<double>(m.peakBytes) / b - 1.0 : (m.peakBytes > 0 ? 1e9 : 0.0);
            r.allowed = b > 0 ? allowedBytes / b - 1.0 : 1e9;
            if (static_cast<double>(m.peakBytes) > allowedBytes)
                r.allowed = std::min(r.allowed, r.measured - 1e-12); // the byte comparison decides
            site = culprit(m.peakSites, &base->peakSites, delta);
            phase = culprit(m.peakPhases, &base->peakPhases, delta);
            r.measuredText = (b > 0 ? pct(r.measured) : std::string("new")) + " ("
                + humanBytes(static_cast<double>(m.peakBytes)) + " vs " + humanBytes(b) + ")";
            r.limitText = pct(r.limit);
            break;
        }
        case RuleKind::MaxLeak:
            r.measured = static_cast<double>(m.leakedBytes);
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.leakSites, nullptr, delta);
            break;
        case RuleKind::MaxLeakGrowth:
            r.baselineValue = static_cast<double>(base->leakedBytes);
            r.measured = static_cast<double>(m.leakedBytes - base->leakedBytes);
            r.allowed = r.limit + slack(static_cast<double>(base->leakedBytes));
            site = culprit(m.leakSites, &base->leakSites, delta);
            r.measuredText = (r.measured >= 0 ? "+" : "-") + humanBytes(std::fabs(r.measured)) + " ("
                + humanBytes(static_cast<double>(m.leakedBytes)) + " vs "
                + humanBytes(static_cast<double>(base->leakedBytes)) + ")";
            break;
        case RuleKind::MaxGrowthPerStep:
            if (!m.growthPerStepBytes) {
                r.verdict = Verdict::Skip;
                r.note = "no NVTX step ranges (step/iteration/epoch N): growth per step cannot be measured";
                return;
            }
            r.measured = *m.growthPerStepBytes;
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.growthSites, nullptr, delta);
            break;
        }
        if (r.measuredText.empty())
            r.measuredText = (r.rule.kind == RuleKind::MaxGrowthPerStep && r.measured < 0 ? "-" : "")
                + humanBytes(std::fabs(r.measured)) + (r.rule.kind == RuleKind::MaxGrowthPerStep ? "/step" : "");
        if (r.limitText.empty())
            r.limitText = humanBytes(r.limit) + (r.rule.kind == RuleKind::MaxGrowthPerStep ? "/step" : "");
        r.verdict = r.measured > r.allowed ? Verdict::Fail : Verdict::Pass;
        if (site) {
            r.culpritSite = site->label;
            r.culpritBytes = site->bytes;
            if (base && (r.rule.kind == RuleKind::MaxPeakGrowth || r.rule.kind == RuleKind::MaxLeakGrowth)) {
                int64_t siteDelta = 0;
                const auto& before = r.rule.kind == RuleKind::MaxPeakGrowth ? base->peakSites : base->leakSites;
                culprit(std::vector<SiteAmount> { *site }, &before, siteDelta);
                r.culpritBytes = siteDelta;
                r.culpritGrowth = true;
            }
            r.culpritPhase = phaseLabel(site->phase.empty() && phase ? phase->key : site->phase);
        } else if (phase) {
            r.culpritPhase = phaseLabel(phase->key);
        }
        if (r.rule.kind == RuleKind::MaxPeak || r.rule.kind == RuleKind::MaxPeakGrowth)
            if (!m.phaseAtPeak.empty())
                r.note = "peak at " + humanDuration(m.peakOffsetNs) + " in " + m.phaseAtPeak;
    }

} // namespace

void evaluateRules(const MemorySummary& run, const MemorySummary* baseline, const CheckConfig& config,
    const std::string& subject, CheckResult& result)
{
    for (const auto& rule : config.rules) {
        bool matched = false;
        for (const auto& sp : run.spaces) {
            if (!rule.space.empty() && sp.space != rule.space && sp.kind != rule.space)
                continue;
            matched = true;
            RuleResult r;
            r.rule = rule;
            r.subject = subject;
            r.space = sp.space;
            r.phase = rule.phase;
            r.limit = rule.limit;
            const PhaseMeasures* m = sp.find(rule.phase);
            const SpaceMeasures* bsp = baseline ? baseline->find(sp.space) : nullptr;
            const PhaseMeasures* b = bsp ? bsp->find(rule.phase) : nullptr;
            bool leakRule = rule.kind == RuleKind::MaxLeak || rule.kind == RuleKind::MaxLeakGrowth;
            if (!m)
                r.note = "phase '" + rule.phase + "' was not measured in this run";
            else if (leakRule && run.cutShort)
                r.note = "the run did not exit cleanly, so memory live at its end is not a leak verdict";
            else if (ruleNeedsBaseline(rule.kind) && !baseline)
                r.note = std::string(ruleName(rule.kind)) + " compares against a baseline; none was given";
            else if (ruleNeedsBaseline(rule.kind) && !bsp)
                r.note = "the baseline has no space " + sp.space;
            else if (ruleNeedsBaseline(rule.kind) && !b)
                r.note = "the baseline has no entry for phase '" + rule.phase + "' (summarize it with --phase)";
            else
                measureRule(r, *m, b, config.tolerance);
            if (!r.note.empty() && r.verdict == Verdict::Skip && r.measuredText.empty())
                r.measuredText = "-";
            result.results.push_back(std::move(r));
        }
        if (!matched) {
            RuleResult r;
            r.rule = rule;
            r.subject = subject;
            r.space = rule.space;
            r.phase = rule.phase;
            r.limit = rule.limit;
            r.measuredText = "-";
            r.note = "no space '" + rule.space + "' with allocations in this run";
            result.results.push_back(std::move(r));
        }
    }
    result.passed = result.failed = result.skipped = 0;
    for (const auto& r : result.results)
        (r.verdict == Verdict::Pass ? result.passed : r.verdict == Verdict::Fail ? result.failed : result.skipped) += 1;
}

} // namespace tidemark::analysis
