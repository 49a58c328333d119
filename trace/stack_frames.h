// Rebuilding a Stack record's full frame list from the records before it (wire.h: a stack may take
// its outer frames from an earlier one). For readers that keep every stack's frames in a map, such
// as the tests' spool digests; the collector resolves them against its callsite trie instead.
#pragma once

#include "trace/wire.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

namespace tidemark::trace {

// The frames of r (innermost first) given `known`, the full frames of the stacks read so far.
// False when r names a parent not in `known`, or one with fewer frames than it shares; out then
// holds r's own frames only.
inline bool stackFrames(const wire::StackRecord& r, const std::map<uint32_t, std::vector<uint64_t>>& known,
    std::vector<uint64_t>& out)
{
    unsigned own = r.shared <= r.depth ? r.depth - r.shared : 0;
    out.resize(own);
    if (own)
        std::memcpy(out.data(), &r + 1, own * sizeof(uint64_t));
    if (r.shared == 0)
        return true;
    auto parent = known.find(r.parent);
    if (parent == known.end() || parent->second.size() < r.shared || r.shared > r.depth)
        return false;
    out.insert(out.end(), parent->second.end() - r.shared, parent->second.end());
    return true;
}

} // namespace tidemark::trace
