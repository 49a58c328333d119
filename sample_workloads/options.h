// Command-line options of tidemark-train: parsed strictly (a bad value is one clear error, never a
// silent default) into a TrainConfig plus the program-level switches.
#pragma once

#include "trainer.h"

#include <string>

namespace tidemark::train {

struct Options {
    TrainConfig train;
    std::string truthPath;
    bool help = false;
    bool distributed = false;
};

// Returns an empty string on success, else the error message (without the program prefix).
std::string parseOptions(int argc, const char* const* argv, Options& out);
const char* usageText();

} // namespace tidemark::train
