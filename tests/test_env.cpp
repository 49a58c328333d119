// Gives every test binary the locations of the source tree, the build tree and the shared real
// recordings, so a test finds its fixtures the same way under ctest, in CI and when run by hand.
// A value already in the environment wins (setenv without overwrite).
#include <cstdlib>

namespace {

// Runs before ordinary static initializers, so no test code can read the environment first.
__attribute__((constructor(101))) void setTestEnvironmentDefaults()
{
    setenv("TIDEMARK_SOURCE_DIR", TIDEMARK_TEST_SOURCE_DIR, 0);
    setenv("TIDEMARK_BUILD_DIR", TIDEMARK_TEST_BUILD_DIR, 0);
    setenv("TIDEMARK_REALDATA", TIDEMARK_TEST_REALDATA, 0);
}

} // namespace
