-- tidemark recording schema, migration 1. Units are in column names; times are CLOCK_MONOTONIC
-- nanoseconds of the recording machine (imports keep their own clock, see meta.clock).
-- Every table and column is documented in docs/schema.md.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE apis (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE strings (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

CREATE TABLE processes (
    id           INTEGER PRIMARY KEY,
    pid          INTEGER NOT NULL,
    ppid         INTEGER,
    parent_id    INTEGER REFERENCES processes(id),
    exe          TEXT,
    command_line TEXT,
    rank         INTEGER,
    host         TEXT,
    start_ts_ns  INTEGER,
    end_ts_ns    INTEGER,
    end_reason   TEXT      -- exit | exec | cut_short | not_followed | NULL (unknown)
);

CREATE TABLE threads (
    id          INTEGER PRIMARY KEY,
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    tid         INTEGER NOT NULL,
    name        TEXT,
    start_ts_ns INTEGER,
    end_ts_ns   INTEGER
);

CREATE TABLE modules (
    id            INTEGER PRIMARY KEY,
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    path          TEXT NOT NULL,
    build_id      TEXT,
    load_bias     INTEGER NOT NULL,
    vaddr_start   INTEGER NOT NULL,
    vaddr_end     INTEGER NOT NULL,
    load_ts_ns    INTEGER,
    unload_ts_ns  INTEGER
);

-- One row per distinct (module, relative pc); symbol rows hold the inline chain.
CREATE TABLE frames (
    id         INTEGER PRIMARY KEY,
    module_id  INTEGER REFERENCES modules(id),
    ip         INTEGER NOT NULL,
    rel_pc     INTEGER
);

CREATE TABLE symbols (
    frame_id     INTEGER NOT NULL REFERENCES frames(id),
    inline_depth INTEGER NOT NULL,   -- 0 = the function the pc is in; 1.. = functions inlined into it, outermost first
    function_id  INTEGER REFERENCES strings(id),
    file_id      INTEGER REFERENCES strings(id),
    line         INTEGER,
    PRIMARY KEY (frame_id, inline_depth)
) WITHOUT ROWID;

-- Call stacks as a trie: the root's children are outermost frames; an allocation points at its
-- innermost (leaf) callsite.
CREATE TABLE callsites (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES callsites(id),
    frame_id  INTEGER NOT NULL REFERENCES frames(id),
    depth     INTEGER NOT NULL
);

CREATE TABLE spaces (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,    -- host | device | pinned | managed | pool
    device          INTEGER,          -- device ordinal for device/pool spaces
    name            TEXT NOT NULL UNIQUE, -- host, cuda:0, pinned, managed, pool:cuda:0, ...
    capacity_bytes  INTEGER,          -- device total memory when known
    parent_space_id INTEGER REFERENCES spaces(id) -- pool: the space its heaps live in
);

-- NVTX ranges (training phases). Push/pop ranges nest per thread; start/end ranges may cross threads.
CREATE TABLE ranges (
    id          INTEGER PRIMARY KEY,
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    thread_id   INTEGER REFERENCES threads(id),
    parent_id   INTEGER REFERENCES ranges(id),
    depth       INTEGER NOT NULL,
    kind        TEXT NOT NULL,        -- push | startend | import
    domain_id   INTEGER REFERENCES strings(id),
    name_id     INTEGER REFERENCES strings(id),
    category    INTEGER,
    color       INTEGER,
    start_ts_ns INTEGER NOT NULL,
    end_ts_ns   INTEGER              -- NULL: still open when the recording ended
);

CREATE TABLE marks (
    id         INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL REFERENCES processes(id),
    thread_id  INTEGER REFERENCES threads(id),
    ts_ns      INTEGER NOT NULL,
    domain_id  INTEGER REFERENCES strings(id),
    name_id    INTEGER REFERENCES strings(id)
);

-- Segments / heaps of caching allocators (NVTX memory extension heaps, PyTorch segments).
CREATE TABLE pool_heaps (
    id               INTEGER PRIMARY KEY,
    space_id         INTEGER NOT NULL REFERENCES spaces(id), -- the pool space its regions belong to
    process_id       INTEGER REFERENCES processes(id),
    address          INTEGER NOT NULL,
    size_bytes       INTEGER NOT NULL,
    usage            TEXT,            -- sub_allocator | layout | torch_segment | ...
    name_id          INTEGER REFERENCES strings(id),
    register_ts_ns   INTEGER NOT NULL,
    unregister_ts_ns INTEGER,
    callsite_id      INTEGER REFERENCES callsites(id),
    range_id         INTEGER REFERENCES ranges(id)
);

-- One row per allocation lifetime, in every space. Regions inside pool heaps are rows here too,
-- with heap_id set and space_id the pool space.
CREATE TABLE allocations (
    id             INTEGER PRIMARY KEY,
    space_id       INTEGER NOT NULL REFERENCES spaces(id),
    process_id     INTEGER NOT NULL REFERENCES processes(id),
    thread_id      INTEGER REFERENCES threads(id),
    api            INTEGER NOT NULL REFERENCES apis(id),
    address        INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    alloc_ts_ns    INTEGER NOT NULL,
    free_ts_ns     INTEGER,          -- NULL: still live when the recording ended
    free_api       INTEGER REFERENCES apis(id),
    callsite_id    INTEGER REFERENCES callsites(id),
    range_id       INTEGER REFERENCES ranges(id), -- innermost range open on the allocating thread
    heap_id        INTEGER REFERENCES pool_heaps(id),
    stream         INTEGER,
    source_mask    INTEGER NOT NULL, -- SourceBits: which capture sources saw it
    name_id        INTEGER REFERENCES strings(id) -- label (nvtxMemRegionsName, tensor name)
);

CREATE VIEW pool_regions AS SELECT * FROM allocations WHERE heap_id IS NOT NULL;

CREATE TABLE failed_allocations (
    id                 INTEGER PRIMARY KEY,
    space_id           INTEGER NOT NULL REFERENCES spaces(id),
    process_id         INTEGER NOT NULL REFERENCES processes(id),
    thread_id          INTEGER REFERENCES threads(id),
    api                INTEGER NOT NULL REFERENCES apis(id),
    size_bytes         INTEGER NOT NULL,
    ts_ns              INTEGER NOT NULL,
    callsite_id        INTEGER REFERENCES callsites(id),
    range_id           INTEGER REFERENCES ranges(id),
    stream             INTEGER,
    error_code         INTEGER,
    error_name         TEXT,
    device_free_bytes  INTEGER,       -- cudaMemGetInfo at failure, when known
    device_total_bytes INTEGER,
    live_bytes         INTEGER,       -- bytes live in this space in this process at that moment
    source_mask        INTEGER NOT NULL
);

CREATE TABLE kernels (
    id                   INTEGER PRIMARY KEY,
    process_id           INTEGER REFERENCES processes(id),
    device               INTEGER,
    context              INTEGER,
    stream               INTEGER,
    start_ts_ns          INTEGER NOT NULL,
    end_ts_ns            INTEGER NOT NULL,
    name_id              INTEGER REFERENCES strings(id),
    correlation_id       INTEGER,
    grid_x INTEGER, grid_y INTEGER, grid_z INTEGER,
    block_x INTEGER, block_y INTEGER, block_z INTEGER,
    registers_per_thread INTEGER,
    static_shared_bytes  INTEGER,
    dynamic_shared_bytes INTEGER,
    source_mask          INTEGER NOT NULL
);

CREATE TABLE memcpys (
    id             INTEGER PRIMARY KEY,
    process_id     INTEGER REFERENCES processes(id),
    device         INTEGER,
    context        INTEGER,
    stream         INTEGER,
    start_ts_ns    INTEGER NOT NULL,
    end_ts_ns      INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    copy_kind      TEXT,             -- HtoD | DtoH | DtoD | HtoH | PtoP | ...
    correlation_id INTEGER,
    source_mask    INTEGER NOT NULL
);

CREATE TABLE memsets (
    id             INTEGER PRIMARY KEY,
    process_id     INTEGER REFERENCES processes(id),
    device         INTEGER,
    context        INTEGER,
    stream         INTEGER,
    start_ts_ns    INTEGER NOT NULL,
    end_ts_ns      INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    value          INTEGER,
    correlation_id INTEGER,
    source_mask    INTEGER NOT NULL
);

-- Totals of a space seen from outside the process (cudaMemGetInfo, allocator statistics, RSS).
CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    process_id  INTEGER REFERENCES processes(id),
    space_id    INTEGER NOT NULL REFERENCES spaces(id),
    ts_ns       INTEGER NOT NULL,
    free_bytes  INTEGER,
    total_bytes INTEGER,
    used_bytes  INTEGER,            -- e.g. Kineto "Total Allocated"
    reserved_bytes INTEGER          -- e.g. Kineto "Total Reserved"
);

-- Level-of-detail timeline, built when a recording is finalized: for each space and level,
-- fixed-width buckets (width = 2^level * base) with the live-bytes envelope inside each bucket.
CREATE TABLE series (
    space_id        INTEGER NOT NULL REFERENCES spaces(id),
    level           INTEGER NOT NULL,
    bucket          INTEGER NOT NULL,
    start_ts_ns     INTEGER NOT NULL,
    end_ts_ns       INTEGER NOT NULL,
    min_live_bytes  INTEGER NOT NULL,
    max_live_bytes  INTEGER NOT NULL,
    last_live_bytes INTEGER NOT NULL,
    allocs          INTEGER NOT NULL,
    frees           INTEGER NOT NULL,
    PRIMARY KEY (space_id, level, bucket)
) WITHOUT ROWID;

-- What capture saw and did not see: counters (events, dropped, unmatched frees) and coverage
-- (which hooks and sources were active, and why not).
CREATE TABLE capture_stats (
    process_id INTEGER REFERENCES processes(id),
    source     TEXT NOT NULL,      -- preload | cupti | nvtx | collector | import
    name       TEXT NOT NULL,
    value      INTEGER,
    detail     TEXT,
    PRIMARY KEY (process_id, source, name)
);
