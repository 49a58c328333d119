// One-line logging from inside the target: signal-safe formatting and a single write(2).
#include "interposer/emit.h"

#include <cstdlib>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

namespace {

int levelFromEnv() noexcept
{
    static int cached = -1;
    if (cached >= 0)
        return cached;
    const char* v = std::getenv("TIDEMARK_LOG");
    int level = static_cast<int>(LogLevel::Warn);
    if (v) {
        if (!std::strcmp(v, "error"))
            level = 0;
        else if (!std::strcmp(v, "warn"))
            level = 1;
        else if (!std::strcmp(v, "info"))
            level = 2;
        else if (!std::strcmp(v, "debug"))
            level = 3;
    }
    cached = level;
    return level;
}

size_t appendText(char* buf, size_t pos, size_t cap, const char* text) noexcept
{
    while (*text && pos + 1 < cap)
        buf[pos++] = *text++;
    return pos;
}

size_t appendNumber(char* buf, size_t pos, size_t cap, unsigned long value) noexcept
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value && n < 24);
    while (n > 0 && pos + 1 < cap)
        buf[pos++] = digits[--n];
    return pos;
}

} // namespace

void log(LogLevel level, const char* message) noexcept
{
    if (static_cast<int>(level) > levelFromEnv())
        return;
    static const char* const kNames[] = { "error", "warn", "info", "debug" };
    char buf[512];
    size_t pos = appendText(buf, 0, sizeof(buf), "tidemark[");
    pos = appendNumber(buf, pos, sizeof(buf), static_cast<unsigned long>(getpid()));
    pos = appendText(buf, pos, sizeof(buf), ":");
    pos = appendNumber(buf, pos, sizeof(buf), static_cast<unsigned long>(syscall(SYS_gettid)));
    pos = appendText(buf, pos, sizeof(buf), "] ");
    pos = appendText(buf, pos, sizeof(buf), kNames[static_cast<int>(level)]);
    pos = appendText(buf, pos, sizeof(buf), ": ");
    pos = appendText(buf, pos, sizeof(buf) - 1, message);
    buf[pos++] = '\n';
    ssize_t ignored = ::write(STDERR_FILENO, buf, pos);
    (void)ignored;
}

} // namespace tidemark::interposer
