// Calls that end an image without returning: the exec family writes ProcessExit(Exec) and flushes
// before the real call (the new image opens <pid>.<image_seq+1>.tmspool; if the call fails,
// tracking goes on and the failure is counted), and _exit/_Exit write ProcessExit(Exit), since
// they skip atexit and destructors (shells end this way). vfork children and unfollowed fork
// children skip all this (their pid is not the recorded one / they are inert).
#include "interposer/runtime.h"

#include <cerrno>
#include <cstdarg>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

namespace {

void beforeExec() noexcept
{
    if (!active() || uint32_t(::getpid()) != g_pid)
        return;
    int saved = errno;
    g_counters.execCalls.fetch_add(1, std::memory_order_relaxed);
    finishImage(wire::ExitReason::Exec);
    errno = saved;
}

void afterFailedExec() noexcept
{
    if (active() && uint32_t(::getpid()) == g_pid)
        g_counters.execFailed.fetch_add(1, std::memory_order_relaxed);
}

template <typename F> F real(const char* name) noexcept
{
    ReentryGuard guard;
    return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ExecvFn = int (*)(const char*, char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);

// Collects the variadic arguments of execl/execlp/execle into argv (NULL-terminated).
size_t countArgs(const char* first, va_list ap) noexcept
{
    if (!first)
        return 0;
    size_t n = 1;
    while (va_arg(ap, char*))
        ++n;
    return n;
}

} // namespace

} // namespace tidemark::interposer

using namespace tidemark::interposer;

#define TIDEMARK_EXEC_CALL(TYPE, NAME, ...)                                                                     \
    static TYPE fn = nullptr;                                                                                \
    if (!fn)                                                                                                 \
        fn = real<TYPE>(NAME);                                                                               \
    if (!fn) {                                                                                               \
        errno = ENOSYS;                                                                                      \
        return -1;                                                                                           \
    }                                                                                                        \
    beforeExec();                                                                                            \
    int rc = fn(__VA_ARGS__);                                                                                \
    afterFailedExec();                                                                                       \
    return rc;

extern "C" {

TIDEMARK_EXPORT int execve(const char* path, char* const argv[], char* const envp[])
{
    TIDEMARK_EXEC_CALL(ExecveFn, "execve", path, argv, envp)
}

TIDEMARK_EXPORT int execv(const char* path, char* const argv[]) { TIDEMARK_EXEC_CALL(ExecvFn, "execv", path, argv) }

TIDEMARK_EXPORT int execvp(const char* file, char* const argv[]) { TIDEMARK_EXEC_CALL(ExecvFn, "execvp", file, argv) }

TIDEMARK_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[])
{
    TIDEMARK_EXEC_CALL(ExecveFn, "execvpe", file, argv, envp)
}

TIDEMARK_EXPORT int fexecve(int fd, char* const argv[], char* const envp[])
{
    TIDEMARK_EXEC_CALL(FexecveFn, "fexecve", fd, argv, envp)
}

TIDEMARK_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags)
{
    TIDEMARK_EXEC_CALL(ExecveatFn, "execveat", dirfd, path, argv, envp, flags)
}

// execl/execlp/execle build argv on the stack (no allocation) and go through the hooks above.
TIDEMARK_EXPORT int execl(const char* path, const char* arg, ...)
{
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = countArgs(arg, cp);
    va_end(cp);
    char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
    argv[0] = const_cast<char*>(arg);
    for (size_t i = 1; i <= n; ++i)
        argv[i] = va_arg(ap, char*);
    va_end(ap);
    return execv(path, argv);
}

TIDEMARK_EXPORT int execlp(const char* file, const char* arg, ...)
{
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = countArgs(arg, cp);
    va_end(cp);
    char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
    argv[0] = const_cast<char*>(arg);
    for (size_t i = 1; i <= n; ++i)
        argv[i] = va_arg(ap, char*);
    va_end(ap);
    return execvp(file, argv);
}

TIDEMARK_EXPORT int execle(const char* path, const char* arg, ...)
{
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = countArgs(arg, cp);
    va_end(cp);
    char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
    argv[0] = const_cast<char*>(arg);
    for (size_t i = 1; i <= n; ++i)
        argv[i] = va_arg(ap, char*);
    char* const* envp = va_arg(ap, char* const*);
    va_end(ap);
    return execve(path, argv, envp);
}

// exit() reaches the kernel through glibc's internal _exit, not through these, so a normal exit is
// finished once, by the library destructor.
[[noreturn]] static void exitNow(const char* name, int status)
{
    if (active() && uint32_t(::getpid()) == g_pid) {
        finishImage(tidemark::wire::ExitReason::Exit);
        g_phase.store(uint32_t(Phase::Finished));
        g_hostActive.store(false);
    }
    auto fn = real<void (*)(int)>(name);
    if (fn)
        fn(status);
    ::syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

TIDEMARK_EXPORT void _exit(int status) { exitNow("_exit", status); }
TIDEMARK_EXPORT void _Exit(int status) { exitNow("_Exit", status); }

} // extern "C"
