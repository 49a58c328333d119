// Strings, spaces, module maps and the callsite trie (see interning.h).
#include "collector/interning.h"

#include "trace/space_names.h"

namespace tidemark::collector {

std::string hexBytes(const uint8_t* bytes, size_t n)
{
    static const char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
        s += kDigits[bytes[i] >> 4];
        s += kDigits[bytes[i] & 15];
    }
    return s;
}

Status StringTable::load(trace::Db& db)
{
    auto stmt = db.prepare("SELECT id, value FROM strings");
    if (!stmt)
        return stmt.error();
    while (stmt->step()) {
        int64_t id = stmt->int64(0);
        m_ids.emplace(stmt->text(1), id);
        m_next = std::max(m_next, id + 1);
    }
    return stmt->status();
}

int64_t StringTable::intern(std::string_view text, RowWriter& out)
{
    if (auto it = m_ids.find(text); it != m_ids.end())
        return it->second;
    int64_t id = m_next++;
    m_ids.emplace(std::string(text), id);
    out.tableRow(out.strings, trace::StringRow { .id = id, .value = std::string(text) });
    return id;
}

int64_t SpaceTable::find(const std::string& name) const
{
    for (size_t i = 0; i < m_spaces.size(); ++i)
        if (m_spaces[i].name == name)
            return static_cast<int64_t>(i + 1);
    return 0;
}

int64_t SpaceTable::get(SpaceKind kind, uint8_t device)
{
    if (kind == SpaceKind::Pool)
        return pool(get(SpaceKind::Device, device));
    std::string name = trace::spaceName(kind, device);
    if (int64_t id = find(name))
        return id;
    m_spaces.push_back({ kind, kind == SpaceKind::Device ? static_cast<int>(device) : -1, name, 0, 0 });
    return static_cast<int64_t>(m_spaces.size());
}

int64_t SpaceTable::pool(int64_t parent)
{
    std::string name = trace::poolSpaceName(parent ? std::string_view(m_spaces[parent - 1].name) : std::string_view());
    if (int64_t id = find(name))
        return id;
    int dev = parent ? m_spaces[parent - 1].device : -1;
    m_spaces.push_back({ SpaceKind::Pool, dev, name, 0, parent });
    return static_cast<int64_t>(m_spaces.size());
}

void SpaceTable::noteCapacity(int64_t id, uint64_t bytes)
{
    if (id > 0 && bytes != UINT64_MAX && bytes > m_spaces[id - 1].capacity)
        m_spaces[id - 1].capacity = bytes;
}

void SpaceTable::write(RowWriter& out) const
{
    for (size_t i = 0; i < m_spaces.size(); ++i) {
        const Space& s = m_spaces[i];
        out.tableRow(out.spaces,
            trace::SpaceRow { .id = static_cast<int64_t>(i + 1),
                .kind = std::string(spaceKindName(s.kind)),
                .device = s.device >= 0 ? std::optional<int64_t>(s.device) : std::nullopt,
                .name = s.name,
                .capacity_bytes
                = s.capacity ? std::optional<int64_t>(static_cast<int64_t>(s.capacity)) : std::nullopt,
                .parent_space_id = idOrNull(s.parent) });
    }
}

void ModuleMap::unload(uint64_t bias, uint64_t ts)
{
    for (auto& m : m_modules)
        if (m.bias == bias && m.unload_ts == UINT64_MAX && m.load_ts <= ts) {
            m.unload_ts = ts;
            return;
        }
}

const ModuleInfo* ModuleMap::find(uint64_t ip, uint64_t ts) const
{
    const ModuleInfo* any = nullptr;
    for (const auto& m : m_modules) {
        if (ip < m.start || ip >= m.end)
            continue;
        if (m.load_ts <= ts && ts < m.unload_ts)
            return &m;
        if (!any)
            any = &m;
    }
    return any;
}

int64_t CallsiteTrie::frame(const ModuleInfo* module, uint64_t ip, int64_t processId, RowWriter& out)
{
    std::pair<int64_t, uint64_t> key
        = module ? std::make_pair(module->id, ip - module->bias) : std::make_pair(-processId, ip);
    auto [it, inserted] = m_frames.try_emplace(key, static_cast<int64_t>(m_frames.size() + 1));
    if (inserted) {
        trace::FrameRow row { .id = it->second, .ip = static_cast<int64_t>(ip) };
        if (module) {
            row.module_id = module->id;
            row.rel_pc = static_cast<int64_t>(ip - module->bias);
        }
        out.tableRow(out.frames, row);
    }
    return it->second;
}

namespace {

inline size_t slotOf(uint32_t parent, uint32_t frame, size_t mask)
{
    uint64_t h = (uint64_t(parent) << 32 | frame) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> 29) & mask;
}

} // namespace

void CallsiteTrie::growSlots()
{
    std::vector<Slot> old = std::move(m_slots);
    m_slots.assign(old.empty() ? size_t(1) << 16 : old.size() * 2, Slot { 0, 0, 0 });
    size_t mask = m_slots.size() - 1;
    for (const Slot& s : old) {
        if (!s.id)
            continue;
        size_t i = slotOf(s.parent, s.frame, mask);
        while (m_slots[i].id)
            i = (i + 1) & mask;
        m_slots[i] = s;
    }
}

int64_t CallsiteTrie::addCallsite(int64_t parent, int64_t frameId, RowWriter& out)
{
    auto id = static_cast<int64_t>(m_depth.size() + 1);
    uint32_t depth = parent ? m_depth[parent - 1] + 1 : 0;
    m_depth.push_back(depth);
    m_parent.push_back(parent);
    out.tableRow(out.callsites,
        trace::CallsiteRow { .id = id, .parent_id = idOrNull(parent), .frame_id = frameId, .depth = depth });
    return id;
}

int64_t CallsiteTrie::child(int64_t parent, int64_t frameId, RowWriter& out)
{
    constexpr int64_t kNarrow = int64_t(UINT32_MAX) - 1;
    if (parent > kNarrow || frameId > kNarrow || int64_t(m_depth.size()) >= kNarrow) [[unlikely]] {
        auto [it, inserted] = m_wide.try_emplace({ parent, static_cast<uint64_t>(frameId) }, 0);
        if (inserted)
            it->second = addCallsite(parent, frameId, out);
        return it->second;
    }
    // At most 3/4 full: linear probes stay short.
    if ((m_depth.size() + 1) * 4 > m_slots.size() * 3)
        growSlots();
    size_t mask = m_slots.size() - 1;
    auto p = uint32_t(parent), f = uint32_t(frameId);
    size_t i = slotOf(p, f, mask);
    while (m_slots[i].id) {
        if (m_slots[i].parent == p && m_slots[i].frame == f)
            return m_slots[i].id;
        i = (i + 1) & mask;
    }
    int64_t id = addCallsite(parent, frameId, out);
    m_slots[i] = Slot { p, f, uint32_t(id) };
    return id;
}

} // namespace tidemark::collector
