// JSON in and out. What comes from outside (budget files, baselines, traces) is parsed with a bound on
// nesting: nlohmann's parser itself is iterative, but copying and destroying a value recurse once per
// level, so a file nested 100 000 deep would overflow the stack. Real inputs nest a handful of levels.
// What goes out is written with dumpJson, never json::dump's default, which throws on a string that
// is not UTF-8 (a Linux path, a frame name or a budget's text can hold any bytes).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tidemark::analysis {

constexpr int kMaxJsonDepth = 256;

struct JsonTooDeep : std::runtime_error {
    JsonTooDeep()
        : std::runtime_error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels")
    {
    }
};

// Throws JsonTooDeep from inside a parser callback as soon as depth passes the bound.
inline void checkJsonDepth(int depth)
{
    if (depth > kMaxJsonDepth)
        throw JsonTooDeep();
}

// The document, or nullopt with why in *error: damaged JSON, or nested too deep.
inline std::optional<nlohmann::json> parseJsonInput(std::string_view text, std::string* error)
{
    try {
        auto doc = nlohmann::json::parse(text.begin(), text.end(),
            [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
                checkJsonDepth(depth);
                return true;
            });
        return doc;
    } catch (const JsonTooDeep& e) {
        *error = e.what();
    } catch (const nlohmann::json::exception& e) {
        *error = e.what();
    }
    return std::nullopt;
}

// Text of a JSON value; invalid UTF-8 in strings becomes U+FFFD instead of an exception.
inline std::string dumpJson(const nlohmann::json& value, int indent = -1)
{
    return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace tidemark::analysis
