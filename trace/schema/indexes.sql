-- Indexes built after a recording is loaded (building them during ingest costs 5-10x, see
-- ../shared/reference/perf-anchors.md). Idempotent.
CREATE INDEX IF NOT EXISTS allocations_by_space_alloc ON allocations(space_id, alloc_ts_ns);
CREATE INDEX IF NOT EXISTS allocations_by_space_free ON allocations(space_id, free_ts_ns);
CREATE INDEX IF NOT EXISTS allocations_by_heap ON allocations(heap_id) WHERE heap_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS callsites_by_parent ON callsites(parent_id);
CREATE INDEX IF NOT EXISTS ranges_by_start ON ranges(start_ts_ns);
CREATE INDEX IF NOT EXISTS kernels_by_start ON kernels(start_ts_ns);
CREATE INDEX IF NOT EXISTS memcpys_by_start ON memcpys(start_ts_ns);
CREATE INDEX IF NOT EXISTS failed_by_ts ON failed_allocations(ts_ns);
