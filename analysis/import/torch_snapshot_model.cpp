// Reading TorchSnapshot from a parsed pickle; every field is checked for its type, so a pickle that is
// plain data but not a snapshot is a clear error rather than a recording full of zeros.
#include "analysis/import/torch_snapshot_model.h"

namespace tidemark::import {

namespace {

Error notSnapshot(const std::string& what)
{
    return makeError(ErrorCode::Corrupt, "pickle is not a PyTorch memory snapshot: " + what,
        "expected the output of torch.cuda.memory._dump_snapshot() or torch.cuda.memory_snapshot()");
}

// Renders a small plain-data value as JSON text (allocator settings go into meta as one JSON value).
void toJson(PickleRef v, std::string& out, int depth)
{
    if (depth > 8) {
        out += "null";
        return;
    }
    switch (v.kind()) {
    case PickleKind::Bool: out += v.asBool() ? "true" : "false"; break;
    case PickleKind::Int: out += std::to_string(v.asInt()); break;
    case PickleKind::Float: out += std::to_string(v.asDouble()); break;
    case PickleKind::String: {
        out += '"';
        for (char c : v.asString()) {
            if (c == '"' || c == '\\')
                out += '\\';
            if (static_cast<unsigned char>(c) >= 0x20)
                out += c;
        }
        out += '"';
        break;
    }
    case PickleKind::List:
    case PickleKind::Tuple:
    case PickleKind::Set:
        out += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            out += i ? "," : "";
            toJson(v.at(i), out, depth + 1);
        }
        out += ']';
        break;
    case PickleKind::Dict:
        out += '{';
        for (size_t i = 0; i < v.size(); ++i) {
            out += i ? "," : "";
            std::string key;
            toJson(v.keyAt(i), key, depth + 1);
            out += v.keyAt(i).kind() == PickleKind::String ? key : "\"" + key + "\"";
            out += ':';
            toJson(v.valueAt(i), out, depth + 1);
        }
        out += '}';
        break;
    default: out += "null";
    }
}

std::string poolIdText(PickleRef v)
{
    if (!v.isList())
        return {};
    std::string s = "(";
    for (size_t i = 0; i < v.size(); ++i)
        s += (i ? "," : "") + std::to_string(v.at(i).asInt());
    return s + ")";
}

Result<TorchSegment> readSegment(PickleRef s)
{
    if (!s.isDict() || !s["address"].isInt() || !s["total_size"].isInt() || !s["blocks"].isList())
        return notSnapshot("a segment lacks address, total_size or blocks");
    TorchSegment seg;
    seg.device = static_cast<int>(s["device"].asInt(0));
    if (seg.device < 0 || seg.device > 1023)
        return notSnapshot("device index " + std::to_string(seg.device) + " out of range");
    seg.address = static_cast<uint64_t>(s["address"].asInt());
    seg.totalBytes = s["total_size"].asInt();
    seg.allocatedBytes = s["allocated_size"].asInt(0);
    seg.stream = s["stream"].asInt(0);
    seg.type = std::string(s["segment_type"].asString());
    seg.poolId = poolIdText(s["segment_pool_id"]);
    seg.expandable = s["is_expandable"].asBool(false);
    seg.frames = s["frames"];
    PickleRef blocks = s["blocks"];
    uint64_t next = seg.address; // PyTorch 2.0 blocks carry no address: they tile the segment in order
    for (size_t i = 0; i < blocks.size(); ++i) {
        PickleRef b = blocks.at(i);
        if (!b.isDict() || !b["size"].isInt())
            return notSnapshot("a block lacks its size");
        TorchBlock block;
        block.address = b["address"].isInt() ? static_cast<uint64_t>(b["address"].asInt()) : next;
        block.sizeBytes = b["size"].asInt();
        block.requestedBytes = b["requested_size"].asInt(block.sizeBytes);
        block.state = std::string(b["state"].asString("active_allocated"));
        block.frames = b["frames"];
        PickleRef history = b["history"];
        if (!block.frames.exists() && history.isList() && history.size() > 0)
            block.frames = history.at(history.size() - 1)["frames"];
        if (block.sizeBytes < 0)
            return notSnapshot("a block has a negative size");
        next = block.address + static_cast<uint64_t>(block.sizeBytes);
        seg.blocks.push_back(std::move(block));
    }
    return seg;
}

Status readTraces(PickleRef traces, TorchSnapshot& snap)
{
    if (!traces.exists())
        return okStatus();
    if (!traces.isList() || traces.size() > 1024)
        return notSnapshot("device_traces is not a list of devices");
    snap.deviceTraces.resize(traces.size());
    for (size_t d = 0; d < traces.size(); ++d) {
        PickleRef events = traces.at(d);
        if (!events.isList())
            return notSnapshot("device_traces[" + std::to_string(d) + "] is not a list");
        auto& out = snap.deviceTraces[d];
        out.reserve(events.size());
        for (size_t i = 0; i < events.size(); ++i) {
            PickleRef e = events.at(i);
            if (!e.isDict() || e["action"].kind() != PickleKind::String)
                return notSnapshot("a trace entry has no action");
            TorchEvent ev;
            ev.action = std::string(e["action"].asString());
            ev.address = static_cast<uint64_t>(e["addr"].asInt(0));
            ev.sizeBytes = e["size"].asInt(0);
            ev.stream = e["stream"].asInt(0);
            if (e["time_us"].isInt())
                ev.timeUs = e["time_us"].asInt();
            if (e["device_free"].isInt())
                ev.deviceFreeBytes = e["device_free"].asInt();
            ev.frames = e["frames"];
            out.push_back(std::move(ev));
        }
    }
    return okStatus();
}

} // namespace

// Innermost frames of the recorder itself and of the caching allocator's malloc: every allocation has
// them, so they would make every call site the same. Dropped as tidemark drops its own hook frames.
bool isRecorderFrame(std::string_view name)
{
    for (std::string_view prefix : { "torch::unwind::", "torch::CapturedTraceback::", "torch::cuda::(anonymous namespace)::gather",
             "c10::cuda::CUDACachingAllocator::" })
        if (name.starts_with(prefix))
            return true;
    return false;
}

std::vector<SymbolicFrame> torchFrames(PickleRef frames)
{
    std::vector<SymbolicFrame> out;
    if (!frames.isList())
        return out;
    out.reserve(frames.size());
    size_t first = 0;
    while (first < frames.size() && isRecorderFrame(frames.at(first)["name"].asString()))
        ++first;
    for (size_t i = first; i < frames.size(); ++i) {
        PickleRef f = frames.at(i);
        if (!f.isDict())
            continue;
        out.push_back({ std::string(f["name"].asString("??")), std::string(f["filename"].asString()),
            f["line"].asInt(0) });
    }
    return out;
}

Result<TorchSnapshot> readTorchSnapshot(const PickleDoc& doc)
{
    PickleRef root = doc.root();
    TorchSnapshot snap;
    PickleRef segments;
    if (root.isList()) {
        snap.bareSegmentList = true;
        segments = root;
    } else if (root.isDict() && root["segments"].isList()) {
        segments = root["segments"];
    } else {
        return notSnapshot("no segments");
    }
    for (size_t i = 0; i < segments.size(); ++i) {
        auto seg = readSegment(segments.at(i));
        if (!seg)
            return seg.error();
        snap.segments.push_back(std::move(*seg));
    }
    if (auto s = readTraces(root["device_traces"], snap); !s)
        return s.error();
    PickleRef ann = root["external_annotations"];
    for (size_t i = 0; i < ann.size(); ++i) {
        PickleRef a = ann.at(i);
        if (a.isDict() && a["time_us"].isInt())
            snap.annotations.push_back({ std::string(a["stage"].asString()), std::string(a["name"].asString()),
                static_cast<int>(a["device"].asInt(0)), a["time_us"].asInt() });
    }
    if (root["allocator_settings"].exists())
        toJson(root["allocator_settings"], snap.allocatorSettingsJson, 0);
    return snap;
}

} // namespace tidemark::import
