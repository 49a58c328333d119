// internString(): per-spool-file string ids (NVTX names, domains, kernel names). A global open-
// addressing table in mmap'd memory behind a spin lock (strings are interned far less often than
// allocations happen); the first sight of a text emits its String record.
#include "interposer/runtime.h"

#include <cstring>

namespace tidemark::interposer {

namespace {

constexpr uint32_t kSlots = 1u << 16;       // at most half used
constexpr size_t kArenaBytes = size_t(16) << 20; // text copies

struct StringSlot {
    uint64_t hash; // 0 = empty
    const char* text;
    uint32_t len;
    uint32_t id;
};

StringSlot* g_slots = nullptr;
char* g_arena = nullptr;
size_t g_arenaUsed = 0;
uint32_t g_used = 0;
uint32_t g_nextId = 1;
std::atomic<bool> g_lock { false };
std::atomic<uint64_t> g_overflow { 0 };

uint64_t hashText(const char* s, size_t n) noexcept
{
    uint64_t h = 0xCBF29CE484222325ull; // FNV-1a
    for (size_t i = 0; i < n; ++i)
        h = (h ^ uint8_t(s[i])) * 0x100000001B3ull;
    return h ? h : 1;
}

void emitString(uint32_t id, const char* text, uint32_t len) noexcept
{
    // 16-byte header + up to kMaxStringBytes, padded to 8.
    alignas(8) uint8_t buf[sizeof(wire::StringRecord) + wire::kMaxStringBytes + 8];
    wire::StringRecord r {};
    r.h.kind = uint16_t(wire::Kind::String);
    r.h.size_bytes = uint16_t(wire::padTo8(uint32_t(sizeof(r)) + len));
    r.id = id;
    r.len = len;
    std::memcpy(buf, &r, sizeof(r));
    std::memcpy(buf + sizeof(r), text, len);
    std::memset(buf + sizeof(r) + len, 0, r.h.size_bytes - sizeof(r) - len);
    emit(buf, r.h.size_bytes);
}

} // namespace

uint32_t internString(const char* text, size_t len) noexcept
{
    if (!text || !active())
        return 0;
    if (len > wire::kMaxStringBytes)
        len = wire::kMaxStringBytes;
    uint64_t h = hashText(text, len);
    uint32_t id = 0;
    bool fresh = false;
    {
        SpinGuard lock(g_lock);
        if (!g_slots) {
            g_slots = static_cast<StringSlot*>(rawAlloc(kSlots * sizeof(StringSlot)));
            g_arena = static_cast<char*>(rawAlloc(kArenaBytes));
        }
        uint32_t i = uint32_t(h) & (kSlots - 1);
        while (g_slots && g_slots[i].hash) {
            const StringSlot& s = g_slots[i];
            if (s.hash == h && s.len == len && std::memcmp(s.text, text, len) == 0)
                return s.id;
            i = (i + 1) & (kSlots - 1);
        }
        id = g_nextId++;
        fresh = true;
        if (g_slots && g_arena && g_used < kSlots / 2 && g_arenaUsed + len <= kArenaBytes) {
            std::memcpy(g_arena + g_arenaUsed, text, len);
            g_slots[i] = StringSlot { h, g_arena + g_arenaUsed, uint32_t(len), id };
            g_arenaUsed += len;
            ++g_used;
        } else {
            g_overflow.fetch_add(1, std::memory_order_relaxed); // table full: no dedupe from here
        }
    }
    if (fresh) {
        g_counters.strings.fetch_add(1, std::memory_order_relaxed);
        emitString(id, text, uint32_t(len));
    }
    return id;
}

uint32_t internString(const char* text) noexcept { return text ? internString(text, std::strlen(text)) : 0; }

// Fork child: ids restart in the child's own spool file; the old table may be locked by a thread
// that does not exist in the child, so it is replaced rather than cleared.
void stringsReset() noexcept
{
    g_lock.store(false);
    if (g_slots)
        rawFree(g_slots, kSlots * sizeof(StringSlot));
    if (g_arena)
        rawFree(g_arena, kArenaBytes);
    g_slots = nullptr;
    g_arena = nullptr;
    g_arenaUsed = 0;
    g_used = 0;
    g_nextId = 1;
}

} // namespace tidemark::interposer
