// Umbrella header of the analysis API: include this from the CLI, the GUI or the CI gate.
// Open a recording (Recording::open), then ask questions (queries.h) or build the report (report.h).
#pragma once

#include "analysis/queries.h"
#include "analysis/recording.h"
#include "analysis/report.h"
#include "analysis/types.h"
