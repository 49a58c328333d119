// Tests of the spool reader: record walking, validation, and files cut short mid-chunk.
#include "trace/spool_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::trace;

namespace {

struct Builder {
    std::vector<uint8_t> bytes;
    Builder()
    {
        wire::SpoolFileHeader h {};
        std::memcpy(h.magic, wire::kSpoolMagic, 8);
        h.version = wire::kSpoolVersion;
        h.header_bytes = sizeof(h);
        h.pid = 4242;
        append(&h, sizeof(h));
    }
    void append(const void* p, size_t n)
    {
        auto* b = static_cast<const uint8_t*>(p);
        bytes.insert(bytes.end(), b, b + n);
    }
    void chunk(uint32_t tid, const std::vector<uint8_t>& payload)
    {
        wire::ChunkHeader c { wire::kChunkMagic, static_cast<uint32_t>(payload.size()), tid, 0 };
        append(&c, sizeof(c));
        append(payload.data(), payload.size());
    }
    void write(const fs::path& p) { std::ofstream(p, std::ios::binary).write((const char*)bytes.data(), bytes.size()); }
};

std::vector<uint8_t> allocRecords(int n)
{
    std::vector<uint8_t> out;
    for (int i = 0; i < n; ++i) {
        wire::HostAllocRecord r {};
        r.h = { static_cast<uint16_t>(wire::Kind::HostAlloc), sizeof(r) };
        r.api = 1;
        r.address = 0x1000 + i * 16;
        r.size = 16 + i;
        auto* b = reinterpret_cast<const uint8_t*>(&r);
        out.insert(out.end(), b, b + sizeof(r));
    }
    return out;
}

fs::path tempFile(const char* name)
{
    fs::path dir = fs::temp_directory_path() / ("tidemark_spool_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir / name;
}

} // namespace

TEST(SpoolReader, ReadsAllRecordsOfCompleteChunks)
{
    Builder b;
    b.chunk(7, allocRecords(3));
    b.chunk(8, allocRecords(2));
    auto path = tempFile("ok.tmspool");
    b.write(path);
    auto reader = SpoolReader::open(path.string());
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ(reader->header().pid, 4242u);
    uint64_t sizeSum = 0;
    std::vector<uint32_t> tids;
    auto scan = reader->forEach([&](uint32_t tid, const wire::RecordHeader& h) {
        ASSERT_EQ(h.kind, static_cast<uint16_t>(wire::Kind::HostAlloc));
        sizeSum += reinterpret_cast<const wire::HostAllocRecord&>(h).size;
        tids.push_back(tid);
    });
    EXPECT_EQ(scan.records, 5u);
    EXPECT_EQ(scan.chunks, 2u);
    EXPECT_TRUE(scan.clean_end);
    EXPECT_EQ(sizeSum, (16u + 17 + 18) + (16 + 17));
    EXPECT_EQ(tids, (std::vector<uint32_t> { 7, 7, 7, 8, 8 }));
}

TEST(SpoolReader, PartialLastChunkKeepsItsWholeRecordsAndCountsWhatNeverLanded)
{
    Builder b;
    b.chunk(1, allocRecords(4));
    size_t before = b.bytes.size();
    b.chunk(1, allocRecords(4));
    b.bytes.resize(before + 16 + 40 + 10); // cut inside the second chunk's second record
    auto path = tempFile("cut.tmspool");
    b.write(path);
    auto reader = SpoolReader::open(path.string());
    ASSERT_TRUE(reader);
    auto scan = reader->forEach([](uint32_t, const wire::RecordHeader&) {});
    EXPECT_EQ(scan.records, 4u + 1) << "the torn chunk's first record landed whole";
    EXPECT_EQ(scan.bad_records, 1u) << "the record cut in two";
    EXPECT_EQ(scan.chunks, 2u);
    EXPECT_FALSE(scan.clean_end);
    EXPECT_EQ(scan.truncated_bytes, 4u * 40 - (40 + 10));
}

TEST(SpoolReader, TornChunkHeaderLosesTheTailOnly)
{
    Builder b;
    b.chunk(1, allocRecords(2));
    size_t before = b.bytes.size();
    b.chunk(1, allocRecords(2));
    b.bytes.resize(before + 9); // inside the second chunk's header
    auto path = tempFile("cuthead.tmspool");
    b.write(path);
    auto reader = SpoolReader::open(path.string());
    ASSERT_TRUE(reader);
    auto scan = reader->forEach([](uint32_t, const wire::RecordHeader&) {});
    EXPECT_EQ(scan.records, 2u);
    EXPECT_EQ(scan.chunks, 1u);
    EXPECT_EQ(scan.truncated_bytes, 9u);
}

TEST(SpoolReader, FramingSaysPendingWhileTheWriterLivesAndTornAfter)
{
    Builder b;
    b.chunk(3, allocRecords(2));
    std::vector<uint8_t> file = b.bytes;
    const size_t start = sizeof(wire::SpoolFileHeader);
    file.resize(file.size() - 8);
    ChunkFrame live = frameChunk(file.data(), file.size(), start, false);
    EXPECT_EQ(live.state, ChunkFrame::State::Pending);
    EXPECT_EQ(live.next, start) << "looked at again on the next refresh";
    ChunkFrame dead = frameChunk(file.data(), file.size(), start, true);
    EXPECT_EQ(dead.state, ChunkFrame::State::Torn);
    EXPECT_EQ(dead.tid, 3u);
    EXPECT_EQ(dead.payload_bytes, 80u - 8);
    EXPECT_EQ(dead.lost_bytes, 8u);
    EXPECT_EQ(dead.next, file.size());
    EXPECT_EQ(frameRecord(file.data(), dead.payload, dead.payload + dead.payload_bytes), 40u);
    EXPECT_EQ(frameRecord(file.data(), dead.payload + 40, dead.payload + dead.payload_bytes), 0u);
}

TEST(SpoolReader, BadRecordSizeIsCountedNotFollowed)
{
    Builder b;
    auto payload = allocRecords(2);
    reinterpret_cast<wire::RecordHeader*>(payload.data() + 40)->size_bytes = 12; // not a multiple of 8
    b.chunk(1, payload);
    b.chunk(1, allocRecords(1));
    auto path = tempFile("bad.tmspool");
    b.write(path);
    auto reader = SpoolReader::open(path.string());
    ASSERT_TRUE(reader);
    auto scan = reader->forEach([](uint32_t, const wire::RecordHeader&) {});
    EXPECT_EQ(scan.records, 2u);
    EXPECT_EQ(scan.bad_records, 1u);
}

TEST(SpoolReader, ForeignFileIsRejected)
{
    auto path = tempFile("foreign.tmspool");
    std::ofstream(path) << std::string(200, 'z');
    auto reader = SpoolReader::open(path.string());
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().code, ErrorCode::NotARecording);
}
