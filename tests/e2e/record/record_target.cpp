// The program `tidemark record` is tested on: each mode has a known allocation pattern or a known
// way to end (exit code, crash, SIGKILL), and prints its own ground truth on stdout.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void* volatile g_sink;

__attribute__((noinline)) void plantedLeak(int blocks, size_t bytes)
{
    for (int i = 0; i < blocks; ++i) {
        void* p = std::malloc(bytes);
        std::memset(p, 1, bytes);
        g_sink = p; // never freed
    }
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void temporaries(int count, size_t bytes)
{
    for (int i = 0; i < count; ++i) {
        void* p = std::malloc(bytes);
        g_sink = p;
        std::free(p);
    }
    asm volatile("" ::: "memory");
}

void* threadMain(void* arg)
{
    long index = reinterpret_cast<long>(arg);
    temporaries(100, 4242);
    plantedLeak(1, 5000 + index);
    return nullptr;
}

int threads()
{
    pthread_t t[4];
    for (long i = 0; i < 4; ++i)
        pthread_create(&t[i], nullptr, threadMain, reinterpret_cast<void*>(i));
    for (auto& th : t)
        pthread_join(th, nullptr);
    std::printf("threads=4 temporaries_per_thread=100 temporary_bytes=4242\n");
    return 0;
}

int forked()
{
    pid_t child = fork();
    if (child == 0) {
        plantedLeak(5, 777);
        std::exit(0); // a normal exit; _exit would skip the capture library's final flush
    }
    int status = 0;
    waitpid(child, &status, 0);
    plantedLeak(1, 555);
    std::printf("child_pid=%d child_leaked_blocks=5 child_leaked_size=777\n", child);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    const char* mode = argc > 1 ? argv[1] : "leak";
    if (!std::strcmp(mode, "exit"))
        return argc > 2 ? std::atoi(argv[2]) : 0;
    if (!std::strcmp(mode, "leak")) {
        temporaries(10, 100);
        plantedLeak(3, 1000);
        std::printf("leaked_blocks=3 leaked_size=1000 temporaries=10 temporary_size=100\n");
        return 0;
    }
    if (!std::strcmp(mode, "segv")) {
        plantedLeak(2, 1000);
        usleep(50000); // well past the capture library's flush interval
        *static_cast<volatile int*>(nullptr) = 1;
        return 0;
    }
    if (!std::strcmp(mode, "kill")) {
        plantedLeak(2, 1000);
        usleep(50000); // well past the capture library's flush interval
        raise(SIGKILL);
        return 0;
    }
    if (!std::strcmp(mode, "sleep")) {
        plantedLeak(1, 1000);
        sleep(30); // until a signal arrives
        return 0;
    }
    if (!std::strcmp(mode, "threads"))
        return threads();
    if (!std::strcmp(mode, "fork"))
        return forked();
    if (!std::strcmp(mode, "exec")) {
        plantedLeak(1, 333);
        execl("/proc/self/exe", argv[0], "leak", static_cast<char*>(nullptr));
        return 99;
    }
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 64;
}
