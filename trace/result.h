// Result<T> and typed errors shared by every module that reads or writes recordings.
// No exceptions cross module boundaries: functions that can fail return a Result.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tidemark {

enum class ErrorCode {
    Ok = 0,
    NotARecording, // the file exists but is not a tidemark recording (foreign SQLite file or not SQLite)
    NewerSchema,   // written by a newer tidemark; names both schema versions
    OlderSchema,   // written by an older tidemark: `tidemark upgrade` brings it to this one's schema
    Corrupt,       // truncated or damaged file, or data that violates the format
    Io,            // cannot open, read or write
    Usage,         // bad arguments from the caller
    Unsupported,   // input understood but not supported (e.g. a pickle global)
    Cancelled,     // the caller asked to stop
    NotFound,      // a named thing (table, space, phase) does not exist
};

const char* errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Ok;
    std::string message; // one line, no trailing period, suitable after "tidemark: error: "
    std::string hint;    // optional second line for the user
};

inline Error makeError(ErrorCode code, std::string message, std::string hint = {})
{
    return Error { code, std::move(message), std::move(hint) };
}

template<typename T>
class Result {
public:
    Result(T value)
        : m_v(std::move(value))
    {
    }
    Result(Error error)
        : m_v(std::move(error))
    {
    }

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(m_v); }

private:
    std::variant<T, Error> m_v;
};

// Result of an operation with no value.
struct Ok { };
using Status = Result<Ok>;
inline Status okStatus() { return Ok {}; }

} // namespace tidemark
