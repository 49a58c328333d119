// Fixture text → recording. Each line is a record kind followed by positional words and key=value
// options (values may be "quoted"); '#' starts a comment. See tests/data/fixtures/README.md.
#include "fixture.h"

#include "trace/finalize.h"
#include "trace/enums.h"
#include "trace/recording.h"
#include "trace/rows.h"

#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace tidemark::testing {

namespace {

int64_t toInt(const std::string& s) { return static_cast<int64_t>(std::stoll(s)); }

struct Line {
    int number = 0;
    std::string kind;
    std::vector<std::string> words;
    std::map<std::string, std::string> opts;
    std::string opt(const std::string& k, const std::string& def = {}) const
    {
        auto it = opts.find(k);
        return it == opts.end() ? def : it->second;
    }
    bool has(const std::string& k) const { return opts.count(k) != 0; }
};

std::vector<std::string> tokenize(const std::string& text)
{
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false, any = false;
    for (char c : text) {
        if (c == '"') {
            quoted = !quoted;
            any = true;
        } else if (!quoted && (c == ' ' || c == '\t')) {
            if (any || !cur.empty())
                out.push_back(cur);
            cur.clear();
            any = false;
        } else {
            cur += c;
        }
    }
    if (any || !cur.empty())
        out.push_back(cur);
    return out;
}

Line parseLine(const std::string& raw, int number)
{
    std::string text = raw.substr(0, raw.find('#'));
    Line l;
    l.number = number;
    for (auto& tok : tokenize(text)) {
        auto eq = tok.find('=');
        if (l.kind.empty())
            l.kind = tok;
        else if (eq != std::string::npos && eq > 0)
            l.opts[tok.substr(0, eq)] = tok.substr(eq + 1);
        else
            l.words.push_back(tok);
    }
    return l;
}

int64_t apiByName(const std::string& name)
{
    for (uint16_t i = 0; i < kApiMax; ++i)
        if (apiName(static_cast<Api>(i)) == name)
            return i;
    throw std::runtime_error("unknown api " + name);
}

class Builder {
public:
    explicit Builder(trace::Db& db)
        : m_db(db)
    {
    }

    void run(const std::vector<Line>& lines)
    {
        exec("INSERT INTO processes(id, pid, exe, command_line, start_ts_ns, end_ts_ns, end_reason) VALUES (1, 100, 'fixture', 'fixture', NULL, NULL, 'exit')");
        exec("INSERT INTO threads(id, process_id, tid) VALUES (1, 1, 100)");
        for (const auto& l : lines) {
            try {
                apply(l);
            } catch (const std::exception& e) {
                throw std::runtime_error("fixture line " + std::to_string(l.number) + ": " + e.what());
            }
        }
    }

private:
    void exec(const std::string& sql)
    {
        if (auto s = m_db.exec(sql); !s)
            throw std::runtime_error(s.error().message);
    }
    trace::Stmt prep(const std::string& sql)
    {
        auto st = m_db.prepare(sql);
        if (!st)
            throw std::runtime_error(st.error().message);
        return std::move(*st);
    }
    void runStmt(trace::Stmt& st)
    {
        if (auto s = st.run(); !s)
            throw std::runtime_error(s.error().message);
    }
    int64_t str(const std::string& s)
    {
        auto id = trace::internString(m_db, s);
        if (!id)
            throw std::runtime_error(id.error().message);
        return *id;
    }
    int64_t space(const std::string& name)
    {
        auto it = m_spaces.find(name);
        if (it == m_spaces.end())
            throw std::runtime_error("unknown space " + name);
        return it->second;
    }
    int64_t module(const std::string& name)
    {
        auto [it, inserted] = m_modules.try_emplace(name, static_cast<int64_t>(m_modules.size() + 1));
        if (inserted) {
            auto st = prep("INSERT INTO modules(id, process_id, path, load_bias, vaddr_start, vaddr_end) VALUES (?, 1, ?, 0, 0, 0)");
            st.bind(1, it->second).bind(2, "/lib/" + name);
            runStmt(st);
        }
        return it->second;
    }
    // Stacks list frames outermost first; returns the leaf callsite.
    int64_t callsite(const std::vector<int64_t>& frames)
    {
        int64_t parent = 0;
        for (size_t depth = 0; depth < frames.size(); ++depth) {
            auto key = std::make_pair(parent, frames[depth]);
            auto it = m_trie.find(key);
            if (it == m_trie.end()) {
                int64_t id = static_cast<int64_t>(m_trie.size() + 1);
                auto st = prep("INSERT INTO callsites(id, parent_id, frame_id, depth) VALUES (?, ?, ?, ?)");
                st.bind(1, id);
                if (parent)
                    st.bind(2, parent);
                else
                    st.bindNull(2);
                st.bind(3, frames[depth]).bind(4, static_cast<int64_t>(depth));
                runStmt(st);
                it = m_trie.emplace(key, id).first;
            }
            parent = it->second;
        }
        return parent;
    }

    void apply(const Line& l);

    trace::Db& m_db;
    std::map<std::string, int64_t> m_spaces;
    std::map<std::string, int64_t> m_modules;
    std::map<std::pair<int64_t, int64_t>, int64_t> m_trie;
    std::map<int64_t, int64_t> m_stacks; // fixture stack id -> leaf callsite
    int64_t m_nextAddr = 0;
};

void optInt(trace::Stmt& st, int index, const Line& l, const std::string& key, bool time = false)
{
    if (l.has(key))
        st.bind(index, time ? parseTime(l.opt(key)) : parseSize(l.opt(key)));
    else
        st.bindNull(index);
}

void Builder::apply(const Line& l)
{
    if (l.kind == "space") {
        auto st = prep("INSERT INTO spaces(kind, device, name, capacity_bytes, parent_space_id) VALUES (?, ?, ?, ?, ?)");
        st.bind(1, l.opt("kind", "host"));
        optInt(st, 2, l, "device");
        st.bind(3, l.words.at(0));
        optInt(st, 4, l, "capacity");
        if (l.has("parent"))
            st.bind(5, space(l.opt("parent")));
        else
            st.bindNull(5);
        runStmt(st);
        m_spaces[l.words.at(0)] = m_db.lastInsertId();
    } else if (l.kind == "process") {
        auto st = prep("UPDATE processes SET exe = ?, command_line = ?, start_ts_ns = ?, end_ts_ns = ?, end_reason = ? WHERE id = 1");
        st.bind(1, l.opt("exe", "fixture")).bind(2, l.opt("cmd", l.opt("exe", "fixture")));
        optInt(st, 3, l, "start", true);
        optInt(st, 4, l, "end", true);
        st.bind(5, l.opt("reason", "exit"));
        runStmt(st);
    } else if (l.kind == "thread") {
        auto st = prep("INSERT INTO threads(id, process_id, tid) VALUES (?, 1, ?)");
        st.bind(1, toInt(l.words.at(0))).bind(2, 100 + toInt(l.words.at(0)));
        runStmt(st);
    } else if (l.kind == "frame") {
        int64_t id = toInt(l.words.at(0));
        auto st = prep("INSERT INTO frames(id, module_id, ip, rel_pc) VALUES (?, ?, ?, ?)");
        if (l.has("python")) // python=1: a Python function's frame (tagged value, no module)
            st.bind(1, id).bindNull(2).bind(3, int64_t((uint64_t(0x7079) << 48) | uint64_t(id))).bindNull(4);
        else
            st.bind(1, id).bind(2, module(l.opt("module", "train"))).bind(3, 0x1000 + id * 16).bind(4, 0x1000 + id * 16);
        runStmt(st);
        if (l.words.size() > 1) {
            auto sym = prep("INSERT INTO symbols(frame_id, inline_depth, function_id, file_id, line) VALUES (?, ?, ?, ?, ?)");
            sym.bind(1, id).bind(2, int64_t { 0 }).bind(3, str(l.words[1]));
            if (l.has("file"))
                sym.bind(4, str(l.opt("file")));
            else
                sym.bindNull(4);
            sym.bind(5, parseSize(l.opt("line", "0")));
            runStmt(sym);
            if (l.has("inline")) { // inline=function@file:line (inlined into this frame's function)
                std::string v = l.opt("inline");
                auto at = v.find('@'), colon = v.rfind(':');
                auto in = prep("INSERT INTO symbols(frame_id, inline_depth, function_id, file_id, line) VALUES (?, 1, ?, ?, ?)");
                in.bind(1, id).bind(2, str(v.substr(0, at))).bind(3, str(v.substr(at + 1, colon - at - 1)))
                    .bind(4, toInt(v.substr(colon + 1)));
                runStmt(in);
            }
        }
    } else if (l.kind == "stack") {
        std::vector<int64_t> frames;
        for (size_t i = 1; i < l.words.size(); ++i)
            frames.push_back(toInt(l.words[i]));
        m_stacks[toInt(l.words.at(0))] = callsite(frames);
    } else if (l.kind == "range") {
        auto st = prep("INSERT INTO ranges(id, process_id, thread_id, parent_id, depth, kind, name_id, start_ts_ns, end_ts_ns) "
                       "VALUES (?, 1, ?, ?, ?, 'push', ?, ?, ?)");
        int64_t id = toInt(l.words.at(0));
        st.bind(1, id).bind(2, parseSize(l.opt("thread", "1")));
        if (l.has("parent"))
            st.bind(3, toInt(l.opt("parent")));
        else
            st.bindNull(3);
        st.bind(4, parseSize(l.opt("depth", "0"))).bind(5, str(l.words.at(1))).bind(6, parseTime(l.opt("start")));
        optInt(st, 7, l, "end", true);
        runStmt(st);
    } else if (l.kind == "heap") {
        auto st = prep("INSERT INTO pool_heaps(id, space_id, process_id, address, size_bytes, usage, register_ts_ns, "
                       "unregister_ts_ns) VALUES (?, ?, 1, ?, ?, ?, ?, ?)");
        st.bind(1, toInt(l.words.at(0))).bind(2, space(l.opt("space"))).bind(3, parseSize(l.opt("addr")))
            .bind(4, parseSize(l.opt("size"))).bind(5, l.opt("usage", "sub_allocator")).bind(6, parseTime(l.opt("at")));
        optInt(st, 7, l, "end", true);
        runStmt(st);
    } else if (l.kind == "alloc") {
        auto st = prep(trace::insertSql("allocations", trace::kAllocationColumns));
        auto opt = [&](const std::string& key, bool time = false) -> std::optional<int64_t> {
            if (!l.has(key))
                return std::nullopt;
            return time ? parseTime(l.opt(key)) : parseSize(l.opt(key));
        };
        trace::AllocationRow row { .space_id = space(l.opt("space")),
            .process_id = 1,
            .thread_id = parseSize(l.opt("thread", "1")),
            .api = static_cast<Api>(apiByName(l.opt("api", "malloc"))),
            .address = parseSize(l.opt("addr", std::to_string(0x100000 + 4096 * (m_nextAddr++)))),
            .size_bytes = parseSize(l.opt("size")),
            .alloc_ts_ns = parseTime(l.opt("at")),
            .free_ts_ns = opt("free", true),
            .range_id = opt("range"),
            .heap_id = opt("heap"),
            .source_mask = 1 };
        if (l.has("stack"))
            row.callsite_id = m_stacks.at(toInt(l.opt("stack")));
        if (l.has("name"))
            row.name_id = str(l.opt("name"));
        trace::bindRow(st, row);
        runStmt(st);
    } else if (l.kind == "failed") {
        auto st = prep("INSERT INTO failed_allocations(space_id, process_id, thread_id, api, size_bytes, ts_ns, callsite_id, "
                       "error_name, device_free_bytes, device_total_bytes, live_bytes, source_mask) VALUES (?, 1, 1, ?, ?, ?, ?, "
                       "'cudaErrorMemoryAllocation', ?, ?, ?, 1)");
        st.bind(1, space(l.opt("space"))).bind(2, apiByName(l.opt("api", "cudaMalloc"))).bind(3, parseSize(l.opt("size")))
            .bind(4, parseTime(l.opt("at")));
        if (l.has("stack"))
            st.bind(5, m_stacks.at(toInt(l.opt("stack"))));
        else
            st.bindNull(5);
        optInt(st, 6, l, "device_free");
        optInt(st, 7, l, "device_total");
        optInt(st, 8, l, "live");
        runStmt(st);
    } else if (l.kind == "sample") {
        auto st = prep("INSERT INTO samples(process_id, space_id, ts_ns, free_bytes, total_bytes) VALUES (1, ?, ?, ?, ?)");
        st.bind(1, space(l.opt("space"))).bind(2, parseTime(l.opt("at")));
        optInt(st, 3, l, "free");
        optInt(st, 4, l, "total");
        runStmt(st);
    } else if (l.kind == "stat") {
        auto st = prep("INSERT INTO capture_stats(process_id, source, name, value, detail) VALUES (1, ?, ?, ?, ?)");
        st.bind(1, l.words.at(0)).bind(2, l.words.at(1)).bind(3, parseSize(l.words.at(2))).bind(4, l.opt("detail"));
        runStmt(st);
    } else if (l.kind == "meta") {
        if (auto s = trace::setMeta(m_db, l.words.at(0), l.words.at(1)); !s)
            throw std::runtime_error(s.error().message);
    } else {
        throw std::runtime_error("unknown record kind '" + l.kind + "'");
    }
}

} // namespace

int64_t parseSize(const std::string& text)
{
    if (text.empty())
        throw std::runtime_error("empty number");
    size_t used = 0;
    int64_t v = static_cast<int64_t>(std::stoll(text, &used, 0));
    std::string unit = text.substr(used);
    if (unit.empty())
        return v;
    if (unit == "K")
        return v << 10;
    if (unit == "M")
        return v << 20;
    if (unit == "G")
        return v << 30;
    throw std::runtime_error("bad size " + text);
}

int64_t parseTime(const std::string& text)
{
    size_t used = 0;
    int64_t v = static_cast<int64_t>(std::stoll(text, &used));
    std::string unit = text.substr(used);
    if (unit.empty() || unit == "ns")
        return v;
    if (unit == "us")
        return v * 1000;
    if (unit == "ms")
        return v * 1000000;
    if (unit == "s")
        return v * 1000000000;
    throw std::runtime_error("bad time " + text);
}

Status buildRecordingFromFixture(const std::string& fixtureText, const std::string& path, bool finalize)
{
    auto db = trace::createRecording(path);
    if (!db)
        return db.error();
    std::vector<Line> lines;
    std::istringstream in(fixtureText);
    std::string raw;
    int number = 0;
    while (std::getline(in, raw)) {
        ++number;
        Line l = parseLine(raw, number);
        if (!l.kind.empty())
            lines.push_back(std::move(l));
    }
    try {
        trace::Transaction tx(*db);
        Builder(*db).run(lines);
        if (auto s = tx.commit(); !s)
            return s;
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, e.what());
    }
    if (finalize)
        return trace::finalizeRecording(*db);
    return okStatus();
}

} // namespace tidemark::testing
