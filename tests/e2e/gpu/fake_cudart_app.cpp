// A small "training program" for the GPU capture tests, linked (dynamically, as real apps link
// libcudart.so) against the fake CUDA runtime TEST DOUBLE: it allocates on two fake devices inside
// NVTX phases, frees asynchronously on a stream, leaves one buffer live, and runs device 0 out of
// memory. It prints its own ground truth ("TRUTH ..." lines) for the test to compare against.
#include <cuda_runtime_api.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <link.h>
#include <map>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Mine {
    int device;
    size_t size;
};
std::map<void*, Mine> g_live; // what this program holds, per its own bookkeeping

void truthAlloc(const char* api, const char* space, int device, size_t size, void* ptr, const char* phase)
{
    std::printf(
        "TRUTH alloc api=%s space=%s device=%d size=%zu ptr=%p phase=%s\n", api, space, device, size, ptr, phase);
    g_live[ptr] = { device, size };
}

void truthFree(const char* api, void* ptr)
{
    std::printf("TRUTH free api=%s ptr=%p\n", api, ptr);
    g_live.erase(ptr);
}

size_t liveOn(int device)
{
    size_t total = 0;
    for (auto& [p, m] : g_live)
        total += m.device == device ? m.size : 0;
    return total;
}

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            std::fprintf(stderr, "%s failed: %d\n", #call, static_cast<int>(e_));                                      \
            std::exit(3);                                                                                              \
        }                                                                                                              \
    } while (0)

// The executable's own address range, so the test can check that allocation stacks reach main().
int printExeRange(dl_phdr_info* info, size_t, void*)
{
    if (info->dlpi_name && info->dlpi_name[0])
        return 0; // the main program is the entry with an empty name
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD)
            continue;
        lo = std::min<uint64_t>(lo, info->dlpi_addr + ph.p_vaddr);
        hi = std::max<uint64_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    }
    std::printf(
        "TRUTH exe lo=0x%llx hi=0x%llx\n", static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
    return 1;
}

} // namespace

// "fork" mode: a forked child (like a data-loader worker) makes CUDA calls of its own; each
// process must report only its own calls.
int forkMode()
{
    void *parent, *child;
    CHECK(cudaMalloc(&parent, 1 << 20));
    CHECK(cudaMalloc(&parent, 1 << 20));
    pid_t pid = fork();
    if (pid == 0) {
        CHECK(cudaMalloc(&child, 2 << 20));
        CHECK(cudaFree(child));
        std::printf("TRUTH child pid=%d mallocs=1 frees=1\n", static_cast<int>(getpid()));
        std::fflush(stdout);
        std::exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::printf("TRUTH parent pid=%d mallocs=2 frees=0\n", static_cast<int>(getpid()));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 5;
}

int main(int argc, char** argv)
{
    if (argc > 1 && std::string(argv[1]) == "fork")
        return forkMode();
    dl_iterate_phdr(&printExeRange, nullptr);
    void *a, *b, *pinned, *managed, *async, *pitched, *leak;
    size_t pitch = 0;
    cudaStream_t stream;

    nvtxRangePushA("setup");
    CHECK(cudaSetDevice(0));
    CHECK(cudaMalloc(&a, 1 << 20));
    truthAlloc("cudaMalloc", "device", 0, 1 << 20, a, "setup");
    CHECK(cudaSetDevice(1));
    CHECK(cudaMalloc(&b, 2 << 20));
    truthAlloc("cudaMalloc", "device", 1, 2 << 20, b, "setup");
    CHECK(cudaStreamCreate(&stream)); // a stream of device 1
    CHECK(cudaMallocHost(&pinned, 64 << 10));
    truthAlloc("cudaMallocHost", "pinned", -1, 64 << 10, pinned, "setup");
    CHECK(cudaMallocManaged(&managed, 128 << 10, cudaMemAttachGlobal));
    truthAlloc("cudaMallocManaged", "managed", -1, 128 << 10, managed, "setup");
    nvtxRangePop();

    nvtxRangePushA("train_step");
    nvtxRangePushA("forward");
    CHECK(cudaMallocAsync(&async, 4 << 20, stream));
    truthAlloc("cudaMallocAsync", "device", 1, 4 << 20, async, "forward");
    CHECK(cudaSetDevice(0));
    CHECK(cudaMallocPitch(&pitched, &pitch, 1000, 64));
    truthAlloc("cudaMallocPitch", "device", 0, pitch * 64, pitched, "forward");
    cudaPitchedPtr p3 {};
    CHECK(cudaMalloc3D(&p3, cudaExtent { 300, 16, 4 }));
    truthAlloc("cudaMalloc3D", "device", 0, p3.pitch * 16 * 4, p3.ptr, "forward");
    nvtxRangePop();
    nvtxRangePushA("backward");
    CHECK(cudaFreeAsync(async, stream));
    truthFree("cudaFreeAsync", async);
    CHECK(cudaMalloc(&leak, 3 << 20)); // never freed
    truthAlloc("cudaMalloc", "device", 0, 3 << 20, leak, "backward");
    nvtxRangePop();
    nvtxRangePop();

    nvtxRangePushA("oom");
    size_t freeBytes = 0, totalBytes = 0;
    CHECK(cudaMemGetInfo(&freeBytes, &totalBytes));
    void* huge = nullptr;
    size_t request = freeBytes + (1 << 20); // one MiB more than is left on device 0
    cudaError_t e = cudaMalloc(&huge, request);
    std::printf("TRUTH failed api=cudaMalloc device=0 size=%zu error=%d free=%zu total=%zu live=%zu phase=oom\n",
        request, static_cast<int>(e), freeBytes, totalBytes, liveOn(0));
    nvtxRangePop();

    CHECK(cudaSetDevice(1)); // free device-0 memory while device 1 is current
    CHECK(cudaFree(a));
    truthFree("cudaFree", a);
    CHECK(cudaFree(pitched));
    truthFree("cudaFree", pitched);
    CHECK(cudaFree(p3.ptr));
    truthFree("cudaFree", p3.ptr);
    CHECK(cudaFree(b));
    truthFree("cudaFree", b);
    CHECK(cudaFree(managed));
    truthFree("cudaFree", managed);
    CHECK(cudaFreeHost(pinned));
    truthFree("cudaFreeHost", pinned);
    CHECK(cudaStreamSynchronize(stream));
    CHECK(cudaStreamDestroy(stream));
    std::printf("TRUTH done exit=0\n");
    return e == cudaErrorMemoryAllocation ? 0 : 4;
}
