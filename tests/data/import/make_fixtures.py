#!/usr/bin/env python3
"""Writes the small crafted importer fixtures in this folder (plain-data pickles and JSON; no globals).
The expected figures in tests/unit/import/*_test.cpp follow from the structures written here."""
import gzip, json, os, pickle

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


def frames(*names):
    return [{'name': n, 'filename': 'train.py', 'line': 10 + i} for i, n in enumerate(names)]


def ev(action, addr, size, t, **kw):
    e = {'action': action, 'addr': addr, 'size': size, 'stream': 0, 'time_us': t, 'frames': frames('inner', 'outer')}
    e.update(kw)
    return e


# Two segments at the dump (S1 never seen in the trace), one segment allocated and freed in the trace,
# a block alive before the trace, a pre-trace block freed in the trace, and an OOM.
tiny = {
    'segments': [
        {'device': 0, 'address': 0x1000000, 'total_size': 4 * MiB, 'allocated_size': 1 * MiB, 'active_size': 1 * MiB,
         'requested_size': 1 * MiB, 'stream': 0, 'segment_type': 'large', 'segment_pool_id': (0, 0),
         'is_expandable': False, 'frames': [],
         'blocks': [{'address': 0x1000000, 'size': 1 * MiB, 'requested_size': 1 * MiB, 'state': 'active_allocated',
                     'frames': frames('weights', 'init')},
                    {'address': 0x1100000, 'size': 3 * MiB, 'requested_size': 3 * MiB, 'state': 'inactive', 'frames': []}]},
        {'device': 0, 'address': 0x2000000, 'total_size': 2 * MiB, 'allocated_size': 512 * 1024,
         'active_size': 512 * 1024, 'requested_size': 512 * 1024, 'stream': 0, 'segment_type': 'large',
         'segment_pool_id': (0, 0), 'is_expandable': False, 'frames': [],
         'blocks': [{'address': 0x2000000, 'size': 512 * 1024, 'requested_size': 500000, 'state': 'active_allocated',
                     'frames': []},
                    {'address': 0x2080000, 'size': 1536 * 1024, 'requested_size': 0, 'state': 'inactive', 'frames': []}]},
    ],
    'device_traces': [[
        ev('segment_alloc', 0x2000000, 2 * MiB, 1000),
        ev('alloc', 0x2000000, 512 * 1024, 1001),
        ev('alloc', 0x2080000, 256 * 1024, 1002),
        ev('free_requested', 0x2080000, 256 * 1024, 1003),
        ev('free_completed', 0x2080000, 256 * 1024, 1004),
        ev('free_completed', 0x1100000, 1 * MiB, 1005),
        ev('segment_alloc', 0x3000000, 1 * MiB, 1006),
        ev('alloc', 0x3000000, 1 * MiB, 1007),
        ev('free_completed', 0x3000000, 1 * MiB, 1008),
        ev('segment_free', 0x3000000, 1 * MiB, 1009),
        {'action': 'oom', 'size': 8 * MiB, 'device_free': 1234, 'stream': 0, 'time_us': 1010, 'frames': frames('big')},
    ]],
    'allocator_settings': {'PYTORCH_CUDA_ALLOC_CONF': '', 'expandable_segments': False},
    'external_annotations': [{'stage': 'START', 'name': 'step', 'device': 0, 'time_us': 1000},
                             {'stage': 'END', 'name': 'step', 'device': 0, 'time_us': 1006}],
}

# An expandable segment: mapped in two pieces, the second partly unmapped again.
expandable = {
    'segments': [{'device': 2, 'address': 0x10000000, 'total_size': 4 * MiB, 'allocated_size': 2 * MiB,
                  'active_size': 2 * MiB, 'requested_size': 2 * MiB, 'stream': 0, 'segment_type': 'large',
                  'segment_pool_id': (0, 0), 'is_expandable': True, 'frames': [],
                  'blocks': [{'address': 0x10000000, 'size': 2 * MiB, 'requested_size': 2 * MiB,
                              'state': 'active_allocated', 'frames': []},
                             {'address': 0x10200000, 'size': 2 * MiB, 'requested_size': 0, 'state': 'inactive',
                              'frames': []}]}],
    'device_traces': [[], [], [
        ev('segment_map', 0x10000000, 2 * MiB, 1),
        ev('alloc', 0x10000000, 2 * MiB, 2),
        ev('segment_map', 0x10200000, 4 * MiB, 3),
        ev('alloc', 0x10200000, 4 * MiB, 4),
        ev('free_completed', 0x10200000, 4 * MiB, 5),
        ev('segment_unmap', 0x10400000, 2 * MiB, 6),
    ]],
}

# PyTorch 2.0 layout as a bare list: blocks without addresses (they tile the segment), history frames.
old_list = [{'device': 1, 'address': 0x5000000, 'total_size': 3 * MiB, 'allocated_size': 2 * MiB,
             'active_size': 2 * MiB, 'requested_size': 2 * MiB, 'stream': 0, 'segment_type': 'large',
             'blocks': [{'size': 1 * MiB, 'requested_size': 1 * MiB, 'state': 'active_allocated',
                         'history': [{'addr': 0x5000000, 'real_size': 1 * MiB, 'frames': frames('a')}]},
                        {'size': 1 * MiB, 'requested_size': 0, 'state': 'inactive'},
                        {'size': 1 * MiB, 'requested_size': 1 * MiB, 'state': 'active_allocated'}]}]

for name, obj, proto in [('tiny_snapshot.pickle', tiny, 4), ('expandable_snapshot.pickle', expandable, 5),
                         ('old_segment_list.pickle', old_list, 2)]:
    with open(os.path.join(HERE, name), 'wb') as f:
        pickle.dump(obj, f, protocol=proto)

# Kineto: two allocations on cuda:0 with totals, one freed; memory allocated before the trace (baseline
# 1000 bytes); a kernel, a memcpy, a memset and nested user annotations.
kineto = {
    'schemaVersion': 1, 'distributedInfo': {'rank': 3, 'world_size': 4},
    'deviceProperties': [{'id': 0, 'name': 'Test GPU', 'totalGlobalMem': 1 << 30}],
    'traceEvents': [
        {'ph': 'M', 'name': 'thread_name', 'pid': 77, 'tid': 78, 'args': {'name': 'main'}},
        {'ph': 'X', 'cat': 'user_annotation', 'name': 'step', 'pid': 77, 'tid': 78, 'ts': 100, 'dur': 100},
        {'ph': 'X', 'cat': 'user_annotation', 'name': 'forward', 'pid': 77, 'tid': 78, 'ts': 105, 'dur': 20},
        {'ph': 'X', 'cat': 'python_function', 'name': 'model.py(42): forward', 'pid': 77, 'tid': 78, 'ts': 101, 'dur': 90},
        {'ph': 'X', 'cat': 'cpu_op', 'name': 'aten::empty', 'pid': 77, 'tid': 78, 'ts': 109, 'dur': 2},
        {'ph': 'X', 'cat': 'cpu_op', 'name': 'aten::add', 'pid': 77, 'tid': 78, 'ts': 112, 'dur': 3},
        {'ph': 'i', 'cat': 'cpu_instant_event', 'name': '[memory]', 'pid': 77, 'tid': 78, 'ts': 110,
         'args': {'Addr': 4096, 'Bytes': 500, 'Total Allocated': 1500, 'Total Reserved': 4000, 'Device Type': 1, 'Device Id': 0}},
        {'ph': 'i', 'cat': 'cpu_instant_event', 'name': '[memory]', 'pid': 77, 'tid': 78, 'ts': 110,
         'args': {'Addr': 8192, 'Bytes': 700, 'Total Allocated': 2200, 'Total Reserved': 4000, 'Device Type': 1, 'Device Id': 0}},
        {'ph': 'i', 'cat': 'cpu_instant_event', 'name': '[memory]', 'pid': 77, 'tid': 78, 'ts': 150,
         'args': {'Addr': 4096, 'Bytes': -500, 'Total Allocated': 1700, 'Total Reserved': 4000, 'Device Type': 1, 'Device Id': 0}},
        {'ph': 'i', 'cat': 'cpu_instant_event', 'name': '[memory]', 'pid': 77, 'tid': 78, 'ts': 160,
         'args': {'Addr': 99, 'Bytes': 64, 'Total Allocated': 64, 'Total Reserved': 0, 'Device Type': 0, 'Device Id': -1}},
        {'ph': 'X', 'cat': 'kernel', 'name': 'gemm', 'pid': 0, 'tid': 7, 'ts': 120, 'dur': 5.5,
         'args': {'device': 0, 'stream': 7, 'correlation': 11, 'grid': [2, 1, 1], 'block': [128, 1, 1],
                  'registers per thread': 32, 'shared memory': 0}},
        {'ph': 'X', 'cat': 'gpu_memcpy', 'name': 'Memcpy HtoD (Pageable -> Device)', 'pid': 0, 'tid': 7, 'ts': 130,
         'dur': 2, 'args': {'device': 0, 'stream': 7, 'correlation': 12, 'bytes': 4096}},
        {'ph': 'X', 'cat': 'gpu_memset', 'name': 'Memset (Device)', 'pid': 0, 'tid': 7, 'ts': 140, 'dur': 1,
         'args': {'device': 0, 'stream': 7, 'correlation': 13, 'bytes': 128}},
    ],
}
with gzip.open(os.path.join(HERE, 'tiny_kineto.json.gz'), 'wt') as f:
    json.dump(kineto, f)
