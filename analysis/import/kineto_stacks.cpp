// Stacks by time containment: per thread, spans sorted by start (longer first on ties) and memory events
// sorted by time are swept together with a stack of open spans, so each event gets the chain of spans that
// contain it. Complete events on one thread nest in Kineto traces; a span that overlaps without nesting
// is treated as closed when a later span starts after its end.
#include "analysis/import/kineto_stacks.h"

#include <algorithm>

namespace tidemark::import {

SymbolicFrame kinetoFrame(const std::string& name)
{
    // "transformers/models/qwen2/modeling_qwen2.py(523): forward"
    size_t open = name.find('(');
    size_t close = name.find("): ", open == std::string::npos ? 0 : open);
    if (open != std::string::npos && close != std::string::npos && close > open + 1
        && name.find_first_not_of("0123456789", open + 1) == close) {
        return { name.substr(close + 3), name.substr(0, open), std::stoll(name.substr(open + 1, close - open - 1)) };
    }
    return { name, {}, 0 };
}

void attachStacks(std::map<int64_t, std::vector<StackSpan>>& spansByTid, std::vector<KinetoMemoryEvent>& events,
    RecordingWriter& out)
{
    std::map<int64_t, std::vector<KinetoMemoryEvent*>> eventsByTid;
    for (KinetoMemoryEvent& e : events)
        if (spansByTid.count(e.tid))
            eventsByTid[e.tid].push_back(&e);
    for (auto& [tid, evs] : eventsByTid) {
        std::vector<StackSpan>& spans = spansByTid[tid];
        std::stable_sort(spans.begin(), spans.end(), [](const StackSpan& a, const StackSpan& b) {
            return a.startTsNs != b.startTsNs ? a.startTsNs < b.startTsNs : a.endTsNs > b.endTsNs;
        });
        std::stable_sort(evs.begin(), evs.end(), [](auto* a, auto* b) { return a->tsNs < b->tsNs; });
        std::vector<const StackSpan*> open;
        size_t next = 0;
        for (KinetoMemoryEvent* e : evs) {
            while (next < spans.size() && spans[next].startTsNs <= e->tsNs) {
                while (!open.empty() && open.back()->endTsNs < spans[next].startTsNs)
                    open.pop_back();
                open.push_back(&spans[next++]);
            }
            while (!open.empty() && open.back()->endTsNs < e->tsNs)
                open.pop_back();
            // Spans still on the stack below an ended one may have ended too; keep only those containing ts.
            std::vector<SymbolicFrame> frames;
            for (auto it = open.rbegin(); it != open.rend(); ++it)
                if ((*it)->endTsNs >= e->tsNs)
                    frames.push_back((*it)->frame);
            e->callsite = out.callsite(frames);
        }
    }
}

} // namespace tidemark::import
