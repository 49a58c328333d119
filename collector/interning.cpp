// Strings, spaces, module maps and the callsite trie (see interning.h).
#include "collector/interning.h"

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
    out.row(out.strings, id, text);
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
    std::string name;
    int dev = -1;
    switch (kind) {
    case SpaceKind::Host:
        name = "host";
        break;
    case SpaceKind::Device:
        name = "cuda:" + std::to_string(device);
        dev = device;
        break;
    case SpaceKind::Pinned:
        name = "pinned";
        break;
    case SpaceKind::Managed:
        name = "managed";
        break;
    case SpaceKind::Pool:
        return pool(get(SpaceKind::Device, device));
    }
    if (int64_t id = find(name))
        return id;
    m_spaces.push_back({ kind, dev, name, 0, 0 });
    return static_cast<int64_t>(m_spaces.size());
}

int64_t SpaceTable::pool(int64_t parent)
{
    std::string name = "pool:" + (parent ? m_spaces[parent - 1].name : std::string("unknown"));
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
        out.row(out.spaces, static_cast<int64_t>(i + 1), spaceKindName(s.kind),
            s.device >= 0 ? std::optional<int64_t>(s.device) : std::nullopt, s.name,
            s.capacity ? std::optional<int64_t>(static_cast<int64_t>(s.capacity)) : std::nullopt, idOrNull(s.parent));
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
        if (module)
            out.row(out.frames, it->second, module->id, ip, ip - module->bias);
        else
            out.row(out.frames, it->second, nullptr, ip, nullptr);
    }
    return it->second;
}

int64_t CallsiteTrie::child(int64_t parent, int64_t frameId, RowWriter& out)
{
    auto [it, inserted] = m_callsites.try_emplace(
        { parent, static_cast<uint64_t>(frameId) }, static_cast<int64_t>(m_callsites.size() + 1));
    if (inserted) {
        uint32_t depth = parent ? m_depth[parent - 1] + 1 : 0;
        m_depth.push_back(depth);
        m_parent.push_back(parent);
        out.row(out.callsites, it->second, idOrNull(parent), frameId, depth);
    }
    return it->second;
}

} // namespace tidemark::collector
