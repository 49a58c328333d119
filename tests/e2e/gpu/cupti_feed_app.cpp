// Pushes CUPTI activity records through the whole capture path without a GPU: it calls
// InitializeInjection as cuInit would, then hands a buffer of records built from the installed
// toolkit's real structs to libtidemark_cupti.so's test entry, which runs CUPTI's own
// bufferRequested/bufferCompleted path into the writer. Prints the ground truth ("TRUTH ...").
#include <cuda_runtime_api.h>
#include <cupti.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dlfcn.h>
#include <string>
#include <vector>

namespace {

uint64_t monotonicNs()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); // the clock tidemark registers as CUPTI's timestamp source
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct Records {
    std::vector<unsigned char> bytes;
    template <typename T> void add(const T& r)
    {
        size_t at = bytes.size();
        bytes.resize(at + ((sizeof(T) + 7) & ~size_t(7)), 0);
        std::memcpy(bytes.data() + at, &r, sizeof(T));
    }
};

CUpti_ActivityMemory4 memoryRecord(CUpti_ActivityMemoryOperationType op, void* address, uint64_t bytes, int device)
{
    CUpti_ActivityMemory4 m {};
    m.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
    m.memoryOperationType = op;
    m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
    m.address = reinterpret_cast<uint64_t>(address);
    m.bytes = bytes;
    m.timestamp = monotonicNs();
    m.deviceId = static_cast<uint32_t>(device);
    m.streamId = CUPTI_INVALID_STREAM_ID;
    return m;
}

// "merge" mode: one cudaMalloc seen by the runtime hook (fake cudart TEST DOUBLE) and by a MEMORY2
// record for the same device and address: the recording must hold it once, with both source bits.
int mergeMode(long (*feed)(const void*, size_t))
{
    void* p = nullptr;
    if (cudaSetDevice(1) != cudaSuccess || cudaMalloc(&p, 4 << 20) != cudaSuccess)
        return 5;
    Records alloc;
    alloc.add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, p, 4 << 20, 1));
    long n = feed(alloc.bytes.data(), alloc.bytes.size());
    cudaFree(p);
    Records release;
    release.add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, p, 4 << 20, 1));
    n += feed(release.bytes.data(), release.bytes.size());
    std::printf("TRUTH merged address=%p size=%d device=1 sources=5\n", p, 4 << 20);
    return n == 2 ? 0 : 4;
}

} // namespace

int main(int argc, char** argv)
{
    const char* lib = std::getenv("CUDA_INJECTION64_PATH");
    void* tidemark = lib ? dlopen(lib, RTLD_NOW) : nullptr;
    auto init = tidemark ? reinterpret_cast<int (*)()>(dlsym(tidemark, "InitializeInjection")) : nullptr;
    if (!init) {
        std::fprintf(stderr, "no InitializeInjection in CUDA_INJECTION64_PATH\n");
        return 2;
    }
    init();
    std::string companion = lib;
    companion = companion.substr(0, companion.rfind('/') + 1) + "libtidemark_cupti.so";
    void* handle = dlopen(companion.c_str(), RTLD_NOW | RTLD_NOLOAD); // loaded by InitializeInjection
    auto feed = handle
        ? reinterpret_cast<long (*)(const void*, size_t)>(dlsym(handle, "tidemark_cupti_test_feed_buffer"))
        : nullptr;
    if (!feed) {
        std::fprintf(stderr, "companion not loaded: %s\n", companion.c_str());
        return 3;
    }

    if (argc > 1 && std::strcmp(argv[1], "merge") == 0)
        return mergeMode(feed);

    uint64_t t0 = monotonicNs();
    Records b;
    CUpti_ActivityKernel10 k {};
    k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
    k.name = "fused_adam_kernel";
    k.start = t0 + 1000;
    k.end = t0 + 51000;
    k.deviceId = 1;
    k.contextId = 1;
    k.streamId = 7;
    k.correlationId = 11;
    k.gridX = 64;
    k.gridY = k.gridZ = 1;
    k.blockX = 256;
    k.blockY = k.blockZ = 1;
    k.registersPerThread = 40;
    k.dynamicSharedMemory = 2048;
    b.add(k);
    CUpti_ActivityMemcpy6 c {};
    c.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
    c.copyKind = CUPTI_ACTIVITY_MEMCPY_KIND_HTOD;
    c.srcKind = CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
    c.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
    c.bytes = 3 << 20;
    c.start = t0 + 60000;
    c.end = t0 + 90000;
    c.deviceId = 1;
    c.streamId = 7;
    c.correlationId = 12;
    b.add(c);
    CUpti_ActivityMemset4 s {};
    s.kind = CUPTI_ACTIVITY_KIND_MEMSET;
    s.value = 0;
    s.bytes = 1 << 20;
    s.start = t0 + 95000;
    s.end = t0 + 96000;
    s.deviceId = 1;
    s.streamId = 7;
    b.add(s);
    CUpti_ActivityMemory4 m {};
    m.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
    m.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
    m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
    m.address = 0x7f2200000000;
    m.bytes = 8 << 20;
    m.timestamp = t0 + 500;
    m.deviceId = 1;
    m.streamId = CUPTI_INVALID_STREAM_ID;
    b.add(m);
    m.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE;
    m.timestamp = t0 + 100000;
    b.add(m);
    CUpti_ActivityMemoryPool3 p {};
    p.kind = CUPTI_ACTIVITY_KIND_MEMORY_POOL;
    p.memoryPoolOperationType = CUPTI_ACTIVITY_MEMORY_POOL_OPERATION_TYPE_CREATED;
    p.memoryPoolType = CUPTI_ACTIVITY_MEMORY_POOL_TYPE_LOCAL;
    p.deviceId = 1;
    p.size = 32 << 20;
    p.utilizedSize = 8 << 20;
    p.timestamp = t0 + 400;
    b.add(p);

    long converted = feed(b.bytes.data(), b.bytes.size());
    std::printf("TRUTH fed records=6 converted=%ld\n", converted);
    std::printf("TRUTH kernel name=fused_adam_kernel device=1 stream=7 duration=50000 grid=64 block=256\n");
    std::printf("TRUTH memcpy kind=HtoD bytes=%d duration=30000\n", 3 << 20);
    std::printf("TRUTH memset bytes=%d\n", 1 << 20);
    std::printf("TRUTH alloc address=0x7f2200000000 size=%d device=1 life=99500\n", 8 << 20);
    std::printf("TRUTH pool device=1 total=%d used=%d\n", 32 << 20, 8 << 20);
    return converted == 6 ? 0 : 4;
}
