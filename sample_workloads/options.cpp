// Option parsing for tidemark-train. Every numeric option is range-checked so that a typo such as
// `--layers 8x` is an error rather than a different experiment.
#include "options.h"

#include <charconv>
#include <cstring>
#include <limits>

namespace tidemark::train {

namespace {

    template <typename T> bool parseNumber(const char* text, T lo, T hi, T& out)
    {
        const char* end = text + std::strlen(text);
        T value {};
        const auto [ptr, ec] = std::from_chars(text, end, value);
        if (ec != std::errc() || ptr != end || value < lo || value > hi)
            return false;
        out = value;
        return true;
    }

    bool parsePrecision(const std::string& text, DType& out)
    {
        if (text == "fp32")
            out = DType::Fp32;
        else if (text == "fp16")
            out = DType::Fp16;
        else if (text == "bf16")
            out = DType::Bf16;
        else
            return false;
        return true;
    }

} // namespace

const char* usageText()
{
    return "usage: tidemark-train [options]\n"
           "Trains a residual MLP on a synthetic teacher task; the reference workload of tidemark.\n"
           "\n"
           "  --device cpu|cuda|auto   backend (default auto: CUDA when a device exists, else CPU)\n"
           "  --batch-size N           samples per step (default 64)\n"
           "  --layers N               residual blocks (default 8); NVTX layers are 0..N+1\n"
           "  --hidden N               width of the residual stream (default 256)\n"
           "  --steps N                training steps (default 60)\n"
           "  --checkpoint K           keep every K-th hidden state, recompute the rest in backward\n"
           "  --precision P            activation storage: fp32 (default), fp16, bf16\n"
           "  --leak-every N           plant a leak every N steps (tidemark_train_planted_leak)\n"
           "  --leak-bytes B           bytes per planted leak (default 1048576)\n"
           "  --fragment               each step, strand 10 MiB of free memory inside a segment\n"
           "  --seed S                 seed of the teacher, the data and the weights (default 1)\n"
           "  --lr X                   Adam learning rate (default 0.002)\n"
           "  --no-cache               bypass the caching allocator: one backend allocation per tensor\n"
           "  --truth FILE             write what the program knows about its memory as JSON\n"
           "  --print-every N          print the loss every N steps (default 1; 0: only the summary)\n"
#ifdef TIDEMARK_TRAIN_HAVE_MPI
           "  --distributed            data-parallel over MPI ranks (run under mpirun)\n"
#endif
           "  --help                   this text\n";
}

namespace {

    struct IntOption {
        const char* name;
        long long lo, hi;
        const char* what;
    };
    constexpr IntOption kIntOptions[] = { { "--batch-size", 1, 1 << 20, "an integer 1..1048576" },
        { "--layers", 1, 4096, "an integer 1..4096" }, { "--hidden", 1, 1 << 16, "an integer 1..65536" },
        { "--steps", 0, 100000000, "an integer 0..100000000" }, { "--checkpoint", 0, 4096, "an integer 0..4096" },
        { "--leak-every", 0, 100000000, "an integer 0..100000000" },
        { "--leak-bytes", 1, 1ll << 40, "a byte count 1..2^40" },
        { "--print-every", 0, 100000000, "an integer 0..100000000" } };

    void assignInt(const std::string& name, long long n, TrainConfig& t)
    {
        if (name == "--batch-size")
            t.model.batch = static_cast<int>(n);
        else if (name == "--layers")
            t.model.layers = static_cast<int>(n);
        else if (name == "--hidden")
            t.model.hidden = static_cast<int>(n);
        else if (name == "--steps")
            t.steps = static_cast<int>(n);
        else if (name == "--checkpoint")
            t.model.checkpoint = static_cast<int>(n);
        else if (name == "--leak-every")
            t.leakEvery = static_cast<int>(n);
        else if (name == "--leak-bytes")
            t.leakBytes = static_cast<size_t>(n);
        else
            t.printEvery = static_cast<int>(n);
    }

    // Options that take a value; returns the error text, or "" when v was accepted.
    std::string applyValue(const std::string& arg, const char* v, Options& out)
    {
        TrainConfig& t = out.train;
        const auto bad = [&](const std::string& what) {
            return "bad value '" + std::string(v) + "' for " + arg + ": expected " + what;
        };
        if (arg == "--device") {
            t.device = v;
            return t.device == "cpu" || t.device == "cuda" || t.device == "auto" ? "" : bad("cpu, cuda or auto");
        }
        if (arg == "--precision")
            return parsePrecision(v, t.model.precision) ? "" : bad("fp32, fp16 or bf16");
        if (arg == "--truth") {
            out.truthPath = v;
            return "";
        }
        if (arg == "--seed")
            return parseNumber<uint64_t>(v, 0, std::numeric_limits<uint64_t>::max(), t.seed)
                ? ""
                : bad("an unsigned integer");
        if (arg == "--lr") {
            char* end = nullptr;
            const float lr = std::strtof(v, &end);
            if (end == v || *end != '\0' || !(lr > 0.0f && lr < 10.0f))
                return bad("a number in (0, 10)");
            t.learningRate = lr;
            return "";
        }
        for (const IntOption& o : kIntOptions) {
            if (arg != o.name)
                continue;
            long long n = 0;
            if (!parseNumber<long long>(v, o.lo, o.hi, n))
                return bad(o.what);
            assignInt(arg, n, t);
            return "";
        }
        return "unknown option '" + arg + "' (see --help)";
    }

    bool takesValue(const std::string& arg)
    {
        for (const IntOption& o : kIntOptions)
            if (arg == o.name)
                return true;
        return arg == "--device" || arg == "--precision" || arg == "--truth" || arg == "--seed" || arg == "--lr";
    }

} // namespace

std::string parseOptions(int argc, const char* const* argv, Options& out)
{
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h")
            out.help = true;
        else if (arg == "--no-cache")
            out.train.caching = false;
        else if (arg == "--fragment")
            out.train.fragment = true;
        else if (arg == "--distributed")
            out.distributed = true;
        else if (!takesValue(arg))
            return "unknown option '" + arg + "' (see --help)";
        else if (i + 1 >= argc)
            return arg + " needs a value (see --help)";
        else if (std::string error = applyValue(arg, argv[++i], out); !error.empty())
            return error;
    }
    return {};
}

} // namespace tidemark::train
