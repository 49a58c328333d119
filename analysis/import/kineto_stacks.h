// Call stacks for Kineto [memory] events: the operators (cpu_op) and Python functions (python_function,
// with_stack traces) that enclose an event on its thread, innermost first, as symbolic frames.
#pragma once

#include "analysis/import/kineto_memory.h"
#include "analysis/import/recording_writer.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tidemark::import {

struct StackSpan {
    int64_t startTsNs = 0, endTsNs = 0;
    SymbolicFrame frame;
};

// A frame from an event name: "path/file.py(123): forward" -> forward, path/file.py, 123; others as is.
SymbolicFrame kinetoFrame(const std::string& name);

// Sets KinetoMemoryEvent::callsite for events enclosed by spans of their thread (spans by tid).
void attachStacks(std::map<int64_t, std::vector<StackSpan>>& spansByTid, std::vector<KinetoMemoryEvent>& events,
    RecordingWriter& out);

} // namespace tidemark::import
