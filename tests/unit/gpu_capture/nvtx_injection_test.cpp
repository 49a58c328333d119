// The NVTX handlers driven for real: this binary uses the real nvtx3 headers (with their loader),
// which reach tidemark's InitializeInjectionNvtx2/...Extension through NVTX's static-injection hook;
// records land in the in-memory test writer (test_emit.h).
#include "test_emit.h"

#include "interposer/emit.h"

#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern "C" int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t);
extern "C" int InitializeInjectionNvtxExtension(nvtxExtModuleInfo_t*);

using namespace tidemark;
namespace te = tidemark::testemit;

namespace {

struct Range {
    wire::RangeBeginRecord begin {};
    bool ended = false;
    uint32_t endTid = 0;
};

// All ranges begun since the last clear(), by id, with whether (and on which thread) they ended.
std::map<uint32_t, Range> collectRanges()
{
    std::map<uint32_t, Range> out;
    for (const auto& c : te::records()) {
        if (c.kind() == wire::Kind::RangeBegin) {
            auto r = c.as<wire::RangeBeginRecord>();
            out[r.range_id].begin = r;
        } else if (c.kind() == wire::Kind::RangeEnd) {
            auto r = c.as<wire::RangeEndRecord>();
            out[r.range_id].ended = true;
            out[r.range_id].endTid = c.tid;
        }
    }
    return out;
}

const Range* findByName(const std::map<uint32_t, Range>& ranges, const std::string& name)
{
    for (const auto& [id, r] : ranges)
        if (te::stringText(r.begin.name_id) == name)
            return &r;
    return nullptr;
}

class NvtxInjection : public ::testing::Test {
protected:
    void SetUp() override
    {
        unsetenv("NVTX_INJECTION64_PATH"); // use the static injection hook of this binary
        te::clear();
    }
};

TEST_F(NvtxInjection, PushPopNestsAndPublishesTheInnermostRange)
{
    EXPECT_EQ(nvtxRangePushA("epoch"), 0);
    uint32_t outer = interposer::currentRangeId();
    EXPECT_NE(outer, 0u);
    EXPECT_EQ(nvtxRangePushW(L"f\u00f6rward"), 1);
    uint32_t inner = interposer::currentRangeId();
    EXPECT_NE(inner, outer);
    EXPECT_EQ(nvtxRangePop(), 1);
    EXPECT_EQ(interposer::currentRangeId(), outer);
    EXPECT_EQ(nvtxRangePop(), 0);
    EXPECT_EQ(interposer::currentRangeId(), 0u);
    EXPECT_LT(nvtxRangePop(), 0) << "popping an empty stack is an error";

    auto ranges = collectRanges();
    const Range* epoch = findByName(ranges, "epoch");
    const Range* forward = findByName(ranges, "f\xc3\xb6rward"); // UTF-8 of the wide name
    ASSERT_TRUE(epoch && forward);
    EXPECT_EQ(epoch->begin.range_id, outer);
    EXPECT_EQ(forward->begin.range_id, inner);
    EXPECT_EQ(forward->begin.parent_id, outer);
    EXPECT_EQ(epoch->begin.parent_id, 0u);
    EXPECT_EQ(epoch->begin.range_kind, static_cast<uint8_t>(wire::RangeKind::Push));
    EXPECT_TRUE(epoch->ended && forward->ended);
    EXPECT_LE(epoch->begin.ts_ns, forward->begin.ts_ns);
}

TEST_F(NvtxInjection, DomainsAndRegisteredStringsAreProcessGlobal)
{
    nvtxDomainHandle_t d1 = nvtxDomainCreateA("trainer");
    nvtxDomainHandle_t d2 = nvtxDomainCreateW(L"trainer");
    EXPECT_NE(d1, nullptr);
    EXPECT_EQ(d1, d2) << "the same domain name must give the same handle";
    nvtxStringHandle_t step = nvtxDomainRegisterStringA(d1, "train_step");
    nvtxStringHandle_t stepW = nvtxDomainRegisterStringW(d1, L"train_step");
    EXPECT_EQ(step, stepW);

    nvtxEventAttributes_t a {};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.category = 7;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = 0xFF00FF00;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = step;
    EXPECT_EQ(nvtxDomainRangePushEx(d1, &a), 0);
    uint32_t id = interposer::currentRangeId();
    EXPECT_EQ(nvtxDomainRangePop(d1), 0);

    auto ranges = collectRanges();
    ASSERT_EQ(ranges.count(id), 1u);
    const Range& r = ranges[id];
    EXPECT_EQ(te::stringText(r.begin.name_id), "train_step");
    EXPECT_EQ(te::stringText(r.begin.domain_id), "trainer");
    EXPECT_EQ(r.begin.category, 7u);
    EXPECT_EQ(r.begin.color, 0xFF00FF00u);
    EXPECT_TRUE(r.ended);
}

TEST_F(NvtxInjection, EachDomainPopsItsOwnStack)
{
    nvtxDomainHandle_t d = nvtxDomainCreateA("data");
    nvtxRangePushA("outer-default");
    nvtxEventAttributes_t a {};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = "load";
    nvtxDomainRangePushEx(d, &a);
    uint32_t load = interposer::currentRangeId();
    EXPECT_EQ(nvtxRangePop(), 0); // ends outer-default, not load
    EXPECT_EQ(interposer::currentRangeId(), load);
    auto ranges = collectRanges();
    EXPECT_TRUE(findByName(ranges, "outer-default")->ended);
    EXPECT_FALSE(findByName(ranges, "load")->ended);
    EXPECT_EQ(nvtxDomainRangePop(d), 0);
    EXPECT_EQ(interposer::currentRangeId(), 0u);
}

TEST_F(NvtxInjection, StartEndRangesCrossThreadsAndAreNotPhases)
{
    nvtxRangeId_t id = nvtxRangeStartA("prefetch");
    EXPECT_NE(id, 0u);
    EXPECT_EQ(interposer::currentRangeId(), 0u) << "start/end ranges do not become the thread's phase";
    uint32_t otherTid = 0;
    std::thread([&] {
        otherTid = static_cast<uint32_t>(syscall(SYS_gettid));
        nvtxRangeEnd(id);
    }).join();
    auto ranges = collectRanges();
    ASSERT_EQ(ranges.count(static_cast<uint32_t>(id)), 1u);
    const Range& r = ranges[static_cast<uint32_t>(id)];
    EXPECT_EQ(r.begin.range_kind, static_cast<uint8_t>(wire::RangeKind::StartEnd));
    EXPECT_TRUE(r.ended);
    EXPECT_EQ(r.endTid, otherTid);
}

TEST_F(NvtxInjection, MarksAndThreadNames)
{
    nvtxMarkA("checkpoint-saved");
    nvtxNameOsThreadA(4242, "data-loader");
    nvtxNameOsThreadW(4243, L"w\u00e4rker");
    auto marks = te::recordsOfKind(wire::Kind::Mark);
    ASSERT_EQ(marks.size(), 1u);
    EXPECT_EQ(te::stringText(marks[0].as<wire::MarkRecord>().name_id), "checkpoint-saved");
    auto names = te::recordsOfKind(wire::Kind::ThreadName);
    ASSERT_EQ(names.size(), 2u);
    auto n0 = names[0].as<wire::ThreadNameRecord>();
    EXPECT_EQ(n0.tid, 4242u);
    EXPECT_EQ(
        std::string(reinterpret_cast<const char*>(names[0].bytes.data()) + sizeof(n0), n0.name_len), "data-loader");
    EXPECT_EQ(names[0].bytes.size() % 8, 0u);
    auto n1 = names[1].as<wire::ThreadNameRecord>();
    EXPECT_EQ(
        std::string(reinterpret_cast<const char*>(names[1].bytes.data()) + sizeof(n1), n1.name_len), "w\xc3\xa4rker");
}

TEST_F(NvtxInjection, DeepNestingIsBoundedAndUnwindsCleanly)
{
    for (int i = 0; i < 100; ++i)
        nvtxRangePushA("deep");
    EXPECT_NE(interposer::currentRangeId(), 0u);
    for (int i = 0; i < 100; ++i)
        EXPECT_GE(nvtxRangePop(), 0);
    EXPECT_EQ(interposer::currentRangeId(), 0u);
    auto ranges = collectRanges();
    EXPECT_EQ(ranges.size(), 100u);
    for (const auto& [id, r] : ranges)
        EXPECT_TRUE(r.ended) << "range " << id << " never ended";
    uint64_t v = 0;
    EXPECT_TRUE(te::findStat("nvtx.range_stack_overflow", &v, nullptr));
}

TEST_F(NvtxInjection, ThreadsKeepTheirOwnStacksAndShareHandles)
{
    constexpr int kThreads = 8, kIterations = 500;
    nvtxDomainHandle_t handles[kThreads] {};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([t, &handles] {
            std::string name = "shared-" + std::to_string(t % 2);
            handles[t] = nvtxDomainCreateA(name.c_str());
            nvtxStringHandle_t inner = nvtxDomainRegisterStringA(handles[t], ("inner-" + std::to_string(t)).c_str());
            nvtxEventAttributes_t a {};
            a.version = NVTX_VERSION;
            a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
            a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
            a.message.registered = inner;
            for (int i = 0; i < kIterations; ++i) {
                nvtxRangePushA("outer");
                uint32_t outer = interposer::currentRangeId();
                nvtxDomainRangePushEx(handles[t], &a);
                EXPECT_NE(interposer::currentRangeId(), outer);
                nvtxDomainRangePop(handles[t]);
                EXPECT_EQ(interposer::currentRangeId(), outer) << "another thread's push leaked into this stack";
                nvtxRangePop();
            }
            EXPECT_EQ(interposer::currentRangeId(), 0u);
        });
    for (auto& th : threads)
        th.join();
    for (int t = 2; t < kThreads; ++t)
        EXPECT_EQ(handles[t], handles[t % 2]) << "same name, same handle, whatever the thread";
    EXPECT_NE(handles[0], handles[1]);

    // Every range ended on the thread that began it, and each inner range's parent is an outer
    // range of the same thread.
    std::map<uint32_t, uint32_t> beganOn;
    for (const auto& c : te::records())
        if (c.kind() == wire::Kind::RangeBegin)
            beganOn[c.as<wire::RangeBeginRecord>().range_id] = c.tid;
    auto ranges = collectRanges();
    EXPECT_EQ(ranges.size(), size_t(kThreads * kIterations * 2));
    for (const auto& [id, r] : ranges) {
        EXPECT_TRUE(r.ended);
        EXPECT_EQ(r.endTid, beganOn[id]);
        if (r.begin.parent_id)
            EXPECT_EQ(beganOn[r.begin.parent_id], beganOn[id]);
        std::string name = te::stringText(r.begin.name_id);
        EXPECT_TRUE(name == "outer" || name.rfind("inner-", 0) == 0) << name;
    }
}

TEST_F(NvtxInjection, MalformedInputIsHarmless)
{
    EXPECT_EQ(nvtxRangePushEx(nullptr), 0); // an unnamed range
    nvtxEventAttributes_t tooSmall {};
    tooSmall.size = 4; // older or broken caller: fields beyond the struct are not read
    tooSmall.messageType = NVTX_MESSAGE_TYPE_ASCII;
    tooSmall.message.ascii = "never read";
    EXPECT_EQ(nvtxRangePushEx(&tooSmall), 1);
    nvtxEventAttributes_t badType {};
    badType.version = NVTX_VERSION;
    badType.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    badType.messageType = 99;
    nvtxMarkEx(&badType);
    nvtxMarkEx(nullptr);
    nvtxMarkA(nullptr);
    nvtxNameOsThreadA(1, nullptr);
    nvtxRangeEnd(0);
    EXPECT_EQ(nvtxDomainRegisterStringA(nullptr, nullptr), nullptr);
    EXPECT_EQ(nvtxRangePop(), 1);
    EXPECT_EQ(nvtxRangePop(), 0);
    auto ranges = collectRanges();
    ASSERT_EQ(ranges.size(), 2u);
    for (const auto& [id, r] : ranges) {
        EXPECT_EQ(r.begin.name_id, 0u) << "no name could be read";
        EXPECT_TRUE(r.ended);
    }
    EXPECT_EQ(te::recordsOfKind(wire::Kind::Mark).size(), 3u);
    EXPECT_TRUE(te::recordsOfKind(wire::Kind::ThreadName).empty());
}

TEST_F(NvtxInjection, DisabledByEnvironmentReturnsZero)
{
    setenv("TIDEMARK_NVTX", "0", 1);
    EXPECT_EQ(InitializeInjectionNvtx2(nullptr), 0);
    nvtxExtModuleInfo_t info {};
    EXPECT_EQ(InitializeInjectionNvtxExtension(&info), 0);
    unsetenv("TIDEMARK_NVTX");
}

} // namespace
