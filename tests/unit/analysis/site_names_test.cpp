// Sites in the user's terms: recordings with known stacks (the user's frame is known because the test
// wrote the stack) name the first frame that is the user's code past allocator plumbing, library
// layers and runtime modules; --skip-frames moves the name outward; --stacks prints the frames in
// order; memory held from start-up is "retained by start-up", while a real leak stays a leak; at most
// five headlines; the coverage section only when data was lost or asked for.
#include "analysis/analysis.h"
#include "analysis/site_names.h"
#include "fixture.h"

#include <gtest/gtest.h>

#include <tuple>

#include <filesystem>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::analysis;

namespace {

std::string tempPath(const std::string& name)
{
    return (fs::temp_directory_path() / ("tidemark-site-names-" + std::to_string(::getpid()) + "-" + name)).string();
}

Recording open(const std::string& name, const std::string& fixture)
{
    std::string path = tempPath(name + ".tmdb");
    auto st = tidemark::testing::buildRecordingFromFixture(fixture, path);
    EXPECT_TRUE(st.ok()) << st.error().message;
    auto rec = Recording::open(path);
    EXPECT_TRUE(rec.ok()) << rec.error().message;
    return std::move(*rec);
}

// The site of the only allocation of the recording.
std::string siteFunction(Recording& rec)
{
    auto id = rec.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
    EXPECT_TRUE(id.ok());
    return rec.siteOf(*id).location.function;
}

// One allocation whose stack is the frames given, outermost first ("function@module").
std::string oneAllocation(const std::vector<std::pair<std::string, std::string>>& outermostFirst)
{
    std::string text = "space host kind=host\n";
    std::string stack = "stack 1";
    for (size_t i = 0; i < outermostFirst.size(); ++i) {
        text += "frame " + std::to_string(i + 1) + " \"" + outermostFirst[i].first
            + "\" module=" + outermostFirst[i].second + " file=src.cpp line=" + std::to_string(i + 10) + "\n";
        stack += " " + std::to_string(i + 1);
    }
    return text + stack + "\nalloc space=host size=1K at=10 stack=1\n";
}

class SiteNames : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(setSkipFramePatterns({}).ok()); }
    void TearDown() override { ASSERT_TRUE(setSkipFramePatterns({}).ok()); }
};

TEST_F(SiteNames, UserFrameIsFoundPastEveryKindOfPlumbing)
{
    struct Case {
        const char* what;
        std::vector<std::pair<std::string, std::string>> stack; // outermost first
        std::string user;
    };
    const std::vector<Case> cases = {
        { "operator new and a vector's growth",
            { { "main", "train" }, { "Loader::readAll()", "train" },
                { "void std::vector<float, std::allocator<float> >::_M_realloc_insert<float "
                  "const&>(__gnu_cxx::__normal_iterator<float*, "
                  "std::vector<float, std::allocator<float> > >, float const&)",
                    "train" },
                { "operator new(unsigned long)", "libstdc++.so.6" }, { "malloc", "libtidemark_preload.so" } },
            "Loader::readAll()" },
        { "a user function whose parameters mention std::allocator",
            { { "main", "xgboost" },
                { "xgboost::data::SparsePage::Push(std::vector<unsigned int, std::allocator<unsigned int> > const&)",
                    "libxgboost.so" },
                { "std::__new_allocator<unsigned int>::allocate(unsigned long, void const*)", "libxgboost.so" },
                { "operator new(unsigned long)", "libstdc++.so.6" } },
            "xgboost::data::SparsePage::Push(std::vector<unsigned int, std::allocator<unsigned int> > const&)" },
        { "c10's CPU allocator under a tensor factory and the user's extension",
            { { "_PyEval_EvalFrameDefault", "python3.11" }, { "myext::Model::forward(at::Tensor const&)", "myext.so" },
                { "at::native::empty_cpu(c10::ArrayRef<long>, c10::optional<c10::ScalarType>)", "libtorch_cpu.so" },
                { "c10::DefaultCPUAllocator::allocate(unsigned long) const", "libc10.so" },
                { "c10::alloc_cpu(unsigned long)", "libc10.so" }, { "posix_memalign", "libc.so.6" } },
            "myext::Model::forward(at::Tensor const&)" },
        { "CPython's object allocator",
            { { "PyObject_Call", "python3.11" }, { "parse_records", "reader.cpython-311.so" },
                { "PyType_GenericAlloc", "python3.11" }, { "_PyObject_GC_Malloc", "python3.11" },
                { "PyObject_Malloc", "python3.11" } },
            "parse_records" },
        { "strdup and a string's internals",
            { { "main", "train" }, { "Config::load(char const*)", "train" },
                { "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_mutate(unsigned "
                  "long, unsigned long, "
                  "char const*, unsigned long)",
                    "train" },
                { "strdup", "libc.so.6" } },
            "Config::load(char const*)" },
        { "only library layers: the innermost of them",
            { { "start_thread", "libc.so.6" },
                { "at::native::add_out(at::Tensor&, at::Tensor const&)", "libtorch_cpu.so" },
                { "at::detail::empty_generic(c10::ArrayRef<long>)", "libtorch_cpu.so" },
                { "c10::alloc_cpu(unsigned long)", "libc10.so" }, { "malloc", "libtidemark.so" } },
            "at::detail::empty_generic(c10::ArrayRef<long>)" },
        { "only libc: not the allocator itself",
            { { "_dl_start_user", "ld-linux-x86-64.so.2" }, { "_dl_init", "ld-linux-x86-64.so.2" },
                { "__libc_early_init", "libc.so.6" }, { "calloc", "libc.so.6" } },
            "__libc_early_init" },
    };
    int n = 0;
    for (const auto& c : cases) {
        Recording rec = open("case" + std::to_string(n++), oneAllocation(c.stack));
        EXPECT_EQ(c.user, siteFunction(rec)) << c.what;
    }
}

// Python frames (python=1, file = the source file): the first one in the user's files names the site,
// past native interpreter and PyTorch frames and Python frames of torch, the standard library and
// frozen modules; "module:" skip patterns see a Python frame's file; an import is start-up.
TEST_F(SiteNames, PythonSiteIsTheFirstFrameInTheUsersFiles)
{
    auto stack = [](const std::vector<std::pair<std::string, std::string>>& outermostFirst) {
        // (function, file): a file ending in .py or starting with '<' is a Python frame.
        std::string text = "space host kind=host\n", st = "stack 1";
        for (size_t i = 0; i < outermostFirst.size(); ++i) {
            const auto& [fn, file] = outermostFirst[i];
            bool py = file.size() > 3 && (file.compare(file.size() - 3, 3, ".py") == 0 || file[0] == '<');
            text += "frame " + std::to_string(i + 1) + " \"" + fn + "\" "
                + (py ? "python=1"
                      : "module="
                          + std::string(file == "torch" ? "libtorch_cpu.so"
                                  : file == "ext"     ? "_ext.cpython-311-x86_64-linux-gnu.so"
                                                      : "python3.11"))
                + " file=\"" + file + "\" line=" + std::to_string(i + 10) + "\n";
            st += " " + std::to_string(i + 1);
        }
        return text + st + "\nalloc space=host size=1K at=10 stack=1\n";
    };
    const std::vector<std::pair<std::string, std::string>> base = {
        { "Py_RunMain", "main.c" }, { "<module>", "/home/u/proj/train.py" }, { "train_step", "/home/u/proj/train.py" },
        { "_PyEval_EvalFrameDefault", "ceval.c" },
    };
    auto with = [&](std::vector<std::pair<std::string, std::string>> inner) {
        auto s = base;
        s.insert(s.end(), inner.begin(), inner.end());
        return s;
    };
    {
        Recording rec = open("py-torch", stack(with({ { "Module._call_impl", "/usr/lib/python3/dist-packages/torch/nn/modules/module.py" },
            { "Linear.forward", "/usr/lib/python3/dist-packages/torch/nn/modules/linear.py" },
            { "at::native::linear(at::Tensor const&)", "torch" }, { "c10::alloc_cpu(unsigned long)", "torch" },
            { "posix_memalign", "libc.so.6" } })));
        auto id = rec.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
        ASSERT_TRUE(id.ok());
        const Site& s = rec.siteOf(*id);
        EXPECT_EQ(s.location.function, "train_step");
        EXPECT_EQ(s.location.line, 12);
        EXPECT_EQ(s.label, "train_step (train.py:12)");
    }
    {
        Recording rec = open("py-stdlib", stack(with({ { "dumps", "/root/.pyenv/versions/3.12.1/lib/python3.12/json/__init__.py" },
            { "<listcomp>", "<frozen importlib._bootstrap>" }, { "PyUnicode_New", "unicodeobject.c" } })));
        EXPECT_EQ(siteFunction(rec), "train_step");
    }
    {
        // Only library Python frames: the innermost of them.
        Recording rec = open("py-lib-only", stack({ { "Thread._bootstrap", "/usr/lib/python3.11/threading.py" },
            { "Thread.run", "/usr/lib/python3.11/threading.py" }, { "PyBytes_FromStringAndSize", "bytesobject.c" } }));
        EXPECT_EQ(siteFunction(rec), "Thread.run");
    }
    {
        ASSERT_TRUE(setSkipFramePatterns({ "module:/proj/train\\.py$" }).ok());
        Recording rec = open("py-skip", stack(with({ { "helper", "/home/u/proj/util.py" },
            { "PyByteArray_Resize", "bytearrayobject.c" } })));
        EXPECT_EQ(siteFunction(rec), "helper");
        Recording rec2 = open("py-skip2", stack(with({ { "PyByteArray_Resize", "bytearrayobject.c" } })));
        EXPECT_NE(siteFunction(rec2), "train_step");
        EXPECT_NE(siteFunction(rec2), "<module>");
    }
    {
        ASSERT_TRUE(setSkipFramePatterns({}).ok());
        std::unordered_map<int64_t, uint8_t> memo;
        Recording imp = open("py-import", stack(with({ { "_find_and_load", "<frozen importlib._bootstrap>" },
            { "<module>", "/home/u/proj/model.py" }, { "PyList_New", "listobject.c" } })));
        auto id = imp.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
        ASSERT_TRUE(id.ok());
        EXPECT_TRUE(isStartupStack(imp, *id, memo));
        EXPECT_EQ(imp.siteOf(*id).location.file, "/home/u/proj/model.py");
        std::unordered_map<int64_t, uint8_t> memo2;
        Recording run = open("py-run", stack(with({ { "PyList_New", "listobject.c" } })));
        auto id2 = run.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
        ASSERT_TRUE(id2.ok());
        EXPECT_FALSE(isStartupStack(run, *id2, memo2));
    }
}

TEST_F(SiteNames, PythonCallbackSiteNamesTheUsersLineThatCalledTheLibrary)
{
    // frame N (outermost first) is at line N + 10: "frame" lines as the test above writes them.
    using Frames = std::vector<std::tuple<std::string, std::string, std::string>>; // function, file, module
    auto label = [this](const char* name, const Frames& frames) {
        std::string text = "space host kind=host\n", st = "stack 1";
        for (size_t i = 0; i < frames.size(); ++i) {
            const auto& [fn, file, module] = frames[i];
            text += "frame " + std::to_string(i + 1) + " \"" + fn + "\" "
                + (module.empty() ? "python=1" : "module=" + module) + " file=\"" + file + "\" line="
                + std::to_string(i + 10) + "\n";
            st += " " + std::to_string(i + 1);
        }
        Recording rec = open(name, text + st + "\nalloc space=host size=1K at=10 stack=1\n");
        auto id = rec.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
        EXPECT_TRUE(id.ok());
        return id.ok() ? rec.siteOf(*id).label : std::string();
    };
    const std::string torch = "/usr/lib/python3/dist-packages/torch/nn/modules/module.py";
    // A forward torch called back: named with the user's line that called the model.
    EXPECT_EQ(label("cb", { { "<module>", "/w/train.py", "" }, { "evaluate", "/w/train.py", "" },
                              { "Module._call_impl", torch, "" }, { "Net.forward", "/w/model.py", "" },
                              { "Module._call_impl", torch, "" }, { "at::native::linear(at::Tensor const&)", "", "libtorch_cpu.so" },
                              { "posix_memalign", "", "libc.so.6" } }),
        "Net.forward (model.py:13) <- evaluate (train.py:11)");
    // A user function called by another directly: no caller, whatever native glue lies between.
    EXPECT_EQ(label("direct", { { "<module>", "/w/train.py", "" }, { "_PyFunction_Vectorcall", "", "python3.11" },
                                  { "helper", "/w/train.py", "" }, { "PyList_New", "", "python3.11" } }),
        "helper (train.py:12)");
    // A native extension function under the user's Python is the extension's, not the user's.
    EXPECT_EQ(label("ext", { { "<module>", "/w/train.py", "" }, { "step", "/w/train.py", "" },
                               { "ext_kernel(float*)", "", "_ext.cpython-311-x86_64-linux-gnu.so" },
                               { "malloc", "", "libc.so.6" } }),
        "step (train.py:11)");
    // tidemark's own hook is walked past like the allocator.
    EXPECT_EQ(label("own", { { "<module>", "/w/train.py", "" }, { "Module._call_impl", torch, "" },
                               { "post", "/opt/tm/lib/tidemark/python/tidemark_torch.py", "" },
                               { "THPVariable_set_backwards_hooks", "", "libtorch_python.so" },
                               { "malloc", "", "libc.so.6" } }),
        "<module> (train.py:10)");
}

TEST_F(SiteNames, QualifiedNameDropsReturnTypeTemplatesAndParameters)
{
    EXPECT_EQ("std::vector::_M_realloc_insert",
        qualifiedName("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int>(int&&)"));
    EXPECT_EQ("operator new", qualifiedName("operator new(unsigned long)"));
    EXPECT_EQ("operator new[]", qualifiedName("operator new[](unsigned long, std::nothrow_t const&)"));
    EXPECT_EQ("dmlc::ThreadedIter::Init::{lambda#1}::operator()",
        qualifiedName("dmlc::ThreadedIter<dmlc::io::InputSplitBase::Chunk>::Init(std::function<bool "
                      "(dmlc::io::InputSplitBase::Chunk**)>, "
                      "std::function<void ()>)::{lambda()#1}::operator()() const"));
    EXPECT_EQ("Stream::operator<<", qualifiedName("Stream& Stream::operator<< <int>(int)"));
    EXPECT_EQ("malloc", qualifiedName("malloc"));
}

TEST_F(SiteNames, UserSkipPatternMovesTheNameOutward)
{
    const auto stack = oneAllocation({ { "main", "train" }, { "Trainer::step()", "train" },
        { "mypool::Arena::grab(unsigned long)", "train" }, { "malloc", "libtidemark.so" } });
    {
        Recording rec = open("skip0", stack);
        EXPECT_EQ("mypool::Arena::grab(unsigned long)", siteFunction(rec));
    }
    ASSERT_TRUE(setSkipFramePatterns({ "^mypool::" }).ok());
    {
        Recording rec = open("skip1", stack);
        EXPECT_EQ("Trainer::step()", siteFunction(rec));
    }
    // A module pattern skips every frame of the module: the next one out is main, in the same module,
    // so use a stack where the arena lives in a library of its own.
    ASSERT_TRUE(setSkipFramePatterns({ "module:^libarena" }).ok());
    {
        Recording rec = open("skip2",
            oneAllocation({ { "main", "train" }, { "Trainer::step()", "train" },
                { "Arena::grab(unsigned long)", "libarena.so.1" }, { "malloc", "libtidemark.so" } }));
        EXPECT_EQ("Trainer::step()", siteFunction(rec));
    }
    auto bad = setSkipFramePatterns({ "(unclosed" });
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(ErrorCode::Usage, bad.error().code);
    EXPECT_NE(std::string::npos, bad.error().message.find("(unclosed"));
    // A bad pattern changes nothing: the module pattern is still in force.
    EXPECT_EQ(std::vector<std::string> { "module:^libarena" }, skipFramePatterns());
}

TEST_F(SiteNames, StacksPrintEveryFrameInnermostFirstWithTheSkippedOnesMarked)
{
    Recording rec = open("stacks",
        oneAllocation({ { "main", "train" }, { "Trainer::epoch()", "train" }, { "Batch::load()", "train" },
            { "void std::vector<char, std::allocator<char> >::_M_default_append(unsigned long)", "train" },
            { "operator new(unsigned long)", "libstdc++.so.6" } }));
    auto id = rec.db().queryInt("SELECT callsite_id FROM allocations LIMIT 1");
    ASSERT_TRUE(id.ok());
    auto frames = siteStack(rec, *id);
    ASSERT_TRUE(frames.ok());
    ASSERT_EQ(5u, frames->size());
    const char* innermostFirst[] = { "operator new(unsigned long)",
        "void std::vector<char, std::allocator<char> >::_M_default_append(unsigned long)", "Batch::load()",
        "Trainer::epoch()", "main" };
    for (size_t i = 0; i < 5; ++i)
        EXPECT_EQ(innermostFirst[i], (*frames)[i].location.function) << i;
    EXPECT_TRUE((*frames)[0].skipped && (*frames)[1].skipped);
    EXPECT_EQ(FrameRole::Plumbing, (*frames)[1].role);
    EXPECT_TRUE((*frames)[2].isSite);
    EXPECT_FALSE((*frames)[2].skipped || (*frames)[3].skipped || (*frames)[3].isSite);

    ReportOptions options;
    options.stacks = true;
    auto report = buildReport(rec, options);
    ASSERT_TRUE(report.ok()) << report.error().message;
    ASSERT_EQ(1u, report->headlineStacks.size());
    std::string text = renderText(*report);
    size_t at = text.find("== Stacks of the headline sites ==");
    ASSERT_NE(std::string::npos, at) << text;
    for (const char* f : innermostFirst) {
        size_t next = text.find(f, at);
        ASSERT_NE(std::string::npos, next) << f << "\n" << text;
        at = next;
    }
    // The two inner frames are marked as skipped plumbing, the site with '>', and the file:line shown.
    auto lineOf = [&](const std::string& function) {
        size_t pos = text.find(function, text.find("frame  role", text.find("== Stacks of the headline sites ==")));
        size_t begin = text.rfind('\n', pos) + 1;
        return text.substr(begin, text.find('\n', pos) - begin);
    };
    EXPECT_NE(std::string::npos, lineOf("operator new(unsigned long)").find("skip plumbing"));
    EXPECT_NE(std::string::npos, lineOf("operator new(unsigned long)").find("libstdc++.so.6"));
    std::string site = lineOf("Batch::load()");
    EXPECT_NE(std::string::npos, site.find("> site")) << site;
    EXPECT_NE(std::string::npos, site.find("train  src.cpp:12")) << site;
    EXPECT_EQ(std::string::npos, lineOf("Trainer::epoch()").find("skip")) << text;
    // Without --stacks the section is not there.
    auto plain = buildReport(rec, ReportOptions {});
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(std::string::npos, renderText(*plain).find("Stacks of the headline sites"));
}

// cfg_load keeps four blocks before the first range (start-up by time); register_op keeps four from a
// static initializer run by the loader and module_init four from a Python import (module code run
// inside module code: start-up by stack), all after the range began; the same module_init line run by
// the main script itself (one PyEval_EvalCode) keeps four more, and cache_put, inside the training
// range, four: those two are leaks (three or more blocks spread over a quarter of the run).
const char* kStartupFixture = R"(
space host kind=host
frame 1 main file=main.cpp line=1
frame 2 cfg_load file=cfg.cpp line=2
frame 3 _GLOBAL__sub_I_ops.cpp file=ops.cpp line=3
frame 4 register_op file=ops.cpp line=4
frame 5 train_loop file=train.cpp line=5
frame 6 cache_put file=cache.cpp line=6
frame 7 PyEval_EvalCode module=python3.11
frame 8 _PyEval_EvalFrameDefault module=python3.11
frame 9 module_init file=ext.cpp line=9 module=ext.so
frame 10 _dl_init module=ld-linux-x86-64.so.2
stack 1 1 2
stack 2 10 3 4
stack 3 1 5 6
stack 4 7 8 7 8 9
stack 5 7 8 9
range 1 train start=500 end=1000
alloc space=host size=10K at=10 stack=1
alloc space=host size=10K at=100 stack=1
alloc space=host size=10K at=200 stack=1
alloc space=host size=10K at=300 stack=1
alloc space=host size=1K at=600 stack=2
alloc space=host size=1K at=700 stack=2
alloc space=host size=1K at=800 stack=2
alloc space=host size=1K at=900 stack=2
alloc space=host size=2K at=550 stack=4
alloc space=host size=2K at=650 stack=4
alloc space=host size=2K at=750 stack=4
alloc space=host size=2K at=850 stack=4
alloc space=host size=300 at=560 stack=5
alloc space=host size=300 at=660 stack=5
alloc space=host size=300 at=760 stack=5
alloc space=host size=300 at=860 stack=5
alloc space=host size=5K at=520 stack=3 range=1
alloc space=host size=5K at=640 stack=3 range=1
alloc space=host size=5K at=760 stack=3 range=1
alloc space=host size=5K at=990 stack=3 range=1
)";

TEST_F(SiteNames, StartupRetentionIsNotALeakButARealLeakStillIs)
{
    Recording rec = open("startup", kStartupFixture);
    auto host = rec.findSpace("host");
    ASSERT_TRUE(host.ok());
    // Without the start-up rule every site is a leak: the separation is what this test checks.
    auto raw = leaks(rec, host->id, Filter {}, 0);
    ASSERT_TRUE(raw.ok());
    int rawLeaks = 0;
    for (const auto& s : raw->sites)
        rawLeaks += s.isLeak;
    EXPECT_EQ(4, rawLeaks);

    auto report = buildReport(rec, ReportOptions {});
    ASSERT_TRUE(report.ok()) << report.error().message;
    ASSERT_EQ(1u, report->spaces.size());
    const auto& sr = report->spaces[0];
    ASSERT_EQ(2u, sr.leaks.sites.size());
    EXPECT_EQ("cache_put", sr.leaks.sites[0].site.location.function);
    EXPECT_TRUE(sr.leaks.sites[0].isLeak);
    EXPECT_EQ(20 * 1024, sr.leaks.sites[0].bytes);
    EXPECT_EQ("module_init", sr.leaks.sites[1].site.location.function);
    EXPECT_TRUE(sr.leaks.sites[1].isLeak);
    EXPECT_EQ(1200, sr.leaks.sites[1].bytes);
    EXPECT_EQ(4, sr.leaks.sites[1].count);
    EXPECT_EQ(560, sr.leaks.sites[1].firstNs);
    EXPECT_EQ(20 * 1024 + 1200, sr.leaks.leakedBytes);
    EXPECT_EQ(8, sr.leaks.leakedCount);
    EXPECT_EQ(0, sr.leaks.retainedBytes);

    EXPECT_EQ(4 * (10 + 2 + 1) * 1024, sr.startup.bytes);
    EXPECT_EQ(12, sr.startup.count);
    std::vector<std::string> names;
    for (const auto& s : sr.startup.sites) {
        names.push_back(s.site.location.function);
        EXPECT_FALSE(s.isLeak);
    }
    EXPECT_EQ((std::vector<std::string> { "cfg_load", "module_init", "register_op" }), names);
    EXPECT_EQ(sr.leaks.liveAtEndBytes, sr.leaks.leakedBytes + sr.leaks.retainedBytes + sr.startup.bytes);

    // The headline names the leak, never the start-up sites; the text calls them start-up.
    std::string all;
    for (const auto& h : report->headlines)
        all += h + "\n";
    EXPECT_NE(std::string::npos, all.find("host leaks at cache_put (cache.cpp:6)")) << all;
    for (const char* startup : { "leaks at cfg_load", "leaks at register_op" })
        EXPECT_EQ(std::string::npos, all.find(startup)) << all;
    // The default text gives the start-up total and leaves its rows to --full; the leak rows stay.
    std::string text = renderText(*report);
    EXPECT_NE(std::string::npos, text.find("retained by start-up 52.0 KiB in 12 allocations")) << text;
    EXPECT_NE(std::string::npos, text.find("leak  20.0 KiB")) << text;
    EXPECT_EQ(std::string::npos, text.find("start-up  40.0 KiB")) << text;
    ReportOptions full;
    full.full = true;
    auto whole = buildReport(rec, full);
    ASSERT_TRUE(whole.ok());
    text = renderText(*whole);
    EXPECT_NE(std::string::npos, text.find("start-up  40.0 KiB")) << text;
}

TEST_F(SiteNames, AtMostFiveHeadlinesAndCoverageOnlyWhenDataWasLost)
{
    // Six spaces, each with a leak (four blocks spread over the run) that also makes it grow, and the
    // peak: thirteen findings.
    std::string f = "frame 1 main file=m.cpp line=1\nframe 2 keep file=k.cpp line=2\nstack 1 1 2\n";
    const char* spaces[] = { "host kind=host", "cuda:0 kind=device device=0", "cuda:1 kind=device device=1",
        "pinned kind=pinned", "managed kind=managed", "cuda:2 kind=device device=2" };
    for (const char* sp : spaces) {
        std::string name(sp, std::string(sp).find(' '));
        f += std::string("space ") + sp + "\n";
        for (int t : { 10, 300, 600, 900 })
            f += "alloc space=" + name + " size=1K at=" + std::to_string(t) + " stack=1\n";
    }
    {
        Recording rec = open("many", f);
        auto report = buildReport(rec, ReportOptions {});
        ASSERT_TRUE(report.ok()) << report.error().message;
        EXPECT_EQ(5u, report->headlines.size());
        EXPECT_EQ(8, report->moreFindings);
        // The peak ranks before the leaks, so it is kept.
        EXPECT_NE(std::string::npos, report->headlines[0].find("peak")) << report->headlines[0];
        std::string text = renderText(*report);
        EXPECT_NE(std::string::npos, text.find("8 more findings")) << text;
        EXPECT_EQ(std::string::npos, text.find("== Capture coverage =="));
        ReportOptions full;
        full.maxHeadlines = 0;
        full.coverage = true;
        auto all = buildReport(rec, full);
        ASSERT_TRUE(all.ok());
        EXPECT_EQ(13u, all->headlines.size());
        EXPECT_NE(std::string::npos, renderText(*all).find("== Capture coverage =="));
    }
    // A counter saying stacks were cut: the coverage section appears, and says how many.
    Recording lossy
        = open("lossy", f + "stat preload stacks_truncated 1234 detail=\"stacks cut at TIDEMARK_STACK_DEPTH\"\n");
    auto report = buildReport(lossy, ReportOptions {});
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(1u, report->losses.size());
    EXPECT_NE(std::string::npos, report->headlines[0].find("stacks_truncated = 1234")) << report->headlines[0];
    // Cut stacks lose frames, not bytes: the headline does not say the figures may be low.
    EXPECT_EQ(std::string::npos, report->headlines[0].find("may be low")) << report->headlines[0];
    EXPECT_NE(std::string::npos, report->headlines[0].find("every byte is counted")) << report->headlines[0];
    std::string text = renderText(*report);
    EXPECT_NE(std::string::npos, text.find("== Capture coverage ==")) << text;
    EXPECT_NE(std::string::npos, text.find("1 counter reports lost data (1,234 in total)")) << text;
}

} // namespace
