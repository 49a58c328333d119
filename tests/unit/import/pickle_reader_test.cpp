// The restricted pickle reader on crafted byte strings: plain data decodes exactly; every opcode that could
// reach Python code is refused with Unsupported; limits (depth, marks, memo, lengths) and truncation at
// every offset give typed errors, never a crash.
#include "analysis/import/pickle_reader.h"

#include "import_test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

using namespace tidemark;
using namespace tidemark::import;

namespace {

std::string bytes(std::initializer_list<int> b)
{
    std::string s;
    for (int v : b)
        s.push_back(static_cast<char>(v));
    return s;
}

// PROTO 4, then body, then STOP.
std::string p4(const std::string& body) { return bytes({ 0x80, 4 }) + body + "."; }

} // namespace

TEST(PickleReader, DecodesPlainDataOfProtocol4)
{
    // {'a': [1, -2, 300, 70000, 2**40, -2**40, 1.5, True, None], 'b': (u'x\u00e9', b'\x00\x01')}
    std::string body = bytes({ '}', 0x94, '(' }) + bytes({ 0x8c, 1, 'a', 0x94, ']', 0x94, '(' });
    body += bytes({ 'K', 1, 'J', 0xfe, 0xff, 0xff, 0xff, 'M', 0x2c, 0x01, 'J', 0x70, 0x11, 0x01, 0x00 });
    body += bytes({ 0x8a, 6, 0, 0, 0, 0, 0, 1 });          // 2**40
    body += bytes({ 0x8a, 6, 0, 0, 0, 0, 0, 0xff });       // -2**40
    body += bytes({ 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0 });  // 1.5 big-endian
    body += bytes({ 0x88, 'N', 'e' });                      // True, None, APPENDS
    body += bytes({ 0x8c, 1, 'b', 'X', 3, 0, 0, 0, 'x', 0xc3, 0xa9, 'C', 2, 0, 1, 0x86, 'u' });
    auto doc = parsePickle(p4(body));
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    PickleRef root = doc->root();
    ASSERT_TRUE(root.isDict());
    PickleRef a = root["a"];
    ASSERT_EQ(a.size(), 9u);
    EXPECT_EQ(a.at(0).asInt(), 1);
    EXPECT_EQ(a.at(1).asInt(), -2);
    EXPECT_EQ(a.at(2).asInt(), 300);
    EXPECT_EQ(a.at(3).asInt(), 70000);
    EXPECT_EQ(a.at(4).asInt(), int64_t { 1 } << 40);
    EXPECT_EQ(a.at(5).asInt(), -(int64_t { 1 } << 40));
    EXPECT_DOUBLE_EQ(a.at(6).asDouble(), 1.5);
    EXPECT_TRUE(a.at(7).asBool());
    EXPECT_EQ(a.at(8).kind(), PickleKind::None);
    PickleRef b = root["b"];
    ASSERT_EQ(b.kind(), PickleKind::Tuple);
    EXPECT_EQ(b.at(0).asString(), "x\xc3\xa9");
    EXPECT_EQ(b.at(1).kind(), PickleKind::Bytes);
    EXPECT_FALSE(root["missing"].exists());
    EXPECT_EQ(root["missing"].asInt(42), 42);
}

TEST(PickleReader, MemoSharesContainersLikePython)
{
    // l = []; d = {'x': l, 'y': l}; l.append(7) after memoizing: both keys see the element.
    std::string body = bytes({ '}', 0x94, '(', 0x8c, 1, 'x', ']', 0x94, 0x8c, 1, 'y', 'h', 1, 'u' });
    body += bytes({ 'h', 1, 'K', 7, 'a', '0' });
    auto doc = parsePickle(p4(body));
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    EXPECT_EQ(doc->root()["x"].size(), 1u);
    EXPECT_EQ(doc->root()["y"].at(0).asInt(), 7);
}

TEST(PickleReader, AcceptsProtocols0To2Forms)
{
    // Protocol 0: (lp0\nI1\naI01\na. -> [1, True]  (PUT is protocol-0 text, so use BINPUT forms instead)
    std::string body = "(I1\nI01\nL12345678901234L\nF2.5\nl.";
    auto doc = parsePickle(body);
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    ASSERT_EQ(doc->root().size(), 4u);
    EXPECT_EQ(doc->root().at(0).asInt(), 1);
    EXPECT_EQ(doc->root().at(1).kind(), PickleKind::Bool);
    EXPECT_EQ(doc->root().at(2).asInt(), 12345678901234);
    EXPECT_DOUBLE_EQ(doc->root().at(3).asDouble(), 2.5);
}

TEST(PickleReader, RefusesEveryOpcodeThatReachesPythonCode)
{
    struct Case {
        std::string name, data;
    };
    const Case cases[] = {
        { "GLOBAL", p4("cos\nsystem\n") },
        { "STACK_GLOBAL", p4(bytes({ 0x8c, 2, 'o', 's', 0x8c, 6, 's', 'y', 's', 't', 'e', 'm', 0x93 })) },
        { "REDUCE", p4(bytes({ 'N', ')', 'R' })) },
        { "BUILD", p4(bytes({ '}', '}', 'b' })) },
        { "INST", p4("(ios\nsystem\n") },
        { "OBJ", p4(bytes({ '(', 'N', 'o' })) },
        { "NEWOBJ", p4(bytes({ 'N', ')', 0x81 })) },
        { "NEWOBJ_EX", p4(bytes({ 'N', ')', '}', 0x92 })) },
        { "EXT1", p4(bytes({ 0x82, 1 })) },
        { "EXT2", p4(bytes({ 0x83, 1, 0 })) },
        { "EXT4", p4(bytes({ 0x84, 1, 0, 0, 0 })) },
        { "PERSID", p4("P1\n") },
        { "BINPERSID", p4(bytes({ 'K', 1, 'Q' })) },
        { "NEXT_BUFFER", p4(bytes({ 0x97 })) },
    };
    for (const Case& c : cases) {
        auto doc = parsePickle(c.data);
        ASSERT_FALSE(doc.ok()) << c.name;
        EXPECT_EQ(doc.error().code, ErrorCode::Unsupported) << c.name;
        EXPECT_NE(doc.error().message.find(c.name), std::string::npos) << doc.error().message;
    }
    auto unknown = parsePickle(p4(bytes({ 0xff })));
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ErrorCode::Unsupported);
    auto proto6 = parsePickle(bytes({ 0x80, 6, 'N', '.' }));
    ASSERT_FALSE(proto6.ok());
    EXPECT_EQ(proto6.error().code, ErrorCode::Unsupported);
}

TEST(PickleReader, DeepNestingHitsTheDepthLimit)
{
    // 2000 empty lists, each APPENDed into the one below: nesting depth 1999.
    std::string body;
    for (int i = 0; i < 2000; ++i)
        body += ']';
    for (int i = 0; i < 1999; ++i)
        body += 'a';
    auto doc = parsePickle(p4(body));
    ASSERT_FALSE(doc.ok());
    EXPECT_EQ(doc.error().code, ErrorCode::Usage);
    EXPECT_NE(doc.error().message.find("depth"), std::string::npos);

    PickleLimits roomy;
    roomy.maxDepth = 5000;
    auto ok = parsePickle(p4(body), roomy);
    EXPECT_TRUE(ok.ok()) << ok.error().message;
}

TEST(PickleReader, LimitsOnMarksMemoAndObjects)
{
    PickleLimits small;
    small.maxMarks = 10;
    small.maxMemo = 4;
    small.maxValues = 100;
    auto marks = parsePickle(p4(std::string(50, '(')), small);
    ASSERT_FALSE(marks.ok());
    EXPECT_EQ(marks.error().code, ErrorCode::Usage);

    std::string memo;
    for (int i = 0; i < 10; ++i)
        memo += bytes({ 'N', 0x94, '0' });
    auto m = parsePickle(p4(memo + "N"), small);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, ErrorCode::Usage);

    std::string many = "]";
    for (int i = 0; i < 200; ++i)
        many += bytes({ 'N', 'a' });
    auto v = parsePickle(p4(many), small);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, ErrorCode::Usage);
}

TEST(PickleReader, HugeLengthsAreErrorsNotAllocations)
{
    // BINUNICODE claiming 256 MiB in a 10-byte file: truncated, not a 256 MiB allocation.
    auto a = parsePickle(p4(bytes({ 'X', 0, 0, 0, 0x10, 'a' })));
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code, ErrorCode::Corrupt);
    // BINUNICODE8 claiming 2**62 bytes: over the string limit.
    auto b = parsePickle(p4(bytes({ 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x40 })));
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code, ErrorCode::Usage);
    // LONG1 of 9 bytes that does not fit 64 bits.
    auto c = parsePickle(p4(bytes({ 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1 })));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::Unsupported);
    // LONG4 with a length beyond the data.
    auto d = parsePickle(p4(bytes({ 0x8b, 0xff, 0xff, 0xff, 0x7f })));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::Corrupt);
}

TEST(PickleReader, MalformedStacksAreCorrupt)
{
    const std::string cases[] = {
        p4("a"),                               // APPEND with nothing
        p4(bytes({ 'K', 1, 'a' })),            // APPEND to an int
        p4(bytes({ 'h', 9 })),                 // BINGET of an undefined memo key
        p4("e"),                               // APPENDS without MARK
        p4(bytes({ '}', '(', 'K', 1, 'u' })),  // SETITEMS with an odd count
        p4(bytes({ 'N', 'N' })),               // STOP with two values
        p4(""),                                // STOP with none
        p4(bytes({ 0x86 })),                   // TUPLE2 of nothing
    };
    for (const auto& c : cases) {
        auto doc = parsePickle(c);
        ASSERT_FALSE(doc.ok());
        EXPECT_EQ(doc.error().code, ErrorCode::Corrupt) << doc.error().message;
    }
}

TEST(PickleReader, SelfReferenceThroughTheMemoDoesNotRecurse)
{
    // l = []; l.append(l): a cycle. Parsing and walking a bounded path must terminate.
    auto doc = parsePickle(p4(bytes({ ']', 0x94, 'h', 0, 'a' })));
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    PickleRef r = doc->root();
    for (int i = 0; i < 100; ++i)
        r = r.at(0);
    EXPECT_TRUE(r.isList());
}

TEST(PickleReader, EveryTruncationOfARealisticPickleIsATypedError)
{
    std::string data = test::readAll(test::fixture("tiny_snapshot.pickle"));
    ASSERT_GT(data.size(), 1000u);
    ASSERT_TRUE(parsePickle(data).ok());
    for (size_t cut = 0; cut < data.size(); ++cut) {
        auto doc = parsePickle(std::string_view(data).substr(0, cut));
        ASSERT_FALSE(doc.ok()) << "cut at " << cut;
        EXPECT_EQ(doc.error().code, ErrorCode::Corrupt) << "cut at " << cut << ": " << doc.error().message;
    }
}

TEST(PickleReader, FlippedBytesNeverCrash)
{
    std::string data = test::readAll(test::fixture("tiny_snapshot.pickle"));
    ASSERT_FALSE(data.empty());
    std::mt19937 rng(1234);
    int errors = 0;
    for (size_t pos = 0; pos < data.size(); ++pos) {
        std::string bad = data;
        bad[pos] = static_cast<char>(bad[pos] ^ (1 + rng() % 255));
        auto doc = parsePickle(bad);
        if (!doc.ok()) {
            ++errors;
            EXPECT_NE(doc.error().code, ErrorCode::Ok);
            EXPECT_FALSE(doc.error().message.empty());
        }
    }
    EXPECT_GT(errors, 0);
}
