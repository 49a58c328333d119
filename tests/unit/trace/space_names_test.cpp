// Tests of the memory-space names shared by the collector and the importers.
#include "trace/space_names.h"

#include <gtest/gtest.h>

using namespace tidemark;
using namespace tidemark::trace;

TEST(SpaceNames, EveryKindHasItsName)
{
    EXPECT_EQ(spaceName(SpaceKind::Host), "host");
    EXPECT_EQ(spaceName(SpaceKind::Device, 0), "cuda:0");
    EXPECT_EQ(spaceName(SpaceKind::Device, 17), "cuda:17");
    EXPECT_EQ(spaceName(SpaceKind::Pinned), "pinned");
    EXPECT_EQ(spaceName(SpaceKind::Managed), "managed");
    EXPECT_EQ(spaceName(SpaceKind::Pool, 2), "pool:cuda:2");
    EXPECT_EQ(spaceName(SpaceKind::Host, 3), "host") << "the device is read only for device and pool spaces";
    EXPECT_EQ(spaceName(static_cast<SpaceKind>(200)), "");
}

TEST(SpaceNames, PoolsAreNamedAfterTheirParent)
{
    EXPECT_EQ(poolSpaceName("cuda:1"), "pool:cuda:1");
    EXPECT_EQ(poolSpaceName("host"), "pool:host");
    EXPECT_EQ(poolSpaceName(""), "pool:unknown");
    EXPECT_EQ(poolSpaceName(spaceName(SpaceKind::Device, 4)), spaceName(SpaceKind::Pool, 4));
}

TEST(SpaceNames, DeviceIsReadBackFromTheName)
{
    EXPECT_EQ(spaceDevice("cuda:0"), 0);
    EXPECT_EQ(spaceDevice("cuda:12"), 12);
    EXPECT_EQ(spaceDevice("pool:cuda:3"), 3);
    EXPECT_EQ(spaceDevice("host"), std::nullopt);
    EXPECT_EQ(spaceDevice("pool:host"), std::nullopt);
    EXPECT_EQ(spaceDevice("pool:unknown"), std::nullopt);
    EXPECT_EQ(spaceDevice("cuda:"), std::nullopt);
    EXPECT_EQ(spaceDevice("cuda:1x"), std::nullopt);
}
