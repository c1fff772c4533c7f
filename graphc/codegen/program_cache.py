"""Whole-program disk cache: a warm process goes trace -> hash -> load.

The per-kernel cache (code_cache.py) spares LLVM, but a second process would still run
the passes, the lowering and the entry's IR emission, all linear in the model's size.
This cache stores, per *traced graph*, what a call needs: the entry unit's key, the
kernel units it calls, the GEMM runtimes they use, and the ABI and memory plan (input,
output and variable layout, workspace size or the symbolic layout). A later process
that traces the same graph loads those objects and builds the Executable directly.

Correctness rests on the key (``graph_key``): a content hash of the traced graph --
every node's op, inputs (by position), type, device and attributes (arrays by their
bytes, variables by their order of appearance), the parameters, outputs and variable
updates -- plus the compile options, the CPU model and features, the thread count the
GEMM split is fixed for, LLVM/llvmlite versions, every GRAPHC_* environment variable
and the hash of graphc's whole source. An attribute it cannot describe exactly (a
callable, a nested graph) makes the graph uncacheable: it is then compiled as usual.

A record file is JSON behind a SHA-256 of its body; a damaged or incomplete record,
or one whose code units are missing from the disk cache, is a miss (the program is
compiled again and the record rewritten), never an error.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

FORMAT = "graphc-program-2"


class _Uncacheable(Exception):
    pass


def applies(options: dict) -> bool:
    """Whether a program may come from the cache: not when the passes were asked for
    side effects a cached program would skip (the placement log, IR dumps)."""
    return (os.environ.get("GRAPHC_PROGRAM_CACHE", "1") != "0" and not options.get("log_device_placement")
            and not options.get("dump_dir") and not os.environ.get("GRAPHC_DUMP_IR"))


# -- the key ---------------------------------------------------------------------------------
def variable_order(graph) -> list:
    """The graph's variables in a process-independent order: first read, then first update."""
    order, seen = [], set()
    for n in graph.nodes:
        v = n.attrs.get("var") if n.op == "read_variable" else None
        if v is not None and id(v) not in seen:
            seen.add(id(v))
            order.append(v)
    for v in list(graph.var_reads) + list(graph.var_updates):
        if id(v) not in seen:
            seen.add(id(v))
            order.append(v)
    return order


_PLAIN = (type(None), bool, int, float, str)


def _canon(x, var_index):
    """An exact, process-independent text for an attribute value (raises _Uncacheable)."""
    from ..ir.types import Sym, TensorType, TupleType

    t = type(x)
    if t in _PLAIN:
        return f"{t.__name__}:{x!r}"
    if t is Sym:  # a symbolic dimension
        return f"sym:{str(x)!r}"
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(x)
        return (f"{'nd' if t is np.ndarray else 'np'}:{a.dtype.str}:{a.shape}:"
                f"{hashlib.sha256(a.tobytes()).hexdigest()}")
    if isinstance(x, np.dtype):
        return f"dtype:{x.str}"
    if isinstance(x, (tuple, list)):
        return f"{t.__name__}({','.join(_canon(v, var_index) for v in x)})"
    if isinstance(x, (set, frozenset)):
        return f"{t.__name__}({','.join(sorted(_canon(v, var_index) for v in x))})"
    if isinstance(x, dict):
        return f"dict({','.join(sorted(_canon(k, var_index) + '=' + _canon(v, var_index) for k, v in x.items()))})"
    if isinstance(x, TensorType):
        return _type_text(x)
    if isinstance(x, TupleType):
        return f"TT({','.join(_canon(u, var_index) for u in x.types)})"
    k = var_index.get(id(x))
    if k is not None:
        return f"var:{k}:{tuple(int(d) for d in x.shape)}:{x.dtype}"
    raise _Uncacheable(t.__name__)


def _type_text(t) -> str:
    """A TensorType as text: symbols quoted, sizes as ints (memoized: types repeat)."""
    s = _type_memo.get(t)
    if s is None:
        s = _type_memo[t] = f"T({t.dtype}:{','.join(repr(str(d)) if isinstance(d, str) else str(int(d)) for d in t.shape)})"
    return s


_type_memo: dict = {}


def graph_key(graph, options: dict) -> str | None:
    """Content hash of a traced graph and everything its compiled code depends on, or
    None when the graph holds something that cannot be described exactly."""
    from ..ir.types import TensorType
    from . import llvm_cpu
    from .threadpool import planned_num_threads

    order = variable_order(graph)
    var_index = {id(v): k for k, v in enumerate(order)}
    pos = {n.id: k for k, n in enumerate(graph.nodes)}
    h = hashlib.sha256()
    parts = []
    try:
        for n in graph.nodes:
            ty = _type_text(n.type) if type(n.type) is TensorType else _canon(n.type, var_index)
            attrs = ";".join(f"{k}={_canon(n.attrs[k], var_index)}" for k in sorted(n.attrs)) if n.attrs else ""
            parts.append(f"{n.op}({','.join(str(pos[i.id]) for i in n.inputs)}){ty}@{n.device}[{attrs}]")
        parts.append(f"params={[pos[p.id] for p in graph.params]}")
        parts.append(f"outputs={[pos[o.id] for o in graph.outputs]}")
        parts.append(f"reads={[(var_index[id(v)], pos[n.id]) for v, n in graph.var_reads.items()]}")
        parts.append(f"updates={[(var_index[id(v)], pos[n.id]) for v, n in graph.var_updates.items()]}")
        parts.append(f"variables={[_canon(v, var_index) for v in order]}")
        parts.append(f"options={_canon(options, var_index)}")
    except (_Uncacheable, KeyError):
        return None
    from . import stats

    threads = planned_num_threads()  # without starting the pool: a cold process builds it in the background
    cpu, feats = llvm_cpu.host_cpu()
    env = sorted((k, v) for k, v in os.environ.items()
                 if k.startswith("GRAPHC_") and k not in ("GRAPHC_CACHE_DIR", "GRAPHC_CACHE"))
    parts += [FORMAT, cpu, feats, str(threads), str(llvm_cpu.llvm.llvm_version_info),
              llvm_cpu._llvmlite_version(), llvm_cpu.CACHE_FORMAT, package_source_hash(), repr(env)]
    h.update("\n".join(parts).encode())
    return h.hexdigest()[:40]


_package_hash = None


def package_source_hash() -> str:
    """Hash of every graphc source file (passes and lowering shape the program too)."""
    global _package_hash
    if _package_hash is None:
        from .kernel_key import graphc_root, hash_python_sources

        root = graphc_root()
        _package_hash = hash_python_sources(root, os.walk(root))
    return _package_hash


# -- records ---------------------------------------------------------------------------------
def _path(key: str):
    from .llvm_cpu import _cache_dir

    d = _cache_dir()
    return None if d is None else os.path.join(d, key + ".prog")


def _dims(shape):
    return [d if isinstance(d, str) else int(d) for d in shape]


# A step table's constants travel in the record (base64); past this size the program is
# not recorded (its kernels are still cached one by one).
MAX_RECORD_CONSTANT_BYTES = 1 << 20


def record_for(program, executable, graph) -> dict | None:
    """What a later process needs to rebuild ``executable`` without compiling, or None
    when the program is not of the cacheable kind (CPU, kernels and GEMM steps only)."""
    from .conv_gemm import prepacks_b
    from .program import CustomStep, GemmStep, Kernel

    keep = getattr(executable, "_keepalive", None)
    if not (isinstance(keep, tuple) and len(keep) == 2):
        return None
    if not all(isinstance(s, (Kernel, GemmStep)) for s in program.kernels):
        return None
    entry, units = keep
    from .step_table import StepTable

    if isinstance(entry, StepTable):
        if sum(c.nbytes for c in entry.constants) > MAX_RECORD_CONSTANT_BYTES:
            return None
        entry_record, table_record = None, entry.to_record()
    else:
        entry_record, table_record = [entry.key, entry.exported[0]], None
    order = variable_order(graph)
    index = {id(v): k for k, v in enumerate(order)}
    if any(id(v) not in index for v in program.variables):
        return None
    layout = None
    if program.layout is not None and program.symbols:
        lay = program.layout
        layout = {"values": [[b.vid, _dims(b.shape), b.dtype, b.nbytes] for b in lay.values],
                  "first": [[k, v] for k, v in lay.first.items()], "last": [[k, v] for k, v in lay.last.items()],
                  "alias_to": [[k, v] for k, v in lay.alias_to.items()], "plan_memory": lay.plan_memory}
    return {
        "format": FORMAT,
        "entry": entry_record,
        "table": table_record,
        "units": [[u.key, u.exported[0]] for u in units],
        "gemm_dtypes": sorted({s.node.type.dtype for s in program.kernels if isinstance(s, GemmStep)}),
        # dtypes whose B-prepacked GEMM a step calls (a convolution's, conv_gemm.prepacks_b)
        "gemm_bpacked": sorted({s.node.type.dtype for s in program.kernels if isinstance(s, GemmStep)
                                and s.node.op == "patches_matmul" and prepacks_b(s.node)}),
        "inputs": [[_dims(b.shape), b.dtype] for b in program.inputs],
        "outputs": [[_dims(b.shape), b.dtype] for b in program.outputs],
        "variables": [index[id(v)] for v in program.variables],
        "workspace_bytes": program.workspace_bytes,
        "naive_bytes": program.naive_bytes,
        "symbols": list(program.symbols),
        "kernels": len(program.kernels),
        "layout": layout,
    }


def store(key: str, record: dict) -> None:
    """Atomic write of a record (temp file + rename); a read-only cache only costs speed."""
    path = _path(key)
    if path is None:
        return
    body = json.dumps(record, separators=(",", ":")).encode()
    data = hashlib.sha256(body).hexdigest().encode() + b"\n" + body
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def load(key: str) -> dict | None:
    """The record for ``key``, or None (absent, damaged, or of another format)."""
    path = _path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
        digest, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            return None
        record = json.loads(body)
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            return None
        return record
    except (OSError, ValueError, UnicodeDecodeError):
        return None


class CachedProgram:
    """The ABI part of a Program rebuilt from a record (what the Executable reads)."""

    def __init__(self, record, variables):
        from .program import Buffer, WorkspaceLayout

        def buf(kind, k, shape, dtype):
            return Buffer(kind, k, tuple(shape), dtype, None)

        self.name = "cached"
        self.inputs = [buf("input", k, s, d) for k, (s, d) in enumerate(record["inputs"])]
        self.outputs = [buf("output", k, s, d) for k, (s, d) in enumerate(record["outputs"])]
        self.variables = variables
        self.workspace_bytes = int(record["workspace_bytes"])
        self.naive_bytes = record["naive_bytes"]
        self.symbols = list(record["symbols"])
        self.kernels = [None] * int(record["kernels"])
        self.layout = None
        lay = record["layout"]
        if lay is not None:
            values = [Buffer("workspace", -1, tuple(s), d, nb, vid=vid) for vid, s, d, nb in lay["values"]]
            self.layout = WorkspaceLayout(values, {int(k): v for k, v in lay["first"]},
                                          {int(k): v for k, v in lay["last"]},
                                          {int(k): v for k, v in lay["alias_to"]}, bool(lay["plan_memory"]))

    def workspace_for(self, binding: dict):
        return self.layout.place(binding)


def load_executable(record: dict, graph):
    """The Executable a record describes, loading its code units from the disk cache;
    None when any part is missing or malformed (the caller compiles instead)."""
    from . import code_cache, stats, threadpool
    from .gemm_runtime import ensure_jitted

    try:
        order = variable_order(graph)
        variables = [order[k] for k in record["variables"]]
        program = CachedProgram(record, variables)
        if program.symbols and program.layout is None:
            return None
        with stats.phase("runtime"):
            threadpool.publish_symbols()
            for dt in record["gemm_dtypes"]:
                # recorded programs are flat (Kernel and GemmStep only, see record_for): no
                # loop, so the B-prepacked GEMM only where a convolution's step calls it (H10)
                ensure_jitted(str(dt), b_packed=str(dt) in record.get("gemm_bpacked", ()))
        missing = _Missing()
        units = [code_cache.get_unit(str(k), [str(sym)], missing.build) for k, sym in record["units"]]
        if record.get("table") is not None:
            from .step_table import StepTable, interpreter_address

            table = StepTable.from_record(record["table"])
            addresses = {}
            for u in units:
                addresses.update(u.addresses)
            table.resolve(addresses)
            with stats.phase("runtime"):
                fn_addr, keep, table_array = interpreter_address(), (table, units), table.array
        else:
            entry_key, entry_name = str(record["entry"][0]), str(record["entry"][1])
            entry = code_cache.get_unit(entry_key, [entry_name], missing.build, counted=False)
            fn_addr, keep, table_array = entry.addresses[entry_name], (entry, units), None
    except (_MissingUnit, KeyError, IndexError, TypeError, ValueError):
        return None
    if program.symbols:
        from .._runtime.symbolic_executable import SymbolicExecutable as Executable
    else:
        from .._runtime.executable import Executable
    exe = Executable(program, fn_addr, keep, table=table_array)
    exe.code_units = len(units)
    stats.count("kernels_total", int(record.get("kernels_total", 0)))
    stats.count("kernels_distinct", len(units))
    return exe


class _MissingUnit(Exception):
    pass


class _Missing:
    """``build_object`` for get_unit: a unit absent from the disk cache is a miss."""

    def build(self):
        raise _MissingUnit()

