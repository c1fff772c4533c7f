"""``f.explain(*args)``: what the compiler made of a function, step by step, and how
close each step runs to the machine's limits.

One row per step of the compiled program (codegen/program.py): its kernel name, the
ops fused into it with the user's source lines, its loop shape, the bytes it reads and
writes, its flops, and, measured over a few calls through the profiled entry
(codegen/profiled_entry.py), its median time, GB/s, GFLOP/s and percentage of the
roofline bound. Below the table: for every producer that kept a kernel of its own,
why the fusion pass did not inline it into its consumers (``graph.fusion_notes``).

How the figures are counted (so they can be checked against the memory plan):

- bytes read: every distinct buffer the step reads (inputs, variables, constants,
  workspace values), each once, whole; bytes written: every buffer it stores. So a
  fused chain's steps move its inputs and outputs only, and the naive mode's steps
  move every intermediate twice (written by its producer, read by its consumer).
- flops: one per output element of every elementwise op (a transcendental counts
  one), one per input element of a reduction, 2*M*N*K per matmul; index remappings
  (transpose, broadcast, reshape, slicing) and copies count none. A whole-step op
  (scan, cond, while) has no static count (None).
- roofline bound: max(bytes / bandwidth, flops / FMA peak) with the figures measured
  on this machine (graphc/machine.py); % of roofline = bound / measured time.

Calling runs the function ``repeat + 1`` times; variables it updates are restored
afterwards, so explaining a training step does not train.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from .ops.registry import get_op


def _size(t, binding) -> int:
    if t.is_static:
        return int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    return int(np.prod(t.shape_for(binding), dtype=np.int64))


def _nbytes(buf, binding) -> int:
    if buf.nbytes is not None:
        return int(buf.nbytes)
    if getattr(buf, "type", None) is not None:  # a tuple or a scan's scratch (sized per binding)
        return int(buf.type.nbytes_for(binding))
    from .ir import TensorType

    return int(TensorType(buf.shape, buf.dtype).nbytes_for(binding))


def node_flops(node, binding) -> int:
    """Flops of one op application (see the module docstring for the rule)."""
    kind = get_op(node.op).kind
    if node.op in ("matmul", "patches_matmul"):
        from .passes.fusion import gemm_inner_dim

        k = gemm_inner_dim(node)
        k = binding[k] if isinstance(k, str) else k
        return 2 * _size(node.type, binding) * int(k)
    if kind == "elementwise":
        return _size(node.type, binding)
    if kind == "reduce":
        return _size(node.inputs[0].type, binding)
    return 0


def _unique(bufs):
    seen, out = set(), []
    for b in bufs:
        if b is None:
            continue
        k = b.key()
        if k not in seen:
            seen.add(k)
            out.append(b)
    return out


def step_figures(step, binding=None) -> dict:
    """kind, ops (node, op, source line), loop shape, bytes read/written and flops of one step."""
    from .codegen.program import CustomStep, GemmStep

    binding = binding or {}
    if isinstance(step, GemmStep):
        members = [step.node] + (list(step.epilogue.members) if step.epilogue is not None else [])
        written = _unique([step.dest] + ([step.epilogue.dest] if step.epilogue is not None else []))
        keys = {b.key() for b in written}
        epi_reads = list(step.epilogue.reads.values()) if step.epilogue is not None else []
        read = [b for b in _unique([step.a, step.b] + epi_reads) if b.key() not in keys]
        kind = "gemm" + ("+epilogue" if step.epilogue is not None else "")
        flops = sum(node_flops(m, binding) for m in members)
    elif isinstance(step, CustomStep):
        members = [step.node]
        written = [step.dest]
        read = _unique(step.inputs)
        kind = step.node.op
        flops = None
    else:
        members = list(step.members)
        written = [step.dest]
        read = _unique(step.reads.values())
        kind = "kernel" if members else "copy"
        flops = sum(node_flops(m, binding) for m in members)
    ops = [{"node": m.id, "op": m.op, "line": m.loc} for m in members]
    return {"step": step.name, "kind": kind, "ops": ops, "shape": [str(d) if isinstance(d, str) else int(d)
                                                                   for d in step.shape],
            "bytes_read": sum(_nbytes(b, binding) for b in read),
            "bytes_written": sum(_nbytes(b, binding) for b in written), "flops": flops,
            "root": (step.node if hasattr(step, "node") else step.root).id}


def _measure(compiled, arrays, repeat):
    """Median seconds per step over ``repeat`` profiled calls (after one warm-up), or None
    when this program has no profiled entry; variables are restored afterwards."""
    from .profiler import profiled_executable

    exe = profiled_executable(compiled)
    if exe is None:
        return None
    saved = [(v, v._storage_for_call().copy()) for v in compiled.program.variables]
    try:
        runs = []
        for _ in range(repeat + 1):
            runs.append(exe.run(arrays)[1].step_seconds())
        return np.median(np.array(runs[1:]), axis=0)
    finally:
        for v, value in saved:
            np.copyto(v._storage_for_call(), value)


def fusion_notes(compiled) -> list:
    """For every producer that got a kernel of its own although it has consumers: why."""
    graph = compiled.optimized
    notes = getattr(graph, "fusion_notes", None)
    if notes is None:
        return [{"node": None, "op": None, "line": "", "reason": "naive mode (fuse=False): every op is its own "
                 "kernel, every intermediate goes through memory"}] if graph.kernels is not None else []
    by_id = {n.id: n for n in graph.nodes}
    return [{"node": nid, "op": by_id[nid].op, "line": by_id[nid].loc, "reason": why}
            for nid, why in notes.items() if nid in by_id]


def explain_rows(compiled, arrays, repeat: int = 5, measure: bool = True) -> dict:
    from .machine import machine_figures

    program = compiled.program
    binding = {}
    if program.symbols:
        binding = compiled.executable.bind(arrays)
    seconds = _measure(compiled, arrays, repeat) if measure else None
    machine = machine_figures() if measure else {}
    rows = []
    for i, step in enumerate(program.kernels):
        row = step_figures(step, binding)
        if seconds is not None:
            t = float(seconds[i])
            moved = row["bytes_read"] + row["bytes_written"]
            row["seconds"] = t
            row["gbs"] = moved / t / 1e9 if t > 0 else None
            row["gflops"] = row["flops"] / t / 1e9 if t > 0 and row["flops"] is not None else None
            bound = max(moved / (machine["bandwidth_gbs"] * 1e9), (row["flops"] or 0) / (machine["fma_peak_gflops"] * 1e9))
            row["roofline_seconds"] = bound
            row["roofline_pct"] = 100.0 * bound / t if t > 0 else None
        rows.append(row)
    total = {"bytes_read": sum(r["bytes_read"] for r in rows), "bytes_written": sum(r["bytes_written"] for r in rows),
             "flops": sum(r["flops"] or 0 for r in rows)}
    if seconds is not None:
        total["seconds"] = float(np.sum(seconds))
    notes = fusion_notes(compiled)
    kernel_of = {r["root"]: r["step"] for r in rows}
    for n in notes:
        n["kernel"] = kernel_of.get(n["node"])
    return {"function": program.name, "steps": rows, "total": total, "not_fused": notes,
            "machine": machine, "measured": seconds is not None, "repeat": repeat}


def _fmt_bytes(n) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _fmt_count(n) -> str:
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def _fmt_ms(ms: float) -> str:
    return f"{ms:.4f}" if ms < 1 else f"{ms:.2f}"


def _short_line(loc: str) -> str:
    import os

    if ":" in loc and not loc.startswith("argument"):
        path, _, rest = loc.rpartition(":")
        return f"{os.path.basename(path)}:{rest}"
    return loc


def format_table(report: dict) -> str:
    rows = report["steps"]
    head = ["step", "ops (source lines)", "shape", "read", "written", "flops"]
    if report["measured"]:
        head += ["ms", "GB/s", "GFLOP/s", "% roofline"]
    table = [head]
    for r in rows:
        lines = sorted({_short_line(o["line"]) for o in r["ops"] if o["line"]})
        ops = ",".join(o["op"] for o in r["ops"]) or "copy"
        if len(ops) > 48:
            ops = ops[:45] + "..."
        cells = [r["step"], f"{ops} ({' '.join(lines)})" if lines else ops, "x".join(map(str, r["shape"])) or "()",
                 _fmt_bytes(r["bytes_read"]), _fmt_bytes(r["bytes_written"]), _fmt_count(r["flops"])]
        if report["measured"]:
            f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
            cells += [_fmt_ms(r["seconds"] * 1e3), f(r["gbs"], 1), f(r["gflops"], 1), f(r["roofline_pct"], 0)]
        table.append(cells)
    widths = [max(len(str(row[c])) for row in table) for c in range(len(head))]
    out = [f"{report['function']}: {len(rows)} steps"]
    for k, row in enumerate(table):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    t = report["total"]
    tail = f"total: read {_fmt_bytes(t['bytes_read'])}, written {_fmt_bytes(t['bytes_written'])}, flops {_fmt_count(t['flops'])}"
    if report["measured"]:
        m = report["machine"]
        tail += (f", {_fmt_ms(t['seconds'] * 1e3)} ms (median of {report['repeat']} calls per step); machine: "
                 f"{m['bandwidth_gbs']:.1f} GB/s, FMA peak {m['fma_peak_gflops']:.0f} GFLOP/s on {m['threads']} threads")
    else:
        tail += " (not measured: no profiled entry for this program)"
    out.append(tail)
    if report["not_fused"]:
        out.append("not fused into their consumers:")
        for n in report["not_fused"]:
            where = f" -> {n['kernel']}" if n.get("kernel") else ""
            ident = f"%{n['node']} {n['op']} ({_short_line(n['line'])}){where}: " if n["node"] is not None else ""
            out.append(f"  {ident}{n['reason']}")
    return "\n".join(out)


def explain(compiled, arrays, format: str = "table", repeat: int = 5, file=None):
    """See the module docstring. ``format``: "table" prints the table and returns the
    report dict; "json" returns the report as a JSON string (nothing printed)."""
    if format not in ("table", "json"):
        raise ValueError(f"explain: format must be 'table' or 'json', got {format!r}")
    report = explain_rows(compiled, arrays, repeat=max(1, int(repeat)))
    if format == "json":
        return json.dumps(report, indent=1)
    print(format_table(report), file=file or sys.stdout)
    return report


def program_totals(fn, *args) -> dict:
    """{"bytes": read + written, "flops": ...} of a compiled function's program for these
    arguments, counted as explain counts them (no measurement); "flops_complete" is
    False when a whole-step op (scan, cond, while) has no static count."""
    compiled = fn._compile(args)
    arrays = [np.asarray(a) for a in args if isinstance(a, (np.ndarray, np.generic))]
    rows = explain_rows(compiled, arrays, measure=False)["steps"]
    return {"bytes": sum(r["bytes_read"] + r["bytes_written"] for r in rows),
            "flops": sum(r["flops"] or 0 for r in rows), "flops_complete": all(r["flops"] is not None for r in rows)}
