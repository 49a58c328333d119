// Test helper: builds a real recording (trace::createRecording, the same schema the collector writes)
// from a small line-based text fixture, then finalizes it. The format is documented in
// tests/data/fixtures/README.md.
#pragma once

#include "trace/result.h"

#include <string>

namespace tidemark::testing {

// Parses fixture text and writes the recording to path (replaced). finalize = build indexes and
// the level-of-detail series as after `record`/`import`.
Status buildRecordingFromFixture(const std::string& fixtureText, const std::string& path, bool finalize = true);

// "4K" / "2M" / "1G" (binary units) or a plain integer; "10us", "5ms", "2s" for times.
int64_t parseSize(const std::string& text);
int64_t parseTime(const std::string& text);

} // namespace tidemark::testing
