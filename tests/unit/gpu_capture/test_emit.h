// Test double of the writer core behind interposer/emit.h: keeps every emitted record in memory so
// tests of the GPU capture handlers can assert on the wire records themselves; with
// TIDEMARK_TEST_SPOOL=<path> it also writes them as a spool file at exit (for the preload tests).
// Never linked into libtidemark.so.
#pragma once

#include "trace/wire.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tidemark::testemit {

struct Captured {
    uint32_t tid = 0;
    std::vector<uint8_t> bytes;
    wire::Kind kind() const
    {
        wire::RecordHeader h;
        std::memcpy(&h, bytes.data(), sizeof(h));
        return static_cast<wire::Kind>(h.kind);
    }
    template <typename T> T as() const
    {
        T out {};
        std::memcpy(&out, bytes.data(), sizeof(T) < bytes.size() ? sizeof(T) : bytes.size());
        return out;
    }
};

std::vector<Captured> records();
std::vector<Captured> recordsOfKind(wire::Kind kind);
void clear();
// Text of an interned string id ("" when unknown).
std::string stringText(uint32_t id);
// Instruction pointers of a stack id (empty when unknown).
std::vector<uint64_t> stackFrames(uint32_t id);
// Stat records by name: last value and detail.
bool findStat(const std::string& name, uint64_t* value, std::string* detail);
// Whether the calling thread is inside a ReentryGuard right now.
bool insideGuard();
// Deepest guard nesting seen on any thread since clear() (to prove hooks take the guard).
int maxGuardDepth();

} // namespace tidemark::testemit
