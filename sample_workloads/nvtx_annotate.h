// Thin wrappers over NVTX for tidemark-train: scoped ranges on the default domain ("step N",
// "forward", "layer K", ...) and the memory extension (segments as heaps, blocks as named regions)
// on the "tidemark-train" domain. Without an NVTX tool attached every call is a cheap no-op.
#pragma once

#include <cstddef>

namespace tidemark::train {

class ScopedRange {
public:
    explicit ScopedRange(const char* name);
    ScopedRange(const char* prefix, long long index); // "prefix index", e.g. "layer 3"
    ~ScopedRange();
    ScopedRange(const ScopedRange&) = delete;
    ScopedRange& operator=(const ScopedRange&) = delete;
};

// Announces a caching allocator's memory to an NVTX tool.
class MemoryAnnotator {
public:
    MemoryAnnotator();
    // Registers a segment as a sub-allocator heap; returns the heap handle to pass back later.
    void* registerHeap(void* ptr, size_t bytes, const char* name);
    void unregisterHeap(void* heap);
    void registerRegion(void* heap, void* ptr, size_t bytes, const char* name);
    void unregisterRegion(void* ptr);

private:
    void* m_domain;
};

} // namespace tidemark::train
