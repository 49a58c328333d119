// Recording-wide interning done while ingesting: strings, memory spaces, module maps per process,
// and call stacks as frames plus a callsite trie (root = outermost frame, allocations at the leaf).
#pragma once

#include "collector/row_writer.h"
#include "trace/enums.h"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tidemark::collector {

// Lower-case hex of bytes: how modules' build ids are stored, and compared at symbolization.
std::string hexBytes(const uint8_t* bytes, size_t n);

struct PairHash {
    size_t operator()(const std::pair<int64_t, uint64_t>& p) const
    {
        uint64_t h = static_cast<uint64_t>(p.first) * 0x9E3779B97F4A7C15ull;
        return static_cast<size_t>(h ^ (p.second + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2)));
    }
};

class StringTable {
public:
    // Picks up strings already in the recording (symbolization runs after ingest on the same file).
    Status load(trace::Db& db);
    int64_t intern(std::string_view text, RowWriter& out);

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view> {}(s); }
    };
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> m_ids;
    int64_t m_next = 1;
};

// Spaces are created as they are seen; names are stable (trace::spaceName: host, cuda:N, pinned, managed,
// pool:<parent>).
class SpaceTable {
public:
    int64_t get(SpaceKind kind, uint8_t device);
    int64_t pool(int64_t parentSpaceId); // parent 0 = unknown
    void noteCapacity(int64_t id, uint64_t bytes);
    bool isPool(int64_t id) const { return id > 0 && m_spaces[id - 1].kind == SpaceKind::Pool; }
    void write(RowWriter& out) const;

private:
    struct Space {
        SpaceKind kind;
        int device; // -1 = none
        std::string name;
        uint64_t capacity;
        int64_t parent;
    };
    int64_t find(const std::string& name) const;
    std::vector<Space> m_spaces; // id = index + 1
};

struct ModuleInfo {
    int64_t id = 0;
    uint64_t bias = 0, start = 0, end = 0;
    uint64_t load_ts = 0, unload_ts = UINT64_MAX;
    bool drop_frames = false; // frames inside the capture library itself
};

// The module map of one process image, versioned over time (load and unload timestamps).
class ModuleMap {
public:
    void add(const ModuleInfo& m) { m_modules.push_back(m); }
    void unload(uint64_t bias, uint64_t ts);
    // The module holding ip at time ts; falls back to any module that ever held ip.
    const ModuleInfo* find(uint64_t ip, uint64_t ts) const;
    const std::deque<ModuleInfo>& all() const { return m_modules; }

private:
    // A deque: find()'s pointers are cached per ip (FileIngest::frameOf) and must survive later
    // loads (found by AddressSanitizer: a vector moved them on the next dlopen).
    std::deque<ModuleInfo> m_modules;
};

class CallsiteTrie {
public:
    // A frame row per distinct (module, rel_pc); an ip outside every module is keyed by (process, ip).
    int64_t frame(const ModuleInfo* module, uint64_t ip, int64_t processId, RowWriter& out);
    // The callsite under parent (0 = root) for frame, created when new.
    int64_t child(int64_t parent, int64_t frameId, RowWriter& out);
    size_t frameCount() const { return m_frames.size(); }
    // fn(frame id, module id, rel_pc) for every frame inside a module.
    template <typename Fn> void forEachModuleFrame(Fn&& fn) const
    {
        for (const auto& [key, id] : m_frames)
            if (key.first > 0)
                fn(id, key.first, key.second);
    }
    size_t callsiteCount() const { return m_depth.size(); }
    // Depth of a callsite (0 = a child of the root), and its ancestor `steps` levels up.
    uint32_t depthOf(int64_t callsite) const { return m_depth[size_t(callsite) - 1]; }
    int64_t ancestor(int64_t callsite, uint32_t steps) const
    {
        while (steps-- && callsite > 0)
            callsite = m_parent[size_t(callsite) - 1];
        return callsite;
    }

private:
    std::unordered_map<std::pair<int64_t, uint64_t>, int64_t, PairHash> m_frames;
    // (parent, frame) -> callsite, open addressing: a deep, mostly unique stack adds a node per frame,
    // millions in an interpreter's recording, and a node-based map costs a cache miss per hop.
    // 12 bytes a slot: ids past 2^32 (never seen; a recording that size would not fit in memory
    // anyway) go to the node-based map instead.
    struct Slot {
        uint32_t parent;
        uint32_t frame;
        uint32_t id; // 0 = empty
    };
    std::vector<Slot> m_slots;
    std::unordered_map<std::pair<int64_t, uint64_t>, int64_t, PairHash> m_wide;
    void growSlots();
    int64_t addCallsite(int64_t parent, int64_t frameId, RowWriter& out);
    std::vector<uint32_t> m_depth;  // callsite id - 1 -> depth
    std::vector<int64_t> m_parent; // callsite id - 1 -> parent callsite (0 = root)
};

} // namespace tidemark::collector
