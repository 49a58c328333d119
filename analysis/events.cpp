// Shared machinery of the queries: the time-ordered event stream of a space, breakdown tables,
// step detection from NVTX range names, and the pool-backing test used by leak analysis.
#include "analysis/internal.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>

namespace tidemark::analysis {


void finishBreakdown(std::vector<BreakdownRow>& rows, int64_t total, int top)
{
    std::sort(rows.begin(), rows.end(), [](const BreakdownRow& a, const BreakdownRow& b) {
        if (a.bytes != b.bytes)
            return a.bytes > b.bytes;
        if (a.count != b.count)
            return a.count > b.count;
        return a.key < b.key;
    });
    for (auto& r : rows)
        r.share = total > 0 ? static_cast<double>(r.bytes) / static_cast<double>(total) : 0.0;
    if (top > 0 && rows.size() > static_cast<size_t>(top))
        rows.resize(top);
}

void BreakdownBuilder::add(const std::string& key, const std::string& label, int64_t bytes, int64_t callsiteId)
{
    auto [it, inserted] = m_rows.try_emplace(key);
    auto& row = it->second;
    if (inserted) {
        row.key = key;
        row.label = label;
        row.exampleCallsiteId = callsiteId;
    }
    row.bytes += bytes;
    row.count += 1;
}

std::vector<BreakdownRow> BreakdownBuilder::take(int64_t total, int top)
{
    std::vector<BreakdownRow> rows;
    rows.reserve(m_rows.size());
    for (auto& [k, v] : m_rows)
        rows.push_back(std::move(v));
    m_rows.clear();
    finishBreakdown(rows, total, top);
    return rows;
}

namespace {
// "step 12" → (step, 12); anything else → false.
bool parseCounterName(const std::string& name, std::string& word, int64_t& number)
{
    static const char* kWords[] = { "step", "iteration", "iter", "epoch" };
    std::string lower;
    for (char ch : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* w : kWords) {
        std::string_view wv(w);
        if (lower.size() <= wv.size() || lower.compare(0, wv.size(), wv) != 0)
            continue;
        size_t i = wv.size();
        while (i < lower.size() && (lower[i] == ' ' || lower[i] == '_' || lower[i] == '#' || lower[i] == ':' || lower[i] == '-'))
            ++i;
        if (i == lower.size())
            continue;
        size_t j = i;
        while (j < lower.size() && std::isdigit(static_cast<unsigned char>(lower[j])))
            ++j;
        if (j != lower.size() || j == i)
            continue;
        word = (wv == "iter") ? "iteration" : std::string(wv);
        number = std::stoll(lower.substr(i, 18));
        return true;
    }
    return false;
}
} // namespace

std::vector<StepRange> findSteps(Recording& rec, std::string* stepName)
{
    // Touch phaseOf to make sure ranges are loaded.
    (void)rec.phaseOf(std::numeric_limits<int64_t>::max());
    std::map<std::string, std::vector<StepRange>> byWord;
    for (const auto& [id, r] : rec.caches().ranges) {
        std::string word;
        int64_t n = 0;
        if (!parseCounterName(rec.stringAt(r.nameId), word, n))
            continue;
        byWord[word].push_back(StepRange { n, r.startNs, r.endNs < 0 ? rec.endNs() : r.endNs });
    }
    // Prefer the finer unit (more instances): steps inside epochs.
    const std::vector<StepRange>* best = nullptr;
    std::string bestWord;
    for (auto& [w, v] : byWord) {
        if (!best || v.size() > best->size()) {
            best = &v;
            bestWord = w;
        }
    }
    if (!best)
        return {};
    auto steps = *best;
    std::sort(steps.begin(), steps.end(), [](const StepRange& a, const StepRange& b) { return a.startNs < b.startNs; });
    if (stepName)
        *stepName = bestWord;
    return steps;
}

bool isPoolBacking(Recording& rec, int64_t spaceId, int64_t address, int64_t size)
{
    auto& cache = rec.caches().poolBacking;
    auto it = cache.find(spaceId);
    if (it == cache.end()) {
        std::vector<std::pair<int64_t, int64_t>> ranges;
        for (const auto& s : rec.spaces()) {
            if (!s.isPool() || !s.parentSpaceId || *s.parentSpaceId != spaceId)
                continue;
            if (auto heaps = loadHeaps(rec, s.id))
                for (const auto& h : *heaps)
                    ranges.emplace_back(h.address, h.address + h.sizeBytes);
        }
        std::sort(ranges.begin(), ranges.end());
        std::vector<std::pair<int64_t, int64_t>> merged;
        for (const auto& r : ranges) {
            if (!merged.empty() && r.first <= merged.back().second)
                merged.back().second = std::max(merged.back().second, r.second);
            else
                merged.push_back(r);
        }
        it = cache.emplace(spaceId, std::move(merged)).first;
    }
    // Overlap, not containment: expandable segments map pieces anywhere inside a heap.
    const auto& ranges = it->second;
    int64_t end = address + std::max<int64_t>(size, 1);
    auto next = std::lower_bound(ranges.begin(), ranges.end(), std::make_pair(end, std::numeric_limits<int64_t>::min()));
    return next != ranges.begin() && std::prev(next)->second > address;
}

int64_t percentileOf(std::vector<int64_t>& values, double q)
{
    if (values.empty())
        return 0;
    size_t k = std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())));
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
}

} // namespace tidemark::analysis
