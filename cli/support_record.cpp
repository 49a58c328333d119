// Process handling for `tidemark record`: fork + exec with a close-on-exec pipe that reports exec
// failures, signal forwarding, and the shell's conventions for exit codes.
#include "cli/support_record.h"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tidemark::cli {

namespace {

    volatile sig_atomic_t g_target = 0;

    void forwardSignal(int sig, siginfo_t* info, void*)
    {
        // A signal from the terminal already reached the target (same process group); forward only the
        // ones sent to tidemark alone by kill(2), so the target never gets a signal twice.
        if (g_target > 0 && info && info->si_code <= 0)
            ::kill(g_target, sig);
    }

    void installForwarding()
    {
        struct sigaction sa { };
        sa.sa_sigaction = forwardSignal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        for (int sig : { SIGINT, SIGTERM, SIGHUP })
            sigaction(sig, &sa, nullptr);
    }

    std::vector<std::string> buildEnvironment(const EnvOverrides& overrides)
    {
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) {
            std::string_view entry(*e);
            bool replaced = false;
            for (const auto& [key, value] : overrides)
                if (entry.size() > key.size() && entry.substr(0, key.size()) == key && entry[key.size()] == '=')
                    replaced = true;
            if (!replaced)
                env.emplace_back(entry);
        }
        for (const auto& [key, value] : overrides)
            env.push_back(key + "=" + value);
        return env;
    }

} // namespace

Result<std::string> findCaptureLibrary()
{
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec)
        return makeError(ErrorCode::Io, "cannot find tidemark's own location: " + ec.message());
    auto prefix = exe.parent_path().parent_path();
    // lib/ in the build tree and most installs; GNUInstallDirs may pick lib64 or a multiarch
    // directory for some prefixes.
    for (const char* libdir : { "lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu" }) {
        auto lib = prefix / libdir / "tidemark" / "libtidemark.so";
        if (::access(lib.c_str(), R_OK) == 0)
            return lib.lexically_normal().string();
    }
    auto expected = (prefix / "lib" / "tidemark" / "libtidemark.so").lexically_normal();
    return makeError(ErrorCode::Io, "the capture library is missing: " + expected.string(),
        "build the tidemark_preload target or reinstall tidemark (bin/ and lib/tidemark/ belong together)");
}

std::optional<int64_t> launcherRank()
{
    for (const char* name : { "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID" }) {
        const char* v = std::getenv(name);
        if (!v || !*v)
            continue;
        char* end = nullptr;
        long long r = std::strtoll(v, &end, 10);
        if (end && *end == '\0' && r >= 0)
            return r;
    }
    return std::nullopt;
}

std::string hostName()
{
    char buf[HOST_NAME_MAX + 1] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0)
        return "localhost";
    return buf;
}

std::string expandOutputPattern(const std::string& pattern, int pid, const std::string& host, int64_t rank)
{
    std::string out;
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '%' || i + 1 == pattern.size()) {
            out += pattern[i];
            continue;
        }
        char c = pattern[++i];
        if (c == 'p')
            out += std::to_string(pid);
        else if (c == 'h')
            out += host;
        else if (c == 'r')
            out += std::to_string(rank);
        else if (c == '%')
            out += '%';
        else {
            out += '%';
            out += c;
        }
    }
    return out;
}

std::string shellQuote(const std::vector<std::string>& argv)
{
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty())
            out += ' ';
        bool plain = !a.empty()
            && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%")
                == std::string::npos;
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a)
            out += c == '\'' ? std::string("'\\''") : std::string(1, c);
        out += '\'';
    }
    return out;
}

Result<int> startTarget(const std::vector<std::string>& argv, const EnvOverrides& overrides)
{
    std::vector<std::string> env = buildEnvironment(overrides);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env)
        cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return makeError(ErrorCode::Io, std::string("cannot create a pipe: ") + std::strerror(errno));
    installForwarding();
    pid_t pid = fork();
    if (pid < 0)
        return makeError(ErrorCode::Io, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(pipefd[0]);
        execvpe(cargv[0], cargv.data(), cenv.data());
        int err = errno;
        (void)!::write(pipefd[1], &err, sizeof(err));
        _exit(127);
    }
    g_target = pid;
    ::close(pipefd[1]);
    int err = 0;
    ssize_t n;
    do {
        n = ::read(pipefd[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    ::close(pipefd[0]);
    if (n == static_cast<ssize_t>(sizeof(err))) {
        waitTarget(pid);
        g_target = 0;
        return makeError(ErrorCode::Io, "cannot start '" + argv[0] + "': " + std::strerror(err),
            err == ENOENT ? "check the program name and PATH" : std::string());
    }
    return static_cast<int>(pid);
}

int waitTarget(int pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = 127 << 8;
            break;
        }
    }
    // The pid may be reused from now on: stop forwarding, and let Ctrl-C interrupt the ingest.
    g_target = 0;
    for (int sig : { SIGINT, SIGTERM, SIGHUP })
        signal(sig, SIG_DFL);
    return status;
}

int shellExitCode(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

std::string signalDescription(int status)
{
    if (!WIFSIGNALED(status))
        return {};
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    std::string name = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
    bool crash = sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT || sig == SIGSYS
        || sig == SIGTRAP;
    return (crash ? "crashed with " : "killed by ") + name;
}

} // namespace tidemark::cli
