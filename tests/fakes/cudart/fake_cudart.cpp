// TEST DOUBLE of the CUDA runtime (libcudart): exports the cudart memory API with the real
// cuda_runtime_api.h signatures over plain host memory, so tidemark's LD_PRELOAD hooks can be tested
// on a machine without a GPU. It models what the hooks depend on: several devices with a capacity
// each (TIDEMARK_FAKE_CUDART_CAPACITY, e.g. "64M" or "64M,32M"; TIDEMARK_FAKE_CUDART_DEVICES, default
// 2), a current device per thread, streams with stream-ordered (deferred) frees, pointer attributes,
// cudaMemGetInfo, and cudaErrorMemoryAllocation past capacity. It runs no kernels and copies nothing.
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace {

constexpr int kMaxDevices = 8;
constexpr size_t kPitchAlign = 512;

struct FakeStream {
    int device;
    std::vector<void*> pendingFrees; // cudaFreeAsync: returned to the device at synchronisation
};

struct Allocation {
    int device; // -1 for pinned host memory
    size_t size;
    cudaMemoryType type;
    bool counted; // counts against the device capacity
};

struct State {
    std::mutex mutex;
    int deviceCount = 2;
    size_t capacity[kMaxDevices] {};
    size_t used[kMaxDevices] {};
    std::map<void*, Allocation> allocations;
    FakeStream defaultStreams[kMaxDevices];
    int memPoolTag[kMaxDevices] {}; // addresses used as opaque cudaMemPool_t handles
};

thread_local int t_device = 0;
thread_local cudaError_t t_lastError = cudaSuccess;

size_t parseSize(const char* text, size_t fallback)
{
    if (!text || !*text)
        return fallback;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text, &end, 10);
    switch (end ? *end : 0) {
    case 'K':
    case 'k':
        v <<= 10;
        break;
    case 'M':
    case 'm':
        v <<= 20;
        break;
    case 'G':
    case 'g':
        v <<= 30;
        break;
    default:
        break;
    }
    return static_cast<size_t>(v);
}

State& state()
{
    static State* s = [] {
        auto* st = new State;
        if (const char* n = std::getenv("TIDEMARK_FAKE_CUDART_DEVICES"))
            st->deviceCount = std::max(1, std::min(kMaxDevices, std::atoi(n)));
        const char* caps = std::getenv("TIDEMARK_FAKE_CUDART_CAPACITY");
        size_t last = 256u << 20;
        for (int d = 0; d < kMaxDevices; ++d) {
            if (caps && *caps) {
                last = parseSize(caps, last);
                const char* comma = std::strchr(caps, ',');
                caps = comma ? comma + 1 : nullptr;
            }
            st->capacity[d] = last; // a shorter list repeats its last value
            st->defaultStreams[d].device = d;
        }
        return st;
    }();
    return *s;
}

cudaError_t fail(cudaError_t e)
{
    t_lastError = e;
    return e;
}

FakeStream* streamOf(cudaStream_t stream)
{
    State& s = state();
    return stream ? reinterpret_cast<FakeStream*>(stream) : &s.defaultStreams[t_device];
}

// Caller holds the mutex.
void releaseLocked(void* ptr)
{
    State& s = state();
    auto it = s.allocations.find(ptr);
    if (it == s.allocations.end())
        return;
    if (it->second.counted)
        s.used[it->second.device] -= it->second.size;
    s.allocations.erase(it);
    std::free(ptr);
}

void drainLocked(FakeStream* stream)
{
    for (void* p : stream->pendingFrees)
        releaseLocked(p);
    stream->pendingFrees.clear();
}

cudaError_t allocate(void** out, size_t size, int device, cudaMemoryType type, FakeStream* orderedOn = nullptr)
{
    if (!out)
        return fail(cudaErrorInvalidValue);
    *out = nullptr;
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    bool counted = type == cudaMemoryTypeDevice;
    if (counted && s.used[device] + size > s.capacity[device]) {
        // A stream-ordered pool may reuse memory already freed on the same stream.
        if (orderedOn)
            drainLocked(orderedOn);
        if (s.used[device] + size > s.capacity[device])
            return fail(cudaErrorMemoryAllocation);
    }
    void* p = std::aligned_alloc(256, ((size ? size : 1) + 255) / 256 * 256);
    if (!p)
        return fail(cudaErrorMemoryAllocation);
    s.allocations[p] = { counted ? device : -1, size, type, counted };
    if (counted)
        s.used[device] += size;
    *out = p;
    return cudaSuccess;
}

cudaError_t release(void* ptr, cudaMemoryType expected)
{
    if (!ptr)
        return cudaSuccess;
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.allocations.find(ptr);
    if (it == s.allocations.end() || (expected == cudaMemoryTypeHost) != (it->second.type == cudaMemoryTypeHost))
        return fail(cudaErrorInvalidValue);
    releaseLocked(ptr);
    return cudaSuccess;
}

} // namespace

#define FAKE_API extern "C" __attribute__((visibility("default")))

FAKE_API int tidemark_fake_cudart_is_test_double()
{
    return 1;
}

FAKE_API cudaError_t cudaGetDeviceCount(int* count)
{
    if (!count)
        return fail(cudaErrorInvalidValue);
    *count = state().deviceCount;
    return cudaSuccess;
}

FAKE_API cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= state().deviceCount)
        return fail(cudaErrorInvalidDevice);
    t_device = device;
    return cudaSuccess;
}

FAKE_API cudaError_t cudaGetDevice(int* device)
{
    if (!device)
        return fail(cudaErrorInvalidValue);
    *device = t_device;
    return cudaSuccess;
}

FAKE_API cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes)
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (freeBytes)
        *freeBytes = s.capacity[t_device] - s.used[t_device];
    if (totalBytes)
        *totalBytes = s.capacity[t_device];
    return cudaSuccess;
}

FAKE_API cudaError_t cudaGetLastError()
{
    cudaError_t e = t_lastError;
    t_lastError = cudaSuccess;
    return e;
}

FAKE_API const char* cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal";
    default:
        return "unknown error (fake cudart)";
    }
}

FAKE_API cudaError_t cudaStreamCreate(cudaStream_t* stream)
{
    if (!stream)
        return fail(cudaErrorInvalidValue);
    *stream = reinterpret_cast<cudaStream_t>(new FakeStream { t_device, {} });
    return cudaSuccess;
}

FAKE_API cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    drainLocked(streamOf(stream));
    return cudaSuccess;
}

FAKE_API cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    if (!stream)
        return fail(cudaErrorInvalidResourceHandle);
    cudaStreamSynchronize(stream);
    delete reinterpret_cast<FakeStream*>(stream);
    return cudaSuccess;
}

FAKE_API cudaError_t cudaStreamGetDevice(cudaStream_t stream, int* device)
{
    if (!device)
        return fail(cudaErrorInvalidValue);
    *device = streamOf(stream)->device;
    return cudaSuccess;
}

FAKE_API cudaError_t cudaDeviceSynchronize()
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    drainLocked(&s.defaultStreams[t_device]);
    return cudaSuccess;
}

FAKE_API cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device)
{
    if (!pool || device < 0 || device >= state().deviceCount)
        return fail(cudaErrorInvalidValue);
    *pool = reinterpret_cast<cudaMemPool_t>(&state().memPoolTag[device]);
    return cudaSuccess;
}

FAKE_API cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* ptr)
{
    if (!attr)
        return fail(cudaErrorInvalidValue);
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    std::memset(attr, 0, sizeof(*attr));
    auto it = s.allocations.find(const_cast<void*>(ptr));
    if (it == s.allocations.end()) {
        attr->type = cudaMemoryTypeUnregistered;
        return cudaSuccess;
    }
    attr->type = it->second.type;
    attr->device = it->second.device < 0 ? 0 : it->second.device;
    attr->devicePointer = it->second.type == cudaMemoryTypeHost ? nullptr : const_cast<void*>(ptr);
    attr->hostPointer = it->second.type == cudaMemoryTypeDevice ? nullptr : const_cast<void*>(ptr);
    return cudaSuccess;
}

FAKE_API cudaError_t cudaMalloc(void** devPtr, size_t size)
{
    return allocate(devPtr, size, t_device, cudaMemoryTypeDevice);
}

FAKE_API cudaError_t cudaMallocManaged(void** devPtr, size_t size, unsigned int)
{
    return allocate(devPtr, size, t_device, cudaMemoryTypeManaged);
}

FAKE_API cudaError_t cudaMallocHost(void** ptr, size_t size)
{
    return allocate(ptr, size, t_device, cudaMemoryTypeHost);
}

FAKE_API cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int)
{
    return allocate(ptr, size, t_device, cudaMemoryTypeHost);
}

FAKE_API cudaError_t cudaMallocPitch(void** devPtr, size_t* pitch, size_t width, size_t height)
{
    if (!pitch)
        return fail(cudaErrorInvalidValue);
    *pitch = (width + kPitchAlign - 1) / kPitchAlign * kPitchAlign;
    return allocate(devPtr, *pitch * height, t_device, cudaMemoryTypeDevice);
}

FAKE_API cudaError_t cudaMalloc3D(cudaPitchedPtr* p, cudaExtent extent)
{
    if (!p)
        return fail(cudaErrorInvalidValue);
    size_t pitch = (extent.width + kPitchAlign - 1) / kPitchAlign * kPitchAlign;
    cudaError_t e = allocate(&p->ptr, pitch * extent.height * extent.depth, t_device, cudaMemoryTypeDevice);
    p->pitch = e == cudaSuccess ? pitch : 0;
    p->xsize = extent.width;
    p->ysize = extent.height;
    return e;
}

FAKE_API cudaError_t cudaMallocAsync(void** devPtr, size_t size, cudaStream_t stream)
{
    FakeStream* s = streamOf(stream);
    return allocate(devPtr, size, s->device, cudaMemoryTypeDevice, s);
}

FAKE_API cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream)
{
    int* tag = reinterpret_cast<int*>(pool);
    int device = tag ? static_cast<int>(tag - state().memPoolTag) : streamOf(stream)->device;
    if (device < 0 || device >= state().deviceCount)
        return fail(cudaErrorInvalidValue);
    return allocate(ptr, size, device, cudaMemoryTypeDevice, streamOf(stream));
}

FAKE_API cudaError_t cudaFree(void* devPtr)
{
    return release(devPtr, cudaMemoryTypeDevice);
}

FAKE_API cudaError_t cudaFreeHost(void* ptr)
{
    return release(ptr, cudaMemoryTypeHost);
}

FAKE_API cudaError_t cudaFreeAsync(void* devPtr, cudaStream_t stream)
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.allocations.count(devPtr))
        return fail(cudaErrorInvalidValue);
    streamOf(stream)->pendingFrees.push_back(devPtr);
    return cudaSuccess;
}
