// Spool loading and program running for the GPU capture tests (see spool_model.h).
#include "spool_model.h"

#include "trace/spool_reader.h"
#include "trace/stack_frames.h"

#include <cstring>
#include <filesystem>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace tidemark::gputest {

namespace {

    template <typename T> T read(const wire::RecordHeader& h)
    {
        T out {};
        std::memcpy(&out, &h, sizeof(T) < h.size_bytes ? sizeof(T) : h.size_bytes);
        return out;
    }

    void visit(Model& m, const wire::RecordHeader& h)
    {
        const char* tail = reinterpret_cast<const char*>(&h);
        ++m.records;
        switch (static_cast<wire::Kind>(h.kind)) {
        case wire::Kind::String: {
            auto r = read<wire::StringRecord>(h);
            m.strings[r.id] = std::string(tail + sizeof(r), r.len);
            break;
        }
        case wire::Kind::Stack: {
            std::vector<uint64_t> ips;
            trace::stackFrames(reinterpret_cast<const wire::StackRecord&>(h), m.stacks, ips);
            m.stacks[reinterpret_cast<const wire::StackRecord&>(h).id] = ips;
            break;
        }
        case wire::Kind::Stat: {
            auto r = read<wire::StatRecord>(h);
            m.stats[std::string(tail + sizeof(r), r.name_len)]
                = { r.value, std::string(tail + sizeof(r) + r.name_len, r.detail_len) };
            break;
        }
        case wire::Kind::RangeBegin:
            m.ranges[read<wire::RangeBeginRecord>(h).range_id] = read<wire::RangeBeginRecord>(h);
            break;
        case wire::Kind::RangeEnd:
            m.rangeEnds[read<wire::RangeEndRecord>(h).range_id] = read<wire::RangeEndRecord>(h).ts_ns;
            break;
        case wire::Kind::Alloc:
            m.allocs.push_back(read<wire::AllocRecord>(h));
            break;
        case wire::Kind::Free:
            m.frees.push_back(read<wire::FreeRecord>(h));
            break;
        case wire::Kind::AllocFailed:
            m.failures.push_back(read<wire::AllocFailedRecord>(h));
            break;
        case wire::Kind::HostAlloc:
            m.hostAllocs.push_back(read<wire::HostAllocRecord>(h));
            break;
        case wire::Kind::HeapRegister:
            m.heaps.push_back(read<wire::HeapRegisterRecord>(h));
            break;
        case wire::Kind::RegionRegister:
            m.regions.push_back(read<wire::RegionRegisterRecord>(h));
            break;
        case wire::Kind::RegionUnregister:
        case wire::Kind::RegionResize:
        case wire::Kind::RegionName:
            m.regionEvents.emplace_back(static_cast<wire::Kind>(h.kind), read<wire::RegionEventRecord>(h));
            break;
        case wire::Kind::Mark:
            m.marks.push_back(read<wire::MarkRecord>(h));
            break;
        case wire::Kind::Kernel:
            m.kernels.push_back(read<wire::KernelRecord>(h));
            break;
        case wire::Kind::Memcpy:
            m.memcpys.push_back(read<wire::MemcpyRecord>(h));
            break;
        case wire::Kind::Memset:
            m.memsets.push_back(read<wire::MemsetRecord>(h));
            break;
        case wire::Kind::Sample:
            m.samples.push_back(read<wire::SampleRecord>(h));
            break;
        default:
            break;
        }
    }

    bool loadOne(const std::string& path, Model& out, std::string& error)
    {
        auto reader = trace::SpoolReader::open(path);
        if (!reader) {
            error = "cannot read spool " + path;
            return false;
        }
        out.pid = reader->header().pid;
        trace::SpoolScan scan = reader->forEach([&](uint32_t, const wire::RecordHeader& h) { visit(out, h); });
        out.badRecords += scan.bad_records;
        return true;
    }

} // namespace

std::string Model::text(uint32_t id) const
{
    auto it = strings.find(id);
    return it == strings.end() ? std::string() : it->second;
}

std::string Model::rangeName(uint32_t rangeId) const
{
    auto it = ranges.find(rangeId);
    return it == ranges.end() ? std::string() : text(it->second.name_id);
}

bool loadSpool(const std::string& path, Model& out, std::string& error)
{
    namespace fs = std::filesystem;
    if (!fs::is_directory(path))
        return loadOne(path, out, error);
    bool any = false;
    for (const auto& e : fs::recursive_directory_iterator(path)) {
        if (!e.is_regular_file() || e.path().string().find("spool") == std::string::npos)
            continue;
        if (!loadOne(e.path().string(), out, error))
            return false;
        any = true;
    }
    if (!any)
        error = "no spool file under " + path;
    return any;
}

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env)
{
    RunResult result;
    int fds[2];
    if (pipe(fds) != 0)
        return result;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        for (const std::string& kv : env)
            putenv(const_cast<char*>(kv.c_str()));
        std::vector<char*> args;
        for (const std::string& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0)
        result.out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::vector<std::pair<std::string, std::map<std::string, std::string>>> truthLines(const std::string& out)
{
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("TRUTH ", 0) != 0)
            continue;
        std::istringstream words(line.substr(6));
        std::string kind, word;
        words >> kind;
        std::map<std::string, std::string> fields;
        while (words >> word) {
            size_t eq = word.find('=');
            if (eq != std::string::npos)
                fields[word.substr(0, eq)] = word.substr(eq + 1);
        }
        lines.emplace_back(kind, fields);
    }
    return lines;
}

} // namespace tidemark::gputest
