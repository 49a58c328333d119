// In-memory implementation of interposer/emit.h for tests (see test_emit.h). Thread-safe with one
// mutex: tests care about correctness, not the hot-path cost the real writer is built for.
#include "test_emit.h"

#include "interposer/emit.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <dlfcn.h>
#include <execinfo.h>
#include <map>
#include <mutex>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::testemit {
namespace {

    struct State {
        std::mutex mutex;
        std::vector<Captured> records;
        std::map<std::string, uint32_t> strings;
        std::map<std::vector<uint64_t>, uint32_t> stacks;
        std::map<uint32_t, std::string> stringById;
        std::map<uint32_t, std::vector<uint64_t>> stackById;
        uint32_t nextId = 1;
    };

    State& state()
    {
        static State* s = new State; // never destroyed: hooks may run during exit
        return *s;
    }

    thread_local int t_guardDepth = 0;
    thread_local uint32_t t_range = 0;
    std::atomic<int> g_maxGuardDepth { 0 };
    std::atomic<uint32_t> g_objectId { 0 };

    uint32_t gettid32()
    {
        return static_cast<uint32_t>(syscall(SYS_gettid));
    }

    void append(const void* record, size_t bytes)
    {
        Captured c;
        c.tid = gettid32();
        c.bytes.assign(static_cast<const uint8_t*>(record), static_cast<const uint8_t*>(record) + bytes);
        state().records.push_back(std::move(c));
    }

    void writeSpoolAtExit()
    {
        const char* path = std::getenv("TIDEMARK_TEST_SPOOL");
        if (!path)
            return;
        State& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        FILE* f = std::fopen(path, "wb");
        if (!f)
            return;
        wire::SpoolFileHeader h {};
        std::memcpy(h.magic, wire::kSpoolMagic, sizeof(h.magic));
        h.version = wire::kSpoolVersion;
        h.header_bytes = sizeof(h);
        h.pid = static_cast<uint32_t>(getpid());
        h.ppid = static_cast<uint32_t>(getppid());
        std::fwrite(&h, sizeof(h), 1, f);
        for (const Captured& c : s.records) { // one chunk per record keeps this simple
            wire::ChunkHeader ch { wire::kChunkMagic, static_cast<uint32_t>(c.bytes.size()), c.tid, 0 };
            std::fwrite(&ch, sizeof(ch), 1, f);
            std::fwrite(c.bytes.data(), c.bytes.size(), 1, f);
        }
        std::fclose(f);
    }

    struct AtExit {
        AtExit() { std::atexit(&writeSpoolAtExit); }
    } g_atExit;

} // namespace

std::vector<Captured> records()
{
    std::lock_guard<std::mutex> lock(state().mutex);
    return state().records;
}

std::vector<Captured> recordsOfKind(wire::Kind kind)
{
    std::vector<Captured> out;
    for (Captured& c : records())
        if (c.kind() == kind)
            out.push_back(std::move(c));
    return out;
}

void clear()
{
    std::lock_guard<std::mutex> lock(state().mutex);
    state().records.clear();
    g_maxGuardDepth = 0;
}

std::string stringText(uint32_t id)
{
    std::lock_guard<std::mutex> lock(state().mutex);
    auto it = state().stringById.find(id);
    return it == state().stringById.end() ? std::string() : it->second;
}

std::vector<uint64_t> stackFrames(uint32_t id)
{
    std::lock_guard<std::mutex> lock(state().mutex);
    auto it = state().stackById.find(id);
    return it == state().stackById.end() ? std::vector<uint64_t>() : it->second;
}

bool findStat(const std::string& name, uint64_t* value, std::string* detail)
{
    bool found = false;
    for (const Captured& c : recordsOfKind(wire::Kind::Stat)) {
        auto r = c.as<wire::StatRecord>();
        const char* text = reinterpret_cast<const char*>(c.bytes.data()) + sizeof(r);
        if (std::string(text, r.name_len) != name)
            continue;
        found = true;
        if (value)
            *value = r.value;
        if (detail)
            *detail = std::string(text + r.name_len, r.detail_len);
    }
    return found;
}

bool insideGuard()
{
    return t_guardDepth > 0;
}
int maxGuardDepth()
{
    return g_maxGuardDepth.load();
}

} // namespace tidemark::testemit

namespace tidemark::interposer {

using namespace tidemark::testemit;

bool trackingEnabled() noexcept
{
    return true;
}

uint64_t nowNs() noexcept
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void emit(const void* record, size_t bytes) noexcept
{
    std::lock_guard<std::mutex> lock(state().mutex);
    append(record, bytes);
}

uint32_t captureStack(unsigned skip) noexcept
{
    void* ips[wire::kMaxStackDepth];
    int n = backtrace(ips, static_cast<int>(wire::kMaxStackDepth));
    // Same contract as the real writer (interposer/stacks.cpp): when this code is a shared library
    // (the preload test library), its leading frames are dropped, then skip - 1 more; linked into a
    // test executable, where that cannot be told apart, `skip` frames below this one are dropped.
    Dl_info self {};
    dladdr(reinterpret_cast<void*>(&testemit::clear), &self);
    bool library = self.dli_fname && std::strstr(self.dli_fname, ".so");
    int first = 1; // this function
    if (library) {
        Dl_info info {};
        while (first < n && dladdr(ips[first], &info) && info.dli_fbase == self.dli_fbase)
            ++first;
        first += skip ? static_cast<int>(skip) - 1 : 0;
    } else {
        first += static_cast<int>(skip);
    }
    std::vector<uint64_t> frames;
    for (int i = first; i < n; ++i)
        frames.push_back(reinterpret_cast<uint64_t>(ips[i]));
    if (frames.empty())
        return 0;
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto [it, added] = s.stacks.emplace(frames, 0);
    if (!added)
        return it->second;
    it->second = s.nextId++;
    s.stackById[it->second] = frames;
    std::vector<uint8_t> rec(sizeof(wire::StackRecord) + frames.size() * 8);
    wire::StackRecord h {};
    h.h.kind = static_cast<uint16_t>(wire::Kind::Stack);
    h.h.size_bytes = static_cast<uint16_t>(rec.size());
    h.depth = static_cast<uint16_t>(frames.size());
    h.id = it->second;
    std::memcpy(rec.data(), &h, sizeof(h));
    std::memcpy(rec.data() + sizeof(h), frames.data(), frames.size() * 8);
    append(rec.data(), rec.size());
    return it->second;
}

uint32_t internString(const char* text, size_t len) noexcept
{
    if (!text)
        return 0;
    len = len < wire::kMaxStringBytes ? len : wire::kMaxStringBytes;
    std::string key(text, len);
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto [it, added] = s.strings.emplace(key, 0);
    if (!added)
        return it->second;
    it->second = s.nextId++;
    s.stringById[it->second] = key;
    std::vector<uint8_t> rec(wire::padTo8(static_cast<uint32_t>(sizeof(wire::StringRecord) + len)));
    wire::StringRecord h {};
    h.h.kind = static_cast<uint16_t>(wire::Kind::String);
    h.h.size_bytes = static_cast<uint16_t>(rec.size());
    h.id = it->second;
    h.len = static_cast<uint32_t>(len);
    std::memcpy(rec.data(), &h, sizeof(h));
    std::memcpy(rec.data() + sizeof(h), text, len);
    append(rec.data(), rec.size());
    return it->second;
}

uint32_t internString(const char* text) noexcept
{
    return text ? internString(text, std::strlen(text)) : 0;
}

uint32_t currentRangeId() noexcept
{
    return t_range;
}
void setCurrentRangeId(uint32_t id) noexcept
{
    t_range = id;
}
uint32_t nextObjectId() noexcept
{
    return ++g_objectId;
}

void emitStat(wire::StatSource source, const char* name, uint64_t value, const char* detail) noexcept
{
    size_t nameLen = std::strlen(name);
    size_t detailLen = detail ? std::strlen(detail) : 0;
    std::vector<uint8_t> rec(wire::padTo8(static_cast<uint32_t>(sizeof(wire::StatRecord) + nameLen + detailLen)));
    wire::StatRecord h {};
    h.h.kind = static_cast<uint16_t>(wire::Kind::Stat);
    h.h.size_bytes = static_cast<uint16_t>(rec.size());
    h.source = static_cast<uint16_t>(source);
    h.name_len = static_cast<uint16_t>(nameLen);
    h.detail_len = static_cast<uint32_t>(detailLen);
    h.value = value;
    std::memcpy(rec.data(), &h, sizeof(h));
    std::memcpy(rec.data() + sizeof(h), name, nameLen);
    if (detailLen)
        std::memcpy(rec.data() + sizeof(h) + nameLen, detail, detailLen);
    emit(rec.data(), rec.size());
}

ReentryGuard::ReentryGuard() noexcept
    : m_wasInside(t_guardDepth > 0)
{
    int depth = ++t_guardDepth;
    int seen = g_maxGuardDepth.load();
    while (depth > seen && !g_maxGuardDepth.compare_exchange_weak(seen, depth)) { }
}

ReentryGuard::~ReentryGuard()
{
    --t_guardDepth;
}

} // namespace tidemark::interposer
