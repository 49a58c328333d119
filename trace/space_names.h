// The names of memory spaces (`spaces.name`: host, cuda:N, pinned, managed, pool:<parent>), defined
// once for the collector and the importers, so a recorded and an imported run name a space alike.
#pragma once

#include "trace/enums.h"

#include <optional>
#include <string>
#include <string_view>

namespace tidemark::trace {

// host, cuda:<device>, pinned, managed; for a pool, the pool over device memory: pool:cuda:<device>.
// device is read only for Device and Pool. Empty for a value outside SpaceKind.
std::string spaceName(SpaceKind kind, int device = 0);

// The pool over the space named parent: pool:<parent>, or pool:unknown when parent is empty (the
// memory under a pool heap was not seen).
std::string poolSpaceName(std::string_view parent);

// The device ordinal of a device space (cuda:N) or of a pool over one (pool:cuda:N); nullopt for any
// other name.
std::optional<int> spaceDevice(std::string_view name);

} // namespace tidemark::trace
