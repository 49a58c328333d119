// Which frames of a call stack are allocator plumbing and which one is the user's code that "the site"
// of an allocation is named after (docs/analysis.md, "Site"); user skip patterns (`--skip-frames`); the
// stack of a site with every frame's role (`report --stacks`); frames that mark start-up code.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tidemark::analysis {

// How a frame counts when the site of an allocation is named, walking outward from the innermost.
enum class FrameRole {
    User, // the user's code: the first one names the site
    Library, // library layers (std:: API, CPython's interpreter, PyTorch's C++, pybind11, thread entry
             // points, annotation and storage wrappers, frames outside any module): named only when the
             // stack has no User frame
    Plumbing, // allocator entry points and internals, frames in runtime modules (libc, libstdc++, ld.so,
              // libtidemark*), --skip-frames patterns: never named unless every frame is plumbing
};
const char* frameRoleName(FrameRole role); // "user", "library", "plumbing"

FrameRole frameRole(const Location& location);

// A demangled name reduced to its qualified name: return type, template arguments, parameter lists
// and trailing qualifiers dropped ("void std::vector<int>::_M_realloc_insert<int>(...)" →
// "std::vector::_M_realloc_insert"), so rules look at the function, not at the types it mentions.
std::string qualifiedName(std::string_view demangled);

// Allocator entry points and internals: the malloc family, operator new/delete, strdup, CUDA and NVTX
// memory calls, c10's CPU allocator, CPython's allocator, std:: container and string internals.
bool isAllocatorFunction(std::string_view function);
// libc, libstdc++, ld.so, libpthread/libdl, libtidemark*, libcudart, libcuda (module basenames).
bool isRuntimeModule(std::string_view module);

// User skip patterns (`tidemark report --skip-frames`): ECMAScript regular expressions searched in each
// frame's demangled function name, or with a "module:" prefix in its module's file name. Matching frames
// are plumbing. Process-wide, read by every Recording; set it before the first site is named, as
// Recordings cache site names. A bad pattern is a Usage error naming it; nothing is changed then.
Status setSkipFramePatterns(const std::vector<std::string>& patterns);
const std::vector<std::string>& skipFramePatterns();

// One frame of a site's stack as `report --stacks` shows it.
struct SiteFrame {
    Location location;
    FrameRole role = FrameRole::User;
    bool skipped = false; // walked past while naming the site (inner to the site)
    bool isSite = false; // the frame the site is named after
};

// The stack of a leaf callsite, innermost first (inline chains expanded: the inlined code that ran
// comes before the function it was inlined into), with every frame's role and the site marked.
Result<std::vector<SiteFrame>> siteStack(Recording& rec, int64_t callsiteId);

// True when the callsite's stack is start-up code: a frame of static initializers
// (_GLOBAL__sub_I_*, __static_initialization_and_destruction_*), of the dynamic loader running
// initializers or loading a library (_dl_init, dlopen), of the interpreter's initialization or of a
// module import (Py_Initialize*, PyImport_*, PyInit_*, _imp_*); or CPython running module code inside
// module code (PyEval_EvalCode twice: the main script's, then an import's), which still tells an import
// when the stack was cut before the import machinery. memo keeps per-callsite state for one recording.
bool isStartupStack(Recording& rec, int64_t callsiteId, std::unordered_map<int64_t, uint8_t>& memo);

} // namespace tidemark::analysis
