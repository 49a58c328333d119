// AddressMap against std::unordered_map on random inserts, replacements, lookups and erases (dense
// and colliding keys, so probe runs wrap around the table and erases shift entries back).
#include "collector/address_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace tidemark::collector {
namespace {

TEST(AddressMap, BehavesLikeAHashMapUnderRandomOperations)
{
    for (uint64_t seed : { 1u, 2u, 3u }) {
        std::mt19937_64 rng(seed);
        AddressMap<int64_t> map;
        std::unordered_map<uint64_t, int64_t> truth;
        // Few distinct keys, 16-aligned like heap blocks, so the same keys come back often.
        auto key = [&] { return 0x7f0000000000ull + (rng() % 3000) * 16; };
        for (int i = 0; i < 200000; ++i) {
            uint64_t k = key();
            switch (rng() % 4) {
            case 0:
            case 1: {
                int64_t v = static_cast<int64_t>(rng());
                map.put(k, v);
                truth[k] = v;
                break;
            }
            case 2:
                ASSERT_EQ(map.erase(k), truth.erase(k) == 1) << "seed " << seed << " op " << i;
                break;
            default: {
                const int64_t* got = map.find(k);
                auto want = truth.find(k);
                ASSERT_EQ(got != nullptr, want != truth.end()) << "seed " << seed << " op " << i;
                if (got)
                    ASSERT_EQ(*got, want->second);
            }
            }
            ASSERT_EQ(map.size(), truth.size());
        }
        size_t seen = 0;
        map.forEach([&](uint64_t k, int64_t v) {
            ++seen;
            ASSERT_EQ(truth.at(k), v);
        });
        EXPECT_EQ(seen, truth.size());
        map.clear();
        EXPECT_EQ(map.size(), 0u);
        EXPECT_EQ(map.find(0x7f0000000000ull), nullptr);
    }
}

} // namespace
} // namespace tidemark::collector
