// A restricted reader for Python pickles (protocols 0-5, plain data only): it builds None, bools, ints,
// floats, strings, bytes, lists, tuples, sets and dicts, and refuses every opcode that could name or call
// Python code (GLOBAL, REDUCE, BUILD, ...) with a typed Unsupported error. Values live in one arena and
// refer to each other by index, so hostile inputs (cycles through the memo, deep nesting) cannot recurse.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::import {

struct PickleLimits {
    uint64_t maxValues = 32u << 20;     // objects created in total (~80 bytes each)
    uint32_t maxDepth = 512;            // container nesting
    uint32_t maxMarks = 4096;           // open MARKs
    uint64_t maxMemo = 16u << 20;       // memo entries
    uint64_t maxStringBytes = 1u << 30; // one string or bytes object
};

enum class PickleKind : uint8_t { None, Bool, Int, Float, String, Bytes, List, Tuple, Set, Dict };

struct PickleValue {
    PickleKind kind = PickleKind::None;
    uint32_t depth = 0;          // nesting depth of containers below (0 for scalars)
    int64_t i = 0;               // Int, Bool
    double f = 0.0;              // Float
    std::string s;               // String, Bytes
    std::vector<uint32_t> items; // List/Tuple/Set: elements; Dict: key, value, key, value, ...
};

class PickleDoc;

// A read-only handle on one value; a missing value (absent key, index out of range) is a valid handle
// whose kind() is None and whose accessors return the fallback.
class PickleRef {
public:
    PickleRef() = default;
    PickleRef(const PickleDoc* doc, uint32_t index)
        : m_doc(doc)
        , m_index(index)
    {
    }

    bool exists() const { return m_doc != nullptr; }
    PickleKind kind() const;
    bool isDict() const { return kind() == PickleKind::Dict; }
    bool isList() const { return kind() == PickleKind::List || kind() == PickleKind::Tuple; }
    bool isInt() const { return kind() == PickleKind::Int || kind() == PickleKind::Bool; }

    int64_t asInt(int64_t fallback = 0) const;
    double asDouble(double fallback = 0.0) const; // ints convert
    std::string_view asString(std::string_view fallback = {}) const;
    bool asBool(bool fallback = false) const;

    size_t size() const; // elements of a list/tuple/set; pairs of a dict
    PickleRef at(size_t i) const;
    PickleRef operator[](std::string_view key) const; // dict lookup by string key
    PickleRef keyAt(size_t i) const;                  // dict: i-th key
    PickleRef valueAt(size_t i) const;                // dict: i-th value

private:
    const PickleValue* value() const;
    const PickleDoc* m_doc = nullptr;
    uint32_t m_index = 0;
};

class PickleDoc {
public:
    const PickleValue& value(uint32_t index) const { return m_values[index]; }
    PickleRef root() const { return PickleRef(this, m_root); }
    size_t valueCount() const { return m_values.size(); }

private:
    friend class PickleParser;
    std::vector<PickleValue> m_values;
    uint32_t m_root = 0;
};

// Parses a whole pickle, reading the stream as it goes (the bytes are not held, only the values).
// Errors: Corrupt (truncated, malformed, stack misuse), Unsupported (an opcode that is refused or
// unknown, an integer wider than 64 bits), Usage (a limit was exceeded).
Result<PickleDoc> parsePickle(std::streambuf& in, const PickleLimits& limits = {});
Result<PickleDoc> parsePickle(std::string_view data, const PickleLimits& limits = {});

// The opcode's name for messages ("GLOBAL", "REDUCE", ...), or "0x.." when it has none.
std::string pickleOpcodeName(uint8_t op);

} // namespace tidemark::import
