// The names of memory spaces (see space_names.h).
#include "trace/space_names.h"

#include <charconv>

namespace tidemark::trace {

namespace {
    constexpr std::string_view kDevicePrefix = "cuda:";
    constexpr std::string_view kPoolPrefix = "pool:";
} // namespace

std::string spaceName(SpaceKind kind, int device)
{
    switch (kind) {
    case SpaceKind::Host:
        return "host";
    case SpaceKind::Device:
        return std::string(kDevicePrefix) + std::to_string(device);
    case SpaceKind::Pinned:
        return "pinned";
    case SpaceKind::Managed:
        return "managed";
    case SpaceKind::Pool:
        return poolSpaceName(spaceName(SpaceKind::Device, device));
    }
    return {}; // a kind from damaged input: the collector keeps such rows apart under an empty name
}

std::string poolSpaceName(std::string_view parent)
{
    return std::string(kPoolPrefix) + std::string(parent.empty() ? std::string_view("unknown") : parent);
}

std::optional<int> spaceDevice(std::string_view name)
{
    if (name.starts_with(kPoolPrefix))
        name.remove_prefix(kPoolPrefix.size());
    if (!name.starts_with(kDevicePrefix))
        return std::nullopt;
    name.remove_prefix(kDevicePrefix.size());
    int device = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), device);
    if (ec != std::errc() || end != name.data() + name.size())
        return std::nullopt;
    return device;
}

} // namespace tidemark::trace
