// Process-global NVTX string and domain handles. NVTX initialises once per linkage unit, so the
// same domain may be created from libtorch, NCCL and the app; handles are indices into one table
// here, text lives in an mmap arena (never the hooked allocator), and each entry caches its
// string id for the current spool file.
#include "interposer/emit.h"
#include "interposer/nvtx_internal.h"

#include <atomic>
#include <cstring>
#include <mutex>
#include <sys/mman.h>

namespace tidemark::interposer::nvtx {

namespace {

    constexpr uint32_t kCapacity = 8192; // domains + registered strings per process
    constexpr uint32_t kSlots = kCapacity * 2;
    constexpr size_t kArenaChunk = 256 * 1024;

    struct Entry {
        const char* text;
        uint32_t len;
        uint32_t hash;
        std::atomic<uint64_t> cached; // generation << 32 | string id
    };

    Entry g_entries[kCapacity]; // index 0 is never used: handle 0 means "none"
    std::atomic<uint32_t> g_count { 1 }; // entries below this index are complete
    uint32_t g_slots[kSlots]; // open addressing over entry indices, 0 = empty
    std::atomic<uint32_t> g_generation { 1 };
    std::atomic<uint64_t> g_overflow { 0 };
    std::mutex g_insertMutex;
    char* g_arena = nullptr;
    size_t g_arenaLeft = 0;

    uint32_t hashText(const char* text, size_t len) noexcept
    {
        uint32_t h = 2166136261u; // FNV-1a
        for (size_t i = 0; i < len; ++i)
            h = (h ^ static_cast<unsigned char>(text[i])) * 16777619u;
        return h;
    }

    const char* copyToArena(const char* text, size_t len) noexcept
    {
        if (len + 1 > g_arenaLeft) {
            size_t chunk = len + 1 > kArenaChunk ? len + 1 : kArenaChunk;
            void* mem = mmap(nullptr, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mem == MAP_FAILED)
                return nullptr;
            g_arena = static_cast<char*>(mem);
            g_arenaLeft = chunk;
        }
        char* out = g_arena;
        std::memcpy(out, text, len);
        out[len] = '\0';
        g_arena += len + 1;
        g_arenaLeft -= len + 1;
        return out;
    }

    // Returns the entry index for text, adding it when new; 0 when the table is full.
    uint32_t findOrAdd(const char* text) noexcept
    {
        if (!text)
            return 0;
        size_t len = strnlen(text, wire::kMaxStringBytes);
        uint32_t hash = hashText(text, len);
        std::lock_guard<std::mutex> lock(g_insertMutex);
        uint32_t slot = hash & (kSlots - 1);
        while (uint32_t index = g_slots[slot]) {
            const Entry& e = g_entries[index];
            if (e.hash == hash && e.len == len && std::memcmp(e.text, text, len) == 0)
                return index;
            slot = (slot + 1) & (kSlots - 1);
        }
        uint32_t index = g_count.load(std::memory_order_relaxed);
        const char* copy = index < kCapacity ? copyToArena(text, len) : nullptr;
        if (!copy) {
            g_overflow.fetch_add(1, std::memory_order_relaxed);
            return 0;
        }
        Entry& e = g_entries[index];
        e.text = copy;
        e.len = static_cast<uint32_t>(len);
        e.hash = hash;
        e.cached.store(0, std::memory_order_relaxed);
        g_slots[slot] = index;
        g_count.store(index + 1, std::memory_order_release);
        if (index == kCapacity - 1)
            emitStat(wire::StatSource::Nvtx, "nvtx.string_table_full", kCapacity, "further domains/strings unnamed");
        return index;
    }

    uint32_t idOfIndex(uintptr_t index) noexcept
    {
        if (index == 0 || index >= g_count.load(std::memory_order_acquire))
            return 0;
        Entry& e = g_entries[index];
        uint64_t generation = g_generation.load(std::memory_order_relaxed);
        uint64_t cached = e.cached.load(std::memory_order_relaxed);
        if ((cached >> 32) == generation)
            return static_cast<uint32_t>(cached);
        uint32_t id = internString(e.text, e.len);
        if (id != 0)
            e.cached.store(generation << 32 | id, std::memory_order_relaxed);
        return id;
    }

} // namespace

size_t wideToUtf8(const wchar_t* text, char* out, size_t capacity) noexcept
{
    size_t n = 0;
    for (; text && *text; ++text) {
        uint32_t c = static_cast<uint32_t>(*text);
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            c = 0xFFFD; // not a scalar value: replacement character
        unsigned char buf[4];
        size_t len;
        if (c < 0x80) {
            buf[0] = static_cast<unsigned char>(c);
            len = 1;
        } else if (c < 0x800) {
            buf[0] = static_cast<unsigned char>(0xC0 | (c >> 6));
            buf[1] = static_cast<unsigned char>(0x80 | (c & 0x3F));
            len = 2;
        } else if (c < 0x10000) {
            buf[0] = static_cast<unsigned char>(0xE0 | (c >> 12));
            buf[1] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
            buf[2] = static_cast<unsigned char>(0x80 | (c & 0x3F));
            len = 3;
        } else {
            buf[0] = static_cast<unsigned char>(0xF0 | (c >> 18));
            buf[1] = static_cast<unsigned char>(0x80 | ((c >> 12) & 0x3F));
            buf[2] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
            buf[3] = static_cast<unsigned char>(0x80 | (c & 0x3F));
            len = 4;
        }
        if (n + len + 1 > capacity)
            break; // truncate on a character boundary
        std::memcpy(out + n, buf, len);
        n += len;
    }
    if (capacity > 0)
        out[n] = '\0';
    return n;
}

uint32_t asciiStringId(const char* text) noexcept
{
    return text ? internString(text) : 0;
}

uint32_t wideStringId(const wchar_t* text) noexcept
{
    if (!text)
        return 0;
    char utf8[1024];
    size_t len = wideToUtf8(text, utf8, sizeof(utf8));
    return internString(utf8, len);
}

uint32_t messageStringId(int32_t messageType, const nvtxMessageValue_t& message) noexcept
{
    switch (messageType) {
    case NVTX_MESSAGE_TYPE_ASCII:
        return asciiStringId(message.ascii);
    case NVTX_MESSAGE_TYPE_UNICODE:
        return wideStringId(message.unicode);
    case NVTX_MESSAGE_TYPE_REGISTERED:
        return idOfIndex(reinterpret_cast<uintptr_t>(message.registered));
    default:
        return 0;
    }
}

nvtxDomainHandle_t createDomain(const char* name) noexcept
{
    return reinterpret_cast<nvtxDomainHandle_t>(static_cast<uintptr_t>(findOrAdd(name)));
}

nvtxStringHandle_t registerString(const char* text) noexcept
{
    return reinterpret_cast<nvtxStringHandle_t>(static_cast<uintptr_t>(findOrAdd(text)));
}

uint32_t domainStringId(nvtxDomainHandle_t domain) noexcept
{
    return idOfIndex(reinterpret_cast<uintptr_t>(domain));
}

void invalidateStringCache() noexcept
{
    g_generation.fetch_add(1, std::memory_order_relaxed);
}

} // namespace tidemark::interposer::nvtx
