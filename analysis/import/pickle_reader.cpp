// The restricted pickle machine: a stack of value indices, a mark stack and a memo, all bounded by
// PickleLimits. Opcodes that would import or call Python objects are refused, never skipped.
#include "analysis/import/pickle_reader.h"

#include "analysis/import/input_bytes.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_map>

namespace tidemark::import {

namespace {

struct OpName {
    uint8_t op;
    const char* name;
};

constexpr OpName kOpNames[] = {
    { '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" }, { '2', "DUP" }, { 'F', "FLOAT" },
    { 'I', "INT" }, { 'J', "BININT" }, { 'K', "BININT1" }, { 'L', "LONG" }, { 'M', "BININT2" }, { 'N', "NONE" },
    { 'P', "PERSID" }, { 'Q', "BINPERSID" }, { 'R', "REDUCE" }, { 'S', "STRING" }, { 'T', "BINSTRING" },
    { 'U', "SHORT_BINSTRING" }, { 'V', "UNICODE" }, { 'X', "BINUNICODE" }, { 'a', "APPEND" }, { 'b', "BUILD" },
    { 'c', "GLOBAL" }, { 'd', "DICT" }, { '}', "EMPTY_DICT" }, { 'e', "APPENDS" }, { 'g', "GET" },
    { 'h', "BINGET" }, { 'i', "INST" }, { 'j', "LONG_BINGET" }, { 'l', "LIST" }, { ']', "EMPTY_LIST" },
    { 'o', "OBJ" }, { 'p', "PUT" }, { 'q', "BINPUT" }, { 'r', "LONG_BINPUT" }, { 's', "SETITEM" },
    { 't', "TUPLE" }, { ')', "EMPTY_TUPLE" }, { 'u', "SETITEMS" }, { 'G', "BINFLOAT" }, { 0x80, "PROTO" },
    { 0x81, "NEWOBJ" }, { 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" }, { 0x85, "TUPLE1" },
    { 0x86, "TUPLE2" }, { 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" }, { 0x89, "NEWFALSE" }, { 0x8a, "LONG1" },
    { 0x8b, "LONG4" }, { 'B', "BINBYTES" }, { 'C', "SHORT_BINBYTES" }, { 0x8c, "SHORT_BINUNICODE" },
    { 0x8d, "BINUNICODE8" }, { 0x8e, "BINBYTES8" }, { 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" },
    { 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" }, { 0x93, "STACK_GLOBAL" }, { 0x94, "MEMOIZE" },
    { 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" }, { 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" },
};

// Opcodes that name, build or call Python objects: refused by design, whatever they reference.
constexpr uint8_t kRefused[] = { 'c', 0x93, 'R', 'b', 'i', 'o', 0x81, 0x92, 0x82, 0x83, 0x84, 'P', 'Q', 0x97, 0x98 };

} // namespace

std::string pickleOpcodeName(uint8_t op)
{
    for (const auto& n : kOpNames)
        if (n.op == op)
            return n.name;
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", op);
    return buf;
}

class PickleParser {
public:
    PickleParser(std::streambuf& in, const PickleLimits& limits)
        : m_in(in)
        , m_limits(limits)
    {
    }

    Result<PickleDoc> run();

private:
    Error truncated() const
    {
        return makeError(ErrorCode::Corrupt, "pickle truncated at byte " + std::to_string(m_base + m_buf.size()),
            "the file ends before the pickle's STOP opcode; was it copied completely?");
    }
    Error corrupt(const std::string& what) const
    {
        return makeError(ErrorCode::Corrupt, "malformed pickle at byte " + std::to_string(m_opPos) + ": " + what);
    }
    Error limit(const std::string& what) const
    {
        return makeError(ErrorCode::Usage, "pickle exceeds the reader's limit on " + what + " at byte "
                + std::to_string(m_opPos));
    }

    // The input is read 64 KiB at a time: need(n) makes the next n bytes readable (false when the
    // input ends first), take(n) consumes them. A string's bytes arrive as the input has them, so a
    // length field that lies costs no more memory than the file holds.
    bool need(uint64_t n);
    std::string_view take(size_t n)
    {
        std::string_view v(m_buf.data() + m_pos, n);
        m_pos += n;
        return v;
    }
    uint8_t takeByte() { return static_cast<uint8_t>(m_buf[m_pos++]); }
    uint64_t readLE(int n)
    {
        uint64_t v = 0;
        for (int k = 0; k < n; ++k)
            v |= static_cast<uint64_t>(takeByte()) << (8 * k);
        return v;
    }

    Result<uint32_t> make(PickleValue v);
    Result<uint32_t> pop();
    Result<size_t> popMark();
    Status push(PickleValue v);
    Status pushIndex(uint32_t idx);
    Status addChildren(uint32_t container, size_t from);
    Status step(uint8_t op, bool& stop);
    Status stepScalar(uint8_t op, bool& handled);
    Status stepContainer(uint8_t op, bool& handled);
    Status stepMemo(uint8_t op, bool& handled);
    Status closeMark(uint8_t op);
    Status readBinFloat();
    Status readLength(int width, PickleKind kind);
    Status readLongBytes(int widthOfLength);
    Status readTextLine(uint8_t op);
    Status buildTuple(size_t from);

    std::streambuf& m_in;
    std::string m_buf; // input bytes read and not yet consumed, from m_pos on
    size_t m_pos = 0;
    uint64_t m_base = 0; // input offset of m_buf[0]
    bool m_ended = false;
    PickleLimits m_limits;
    uint64_t m_opPos = 0;
    PickleDoc m_doc;
    std::vector<uint32_t> m_stack;
    std::vector<size_t> m_marks;
    std::unordered_map<uint64_t, uint32_t> m_memo;
};

bool PickleParser::need(uint64_t n)
{
    if (n <= m_buf.size() - m_pos)
        return true;
    m_base += m_pos;
    m_buf.erase(0, m_pos);
    m_pos = 0;
    constexpr size_t kChunk = 64 << 10;
    while (m_buf.size() < n && !m_ended) {
        size_t old = m_buf.size();
        m_buf.resize(old + kChunk);
        auto got = m_in.sgetn(m_buf.data() + old, kChunk);
        m_buf.resize(old + static_cast<size_t>(std::max<std::streamsize>(got, 0)));
        m_ended = got < static_cast<std::streamsize>(kChunk);
    }
    return n <= m_buf.size();
}

Result<uint32_t> PickleParser::make(PickleValue v)
{
    if (m_doc.m_values.size() >= m_limits.maxValues)
        return limit("the number of objects");
    m_doc.m_values.push_back(std::move(v));
    return static_cast<uint32_t>(m_doc.m_values.size() - 1);
}

Status PickleParser::push(PickleValue v)
{
    auto idx = make(std::move(v));
    if (!idx)
        return idx.error();
    return pushIndex(*idx);
}

Status PickleParser::pushIndex(uint32_t idx)
{
    if (m_stack.size() >= m_limits.maxValues)
        return limit("the stack size");
    m_stack.push_back(idx);
    return okStatus();
}

Result<uint32_t> PickleParser::pop()
{
    size_t floor = m_marks.empty() ? 0 : m_marks.back();
    if (m_stack.size() <= floor)
        return corrupt("pop from an empty stack");
    uint32_t v = m_stack.back();
    m_stack.pop_back();
    return v;
}

Result<size_t> PickleParser::popMark()
{
    if (m_marks.empty())
        return corrupt("no MARK to close");
    size_t from = m_marks.back();
    m_marks.pop_back();
    return from;
}

// Moves stack[from..] into the container on the stack just below them (APPENDS, SETITEMS, ADDITEMS).
Status PickleParser::addChildren(uint32_t container, size_t from)
{
    PickleValue& c = m_doc.m_values[container];
    if (c.kind != PickleKind::List && c.kind != PickleKind::Dict && c.kind != PickleKind::Set)
        return corrupt("adding items to something that is not a list, dict or set");
    if (c.kind == PickleKind::Dict && (m_stack.size() - from) % 2 != 0)
        return corrupt("odd number of items for a dict");
    uint32_t depth = c.depth;
    for (size_t k = from; k < m_stack.size(); ++k)
        depth = std::max(depth, m_doc.m_values[m_stack[k]].depth + 1);
    if (depth > m_limits.maxDepth)
        return limit("nesting depth");
    PickleValue& target = m_doc.m_values[container]; // no reallocation happened since `c`
    target.depth = depth;
    target.items.insert(target.items.end(), m_stack.begin() + static_cast<long>(from), m_stack.end());
    m_stack.resize(from);
    return okStatus();
}

Status PickleParser::buildTuple(size_t from)
{
    PickleValue t;
    t.kind = PickleKind::Tuple;
    for (size_t k = from; k < m_stack.size(); ++k)
        t.depth = std::max(t.depth, m_doc.m_values[m_stack[k]].depth + 1);
    if (t.depth > m_limits.maxDepth)
        return limit("nesting depth");
    t.items.assign(m_stack.begin() + static_cast<long>(from), m_stack.end());
    m_stack.resize(from);
    return push(std::move(t));
}

// BINUNICODE/BINBYTES family: a little-endian length of `width` bytes, then the payload.
Status PickleParser::readLength(int width, PickleKind kind)
{
    if (!need(width))
        return truncated();
    uint64_t n = readLE(width);
    if (n > m_limits.maxStringBytes)
        return limit("string length");
    if (!need(n))
        return truncated();
    PickleValue v;
    v.kind = kind;
    v.s.assign(take(n));
    return push(std::move(v));
}

// LONG1/LONG4: two's complement little-endian; accepted when it fits in 64 bits.
Status PickleParser::readLongBytes(int widthOfLength)
{
    if (!need(widthOfLength))
        return truncated();
    uint64_t n = readLE(widthOfLength);
    if (!need(n))
        return truncated();
    std::string_view bytes = take(n);
    bool negative = n > 0 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80);
    uint8_t fill = negative ? 0xff : 0x00;
    for (size_t k = 8; k < n; ++k)
        if (static_cast<uint8_t>(bytes[k]) != fill)
            return makeError(ErrorCode::Unsupported, "pickle integer wider than 64 bits at byte " + std::to_string(m_opPos));
    uint64_t v = negative ? ~uint64_t { 0 } : 0;
    for (size_t k = 0; k < std::min<size_t>(n, 8); ++k) {
        v &= ~(uint64_t { 0xff } << (8 * k));
        v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[k])) << (8 * k);
    }
    if (n == 8 && negative != static_cast<bool>(v >> 63))
        return makeError(ErrorCode::Unsupported, "pickle integer wider than 64 bits at byte " + std::to_string(m_opPos));
    PickleValue out;
    out.kind = PickleKind::Int;
    out.i = static_cast<int64_t>(v);
    return push(std::move(out));
}

// Protocol 0 INT/LONG/FLOAT: a decimal text line ("I01\n" and "I00\n" are True/False).
Status PickleParser::readTextLine(uint8_t op)
{
    constexpr size_t kMaxLine = 512; // far more than any number's text
    size_t end = std::string_view::npos;
    for (size_t have = 1; end == std::string_view::npos; have = m_buf.size() - m_pos + 1) {
        if (have > kMaxLine)
            return corrupt("number text longer than " + std::to_string(kMaxLine) + " bytes");
        if (!need(have))
            return truncated();
        end = std::string_view(m_buf).find('\n', m_pos);
    }
    if (end - m_pos > kMaxLine)
        return corrupt("number text longer than " + std::to_string(kMaxLine) + " bytes");
    std::string line(take(end - m_pos));
    m_pos += 1; // the newline
    if (op == 'L' && !line.empty() && line.back() == 'L')
        line.pop_back();
    PickleValue v;
    char* stop = nullptr;
    errno = 0;
    if (op == 'F') {
        v.kind = PickleKind::Float;
        v.f = std::strtod(line.c_str(), &stop);
    } else if (op == 'I' && (line == "01" || line == "00")) {
        v.kind = PickleKind::Bool;
        v.i = line == "01";
        stop = line.data() + line.size();
    } else {
        v.kind = PickleKind::Int;
        v.i = std::strtoll(line.c_str(), &stop, 10);
    }
    if (line.empty() || stop != line.c_str() + line.size() || errno == ERANGE)
        return corrupt("bad number text");
    return push(std::move(v));
}

// Scalars: protocol framing, None, bools, numbers, strings and bytes. handled=false for other opcodes.
Status PickleParser::stepScalar(uint8_t op, bool& handled)
{
    handled = true;
    auto scalar = [&](PickleKind kind, int64_t i) {
        PickleValue v;
        v.kind = kind;
        v.i = i;
        return push(std::move(v));
    };
    auto fixedInt = [&](int width, bool isSigned) -> Status {
        if (!need(width))
            return truncated();
        uint64_t raw = readLE(width);
        int64_t v = isSigned ? static_cast<int32_t>(static_cast<uint32_t>(raw)) : static_cast<int64_t>(raw);
        return scalar(PickleKind::Int, v);
    };
    switch (op) {
    case 0x80: // PROTO
        if (!need(1))
            return truncated();
        if (takeByte() > 5)
            return makeError(ErrorCode::Unsupported, "pickle protocol newer than 5");
        return okStatus();
    case 0x95: // FRAME: a length hint; the data follows inline
        if (!need(8))
            return truncated();
        take(8);
        return okStatus();
    case 'N': return scalar(PickleKind::None, 0);
    case 0x88: return scalar(PickleKind::Bool, 1);
    case 0x89: return scalar(PickleKind::Bool, 0);
    case 'J': return fixedInt(4, true);
    case 'K': return fixedInt(1, false);
    case 'M': return fixedInt(2, false);
    case 0x8a: return readLongBytes(1);
    case 0x8b: return readLongBytes(4);
    case 'I':
    case 'L':
    case 'F': return readTextLine(op);
    case 'G': return readBinFloat();
    case 'X':
    case 'T': return readLength(4, PickleKind::String);
    case 0x8c:
    case 'U': return readLength(1, PickleKind::String);
    case 0x8d: return readLength(8, PickleKind::String);
    case 'B': return readLength(4, PickleKind::Bytes);
    case 'C': return readLength(1, PickleKind::Bytes);
    case 0x8e:
    case 0x96: return readLength(8, PickleKind::Bytes);
    default: handled = false; return okStatus();
    }
}

Status PickleParser::readBinFloat()
{
    if (!need(8))
        return truncated();
    uint64_t bits = 0;
    for (int k = 0; k < 8; ++k)
        bits = (bits << 8) | takeByte();
    PickleValue v;
    v.kind = PickleKind::Float;
    v.f = std::bit_cast<double>(bits);
    return push(std::move(v));
}

// Containers, marks and stack manipulation. handled=false for other opcodes.
Status PickleParser::stepContainer(uint8_t op, bool& handled)
{
    handled = true;
    auto empty = [&](PickleKind kind) {
        PickleValue v;
        v.kind = kind;
        return push(std::move(v));
    };
    size_t floor = m_marks.empty() ? 0 : m_marks.back();
    switch (op) {
    case '}': return empty(PickleKind::Dict);
    case ']': return empty(PickleKind::List);
    case ')': return empty(PickleKind::Tuple);
    case 0x8f: return empty(PickleKind::Set);
    case '(':
        if (m_marks.size() >= m_limits.maxMarks)
            return limit("open MARKs");
        m_marks.push_back(m_stack.size());
        return okStatus();
    case 't':
    case 'l':
    case 'd':
    case 0x91: return closeMark(op);
    case 0x85:
    case 0x86:
    case 0x87: { // TUPLE1..3
        size_t n = op - 0x84u;
        if (m_stack.size() < floor + n)
            return corrupt("tuple of missing items");
        return buildTuple(m_stack.size() - n);
    }
    case 'a':
    case 's': { // APPEND, SETITEM: one item (or pair) onto the container below it
        size_t n = op == 'a' ? 1 : 2;
        if (m_stack.size() < floor + n + 1)
            return corrupt("append to a missing container");
        return addChildren(m_stack[m_stack.size() - n - 1], m_stack.size() - n);
    }
    case 'e':
    case 'u':
    case 0x90: { // APPENDS, SETITEMS, ADDITEMS
        auto from = popMark();
        if (!from)
            return from.error();
        size_t below = m_marks.empty() ? 0 : m_marks.back();
        if (*from == 0 || *from - 1 < below)
            return corrupt("items without a container");
        return addChildren(m_stack[*from - 1], *from);
    }
    case '0': return pop().ok() ? okStatus() : Status(corrupt("POP from an empty stack"));
    case '1': {
        auto from = popMark();
        if (!from)
            return from.error();
        m_stack.resize(*from);
        return okStatus();
    }
    case '2':
        if (m_stack.size() <= floor)
            return corrupt("DUP of an empty stack");
        return pushIndex(m_stack.back());
    default: handled = false; return okStatus();
    }
}

// TUPLE, LIST, DICT, FROZENSET: a container from the items above the last MARK.
Status PickleParser::closeMark(uint8_t op)
{
    auto from = popMark();
    if (!from)
        return from.error();
    if (op == 't')
        return buildTuple(*from);
    PickleValue container;
    container.kind = op == 'l' ? PickleKind::List : op == 'd' ? PickleKind::Dict : PickleKind::Set;
    auto c = make(std::move(container));
    if (!c)
        return c.error();
    if (auto s = addChildren(*c, *from); !s)
        return s;
    return pushIndex(*c);
}

// MEMOIZE, BINPUT, LONG_BINPUT, BINGET, LONG_BINGET. handled=false for other opcodes.
Status PickleParser::stepMemo(uint8_t op, bool& handled)
{
    handled = op == 0x94 || op == 'q' || op == 'r' || op == 'h' || op == 'j';
    if (!handled)
        return okStatus();
    uint64_t key = m_memo.size();
    if (op != 0x94) {
        int width = op == 'q' || op == 'h' ? 1 : 4;
        if (!need(width))
            return truncated();
        key = readLE(width);
    }
    if (op == 'h' || op == 'j') {
        auto it = m_memo.find(key);
        if (it == m_memo.end())
            return corrupt("memo key " + std::to_string(key) + " not defined");
        return pushIndex(it->second);
    }
    if (m_stack.empty())
        return corrupt("memoize with an empty stack");
    if (m_memo.size() >= m_limits.maxMemo && !m_memo.count(key))
        return limit("memo entries");
    m_memo[key] = m_stack.back();
    return okStatus();
}

Status PickleParser::step(uint8_t op, bool& stop)
{
    for (uint8_t r : kRefused)
        if (op == r)
            return makeError(ErrorCode::Unsupported,
                "pickle opcode " + pickleOpcodeName(op) + " at byte " + std::to_string(m_opPos) + " is refused",
                "tidemark reads plain-data pickles only (torch.cuda.memory._dump_snapshot output); it never imports or calls Python objects");
    if (op == '.') {
        stop = true;
        return okStatus();
    }
    bool handled = false;
    for (auto part : { &PickleParser::stepScalar, &PickleParser::stepContainer, &PickleParser::stepMemo }) {
        Status s = (this->*part)(op, handled);
        if (handled || !s)
            return s;
    }
    return makeError(ErrorCode::Unsupported,
        "unknown pickle opcode " + pickleOpcodeName(op) + " at byte " + std::to_string(m_opPos));
}

Result<PickleDoc> PickleParser::run()
{
    bool stop = false;
    while (!stop) {
        if (!need(1))
            return truncated();
        m_opPos = m_base + m_pos;
        uint8_t op = takeByte();
        if (auto s = step(op, stop); !s)
            return s.error();
    }
    if (m_stack.size() != 1 || !m_marks.empty())
        return corrupt("STOP with " + std::to_string(m_stack.size()) + " values on the stack");
    m_doc.m_root = m_stack.back();
    return std::move(m_doc);
}

Result<PickleDoc> parsePickle(std::streambuf& in, const PickleLimits& limits)
{
    PickleParser parser(in, limits);
    return parser.run();
}

Result<PickleDoc> parsePickle(std::string_view data, const PickleLimits& limits)
{
    MemoryStreamBuf in(data);
    return parsePickle(in, limits);
}

// --- PickleRef ---

const PickleValue* PickleRef::value() const { return m_doc ? &m_doc->value(m_index) : nullptr; }

PickleKind PickleRef::kind() const { return m_doc ? value()->kind : PickleKind::None; }

int64_t PickleRef::asInt(int64_t fallback) const { return isInt() ? value()->i : fallback; }

double PickleRef::asDouble(double fallback) const
{
    if (kind() == PickleKind::Float)
        return value()->f;
    return isInt() ? static_cast<double>(value()->i) : fallback;
}

std::string_view PickleRef::asString(std::string_view fallback) const
{
    return kind() == PickleKind::String ? std::string_view(value()->s) : fallback;
}

bool PickleRef::asBool(bool fallback) const { return isInt() ? value()->i != 0 : fallback; }

size_t PickleRef::size() const
{
    switch (kind()) {
    case PickleKind::List:
    case PickleKind::Tuple:
    case PickleKind::Set: return value()->items.size();
    case PickleKind::Dict: return value()->items.size() / 2;
    default: return 0;
    }
}

PickleRef PickleRef::at(size_t i) const
{
    if (kind() == PickleKind::Dict || i >= size())
        return {};
    return PickleRef(m_doc, value()->items[i]);
}

PickleRef PickleRef::keyAt(size_t i) const
{
    return isDict() && i < size() ? PickleRef(m_doc, value()->items[2 * i]) : PickleRef {};
}

PickleRef PickleRef::valueAt(size_t i) const
{
    return isDict() && i < size() ? PickleRef(m_doc, value()->items[2 * i + 1]) : PickleRef {};
}

PickleRef PickleRef::operator[](std::string_view key) const
{
    if (!isDict())
        return {};
    const auto& items = value()->items;
    // Later keys win, as in Python's dict.
    for (size_t k = items.size(); k >= 2; k -= 2) {
        const PickleValue& kv = m_doc->value(items[k - 2]);
        if (kv.kind == PickleKind::String && kv.s == key)
            return PickleRef(m_doc, items[k - 1]);
    }
    return {};
}

} // namespace tidemark::import
