// The spool file of this process image: <TIDEMARK_SPOOL_DIR>/<pid>.<image_seq>.tmspool, created
// with O_EXCL (the first free image_seq, so an exec'd image gets the next number), its header, and
// chunk writes serialised by one mutex so a chunk is always contiguous in the file.
#include "interposer/runtime.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstddef>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

namespace tidemark::interposer {

namespace {

int g_fd = -1;
pthread_mutex_t g_writeMutex = PTHREAD_MUTEX_INITIALIZER;
std::atomic<bool> g_warned { false };

bool writeFully(const iovec* iov, int count) noexcept
{
    iovec local[3];
    std::memcpy(local, iov, sizeof(iovec) * size_t(count));
    iovec* cur = local;
    while (count > 0) {
        ssize_t n = ::writev(g_fd, cur, count);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        g_counters.bytesWritten.fetch_add(uint64_t(n), std::memory_order_relaxed);
        size_t left = size_t(n);
        while (count > 0 && left >= cur->iov_len) {
            left -= cur->iov_len;
            ++cur;
            --count;
        }
        if (count > 0) {
            cur->iov_base = static_cast<char*>(cur->iov_base) + left;
            cur->iov_len -= left;
        }
    }
    return true;
}

// Tells the collector when and why capture stopped, in the header (see SpoolFileHeader::stopped_ts_ns).
void markStopped(int error) noexcept
{
    timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct {
        uint64_t ts;
        uint32_t error;
    } __attribute__((packed)) mark { uint64_t(now.tv_sec) * 1'000'000'000 + uint64_t(now.tv_nsec), uint32_t(error) };
    static_assert(sizeof(mark) == 12);
    // The file is O_APPEND, under which Linux's pwrite appends; nothing is appended after this.
    int flags = ::fcntl(g_fd, F_GETFL);
    if (flags >= 0 && ::fcntl(g_fd, F_SETFL, flags & ~O_APPEND) == 0)
        (void)!::pwrite(g_fd, &mark, sizeof(mark), offsetof(wire::SpoolFileHeader, stopped_ts_ns));
    errno = error;
}

} // namespace

void fatal(const char* what) noexcept
{
    g_counters.writeErrors.fetch_add(1, std::memory_order_relaxed);
    if (!g_warned.exchange(true)) {
        char msg[256];
        std::snprintf(msg, sizeof(msg), "%s (errno %d); capture turned off, the program continues", what, errno);
        log(LogLevel::Warn, msg);
    }
    g_hostActive.store(false);
    g_phase.store(uint32_t(Phase::Inert));
}

bool openSpoolFile(uint32_t ppid) noexcept
{
    int savedErrno = errno;
    char path[1200];
    uint32_t seq = 0;
    int fd = -1;
    for (; seq < 100000; ++seq) {
        std::snprintf(path, sizeof(path), "%s/%u.%u.tmspool", g_config.spoolDir, g_pid, seq);
        fd = ::open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        fatal("cannot create the spool file in TIDEMARK_SPOOL_DIR");
        errno = savedErrno;
        return false;
    }
    // A program that closed stdin, stdout or stderr would get our spool as that descriptor: its own
    // writes to fd 2 would land in the spool (and break it), and ours would take the fd it opens
    // next. The spool lives above them.
    if (fd <= 2) {
        int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ::close(fd);
        fd = high;
        if (fd < 0) {
            fatal("cannot move the spool file above descriptor 2");
            errno = savedErrno;
            return false;
        }
    }
    g_fd = fd;
    wire::SpoolFileHeader h {};
    std::memcpy(h.magic, wire::kSpoolMagic, sizeof(h.magic));
    h.version = wire::kSpoolVersion;
    h.header_bytes = sizeof(h);
    h.pid = g_pid;
    h.ppid = ppid;
    h.image_seq = seq;
    h.start_ts_ns = g_startNs;
    timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    h.start_realtime_ns = uint64_t(rt.tv_sec) * 1000000000ull + uint64_t(rt.tv_nsec);
    iovec iov { &h, sizeof(h) };
    pthread_mutex_lock(&g_writeMutex);
    bool ok = writeFully(&iov, 1);
    pthread_mutex_unlock(&g_writeMutex);
    if (!ok)
        fatal("cannot write the spool file header");
    errno = savedErrno;
    return ok;
}

bool writeChunk(uint32_t tid, const void* a, size_t aBytes, const void* b, size_t bBytes) noexcept
{
    if (g_fd < 0)
        return false;
    int savedErrno = errno;
    wire::ChunkHeader ch { wire::kChunkMagic, uint32_t(aBytes + bBytes), tid, 0 };
    iovec iov[3] = { { &ch, sizeof(ch) }, { const_cast<void*>(a), aBytes }, { const_cast<void*>(b), bBytes } };
    pthread_mutex_lock(&g_writeMutex);
    bool ok = writeFully(iov, bBytes ? 3 : 2);
    if (!ok)
        markStopped(errno);
    pthread_mutex_unlock(&g_writeMutex);
    if (ok)
        g_counters.chunks.fetch_add(1, std::memory_order_relaxed);
    else
        fatal("writing the spool file failed");
    errno = savedErrno;
    return ok;
}

// Fork child: the inherited descriptor is the parent's file; close it (never write to it) and
// reset the mutex, which another parent thread may have held at the moment of fork.
void closeSpoolFileInChild() noexcept
{
    if (g_fd >= 0)
        ::close(g_fd);
    g_fd = -1;
    pthread_mutex_init(&g_writeMutex, nullptr);
    g_warned.store(false);
}

} // namespace tidemark::interposer
