"""Programs as data: a step table run by one generic native interpreter.

A compiled program is a list of steps (kernels, GEMM steps), each a call of a code unit
with an array of buffer pointers. Emitting that list as an LLVM *entry function*, then
optimizing, emitting and loading it, cost time proportional to the model's depth even
when every kernel came from the cache (the 64-layer Adam step's 389-step entry: about a
third of its compile). Here the list is data instead: an int64 table, built in Python
with no LLVM at all, and run by ``graphc_run_steps``, a function compiled once per
machine with the runtime (and cached on disk like it). Per call it does what the entry
did: form each step's pointer array from the call's arguments and call the kernel,
inline or through the thread pool.

Programs holding control flow (scan, cond, while: steps that emit their own code) keep
the compiled entry.

Table layout (int64 words)::

    header: nsteps, scratch_words, sizes_arg (-1: none)
    step:   kind (0 inline call, 1 parallel_for, 2 GEMM), fn address,
            extent (>= 0; < 0: sizes[-extent - 1]), grain, with_sizes, nptrs,
            nptrs pointer descriptors,
            GEMM only: nepi (-1: no epilogue), nepi descriptors
    pointer descriptor (mode, a, b, c):
            mode 0: args[a] + b
            mode 1: args[a] + ((int64*)args[a + 1])[c] + b   (workspace placed per size)
            mode 2: a + b                                   (absolute: a constant array)
"""
from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from .threadpool import BODY_FNTY, declare_threadpool

INTERPRETER = "graphc_run_steps"
KIND_CALL, KIND_PARALLEL, KIND_GEMM = 0, 1, 2
HEADER_WORDS = 3
DESC_WORDS = 4


class StepTable:
    """A program's steps encoded for ``graphc_run_steps``; function addresses are
    symbol names until ``resolve`` (the code units are loaded after encoding)."""

    def __init__(self, words: list, constants: list):
        self.words = words          # ints, or ("fn", symbol) / ("const", k) placeholders
        self.constants = constants  # aligned numpy arrays the table points into (kept alive here)
        self.array = None

    def resolve(self, addresses: dict) -> np.ndarray:
        """The table with every placeholder replaced by an address: a kernel symbol by
        its loaded code's, a constant by its array's."""
        out = np.empty(len(self.words), np.int64)
        for k, w in enumerate(self.words):
            if isinstance(w, tuple):
                w = addresses[w[1]] if w[0] == "fn" else self.constants[w[1]].__array_interface__["data"][0]
            out[k] = w
        self.array = out
        return out

    def to_record(self) -> dict:
        """JSON-able form for the program cache (constants as base64 bytes)."""
        import base64

        return {"words": [list(w) if isinstance(w, tuple) else w for w in self.words],
                "constants": [[str(c.dtype), list(c.shape), base64.b64encode(c.tobytes()).decode()]
                              for c in self.constants]}

    @classmethod
    def from_record(cls, record: dict) -> "StepTable":
        import base64

        from .._runtime.buffers import aligned_empty

        constants = []
        for dtype, shape, data in record["constants"]:
            arr = aligned_empty(tuple(shape), dtype, "a constant")
            arr[...] = np.frombuffer(base64.b64decode(data), dtype=dtype).reshape(shape)
            constants.append(arr)
        words = [(str(w[0]), w[1] if w[0] == "fn" else int(w[1])) if isinstance(w, list) else int(w)
                 for w in record["words"]]
        return cls(words, constants)

    def symbols(self) -> list:
        """The kernel symbols the table calls, each once, in first-use order."""
        return list(dict.fromkeys(w[1] for w in self.words if isinstance(w, tuple) and w[0] == "fn"))


def encode(program, steps_fns, dispatch) -> StepTable:
    """Encode ``program``'s steps. ``steps_fns``: per step the kernel's symbol (a GEMM
    step: (symbol, chunks)); ``dispatch(step, fn)``: (kind, extent, grain) as the entry
    function would call it (shared with llvm_cpu.emit_entry, so both run steps alike)."""
    from .program import GemmStep

    n_in, n_out, n_var = len(program.inputs), len(program.outputs), len(program.variables)
    ws_arg = n_in + n_out + n_var
    symbolic = bool(program.symbols)
    sizes_arg = ws_arg + 2 if symbolic else -1
    constants, const_index = [], {}

    def desc(buf) -> list:
        offset = 0
        while buf.base is not None:
            offset += buf.offset
            buf = buf.base
        if buf.kind == "input":
            return [0, buf.slot, offset, 0]
        if buf.kind == "output":
            return [0, n_in + buf.slot, offset, 0]
        if buf.kind == "variable":
            return [0, n_in + n_out + buf.slot, offset, 0]
        if buf.kind == "workspace":
            if symbolic:
                return [1, ws_arg, offset, buf.vid]
            return [0, ws_arg, buf.slot + offset, 0]
        k = const_index.get(buf.slot)
        if k is None:
            from .._runtime.buffers import aligned_empty

            value = np.ascontiguousarray(buf.value)
            arr = aligned_empty(value.shape, value.dtype, "a constant")
            arr[...] = value
            k = const_index[buf.slot] = len(constants)
            constants.append(arr)
        return [2, ("const", k), offset, 0]

    words: list = [len(program.kernels), 0, sizes_arg]
    scratch = 0
    for step, fn in zip(program.kernels, steps_fns):
        kind, extent, grain = dispatch(step, fn)
        if isinstance(extent, str):
            extent = -1 - program.symbols.index(extent)
        if isinstance(step, GemmStep):
            bufs = [step.a, step.b, step.dest, step.scratch]
            epi = step.epilogue.buffers() if step.epilogue is not None else None
            symbol = fn[0]
        else:
            bufs, epi, symbol = step.buffers(), None, fn
        words += [kind, ("fn", symbol), int(extent), int(grain), int(symbolic), len(bufs)]
        for b in bufs:
            words += desc(b)
        need = len(bufs) + 1
        if kind == KIND_GEMM:
            words.append(-1 if epi is None else len(epi))
            for b in epi or ():
                words += desc(b)
            need += (len(epi) + 1 if epi is not None else 0) + 3
        scratch = max(scratch, need)
    words[1] = scratch
    return StepTable(words, constants)


def interpreter_ir() -> str:
    """LLVM IR of ``i32 graphc_run_steps(i64* table, i8** args)`` (see the module doc;
    the table first, so the runtime binds it once with ``functools.partial``)."""
    i8p, i64, i32 = ir.IntType(8).as_pointer(), ir.IntType(64), ir.IntType(32)
    i8pp, i64p = i8p.as_pointer(), i64.as_pointer()
    module = ir.Module(name="graphc_step_table")
    module.triple = llvm.get_process_triple()
    pfor = declare_threadpool(module)["graphc_parallel_for"]
    fn = ir.Function(module, ir.FunctionType(i32, [i64p, i8pp]), name=INTERPRETER)
    table, args = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    c64 = lambda v: ir.Constant(i64, v)  # noqa: E731

    cursor = b.alloca(i64p, name="cursor")
    b.store(b.gep(table, [c64(HEADER_WORDS)]), cursor)
    nsteps = b.load(table)
    scratch = b.alloca(i8p, b.load(b.gep(table, [c64(1)])), name="scratch")
    sizes_arg = b.load(b.gep(table, [c64(2)]))
    has_sizes = b.icmp_signed(">=", sizes_arg, c64(0))
    sizes_ptr = b.select(has_sizes, b.load(b.gep(args, [b.select(has_sizes, sizes_arg, c64(0))])),
                         ir.Constant(i8p, None))
    sizes = b.bitcast(sizes_ptr, i64p)
    loop_var = b.alloca(i64, name="j")  # fill's counter (an entry-block alloca, reused)
    step_var = b.alloca(i64, name="step")

    def word():
        p = b.load(cursor)
        b.store(b.gep(p, [c64(1)]), cursor)
        return b.load(p)

    def fill(dest_base, count, append_sizes):
        """dest_base[j] = pointer j for j < count; then the sizes pointer if asked."""
        b.store(c64(0), loop_var)
        head = fn.append_basic_block("fill.head")
        body = fn.append_basic_block("fill.body")
        sym = fn.append_basic_block("fill.sym")
        join = fn.append_basic_block("fill.join")
        done = fn.append_basic_block("fill.done")
        b.branch(head)
        b.position_at_end(head)
        j = b.load(loop_var)
        b.cbranch(b.icmp_signed("<", j, count), body, done)
        b.position_at_end(body)
        mode, a, off, c = word(), word(), word(), word()
        is_abs = b.icmp_signed("==", mode, c64(2))
        arg_ptr = b.load(b.gep(args, [b.select(is_abs, c64(0), a)]))
        base = b.select(is_abs, b.inttoptr(a, i8p), arg_ptr)
        direct = b.gep(base, [off])
        b.cbranch(b.icmp_signed("==", mode, c64(1)), sym, join)
        from_body = b.block
        b.position_at_end(sym)
        offsets = b.bitcast(b.load(b.gep(args, [b.add(a, c64(1))])), i64p)
        placed = b.gep(arg_ptr, [b.add(b.load(b.gep(offsets, [c])), off)])
        b.branch(join)
        b.position_at_end(join)
        ptr = b.phi(i8p)
        ptr.add_incoming(direct, from_body)
        ptr.add_incoming(placed, sym)
        b.store(ptr, b.gep(dest_base, [j]))
        b.store(b.add(j, c64(1)), loop_var)
        b.branch(head)
        b.position_at_end(done)
        with b.if_then(append_sizes):
            b.store(sizes_ptr, b.gep(dest_base, [count]))

    b.store(c64(0), step_var)
    head = fn.append_basic_block("step.head")
    body = fn.append_basic_block("step.body")
    exit_ = fn.append_basic_block("exit")
    b.branch(head)
    b.position_at_end(head)
    k = b.load(step_var)
    b.cbranch(b.icmp_signed("<", k, nsteps), body, exit_)
    b.position_at_end(body)
    kind, fn_addr, extent_w, grain, with_sizes_w, nptrs = word(), word(), word(), word(), word(), word()
    kernel = b.inttoptr(fn_addr, BODY_FNTY.as_pointer())
    symbolic_extent = b.icmp_signed("<", extent_w, c64(0))
    sym_index = b.sub(c64(-1), extent_w)
    extent = b.select(symbolic_extent, b.load(b.gep(sizes, [b.select(symbolic_extent, sym_index, c64(0))])),
                      extent_w)
    with_sizes = b.icmp_signed("!=", with_sizes_w, c64(0))
    fill(scratch, nptrs, with_sizes)
    ctx = b.bitcast(scratch, i8p)
    is_gemm = b.icmp_signed("==", kind, c64(KIND_GEMM))
    with b.if_else(is_gemm) as (then, otherwise):
        with then:
            nepi = word()
            epi_base = b.gep(scratch, [b.add(nptrs, c64(1))])
            has_epi = b.icmp_signed(">=", nepi, c64(0))
            with b.if_then(has_epi):
                fill(epi_base, nepi, with_sizes)
            full = b.gep(epi_base, [b.select(has_epi, b.add(nepi, c64(1)), c64(0))])
            b.store(ctx, full)
            b.store(b.select(has_epi, b.bitcast(epi_base, i8p), ir.Constant(i8p, None)), b.gep(full, [c64(1)]))
            b.store(sizes_ptr, b.gep(full, [c64(2)]))
            b.call(pfor, [kernel, b.bitcast(full, i8p), extent, c64(1)])
        with otherwise:
            with b.if_else(b.icmp_signed("==", kind, c64(KIND_PARALLEL))) as (par, inline):
                with par:
                    b.call(pfor, [kernel, ctx, extent, grain])
                with inline:
                    b.call(kernel, [ctx, c64(0), extent])
    b.store(b.add(k, c64(1)), step_var)
    b.branch(head)
    b.position_at_end(exit_)
    b.ret(ir.Constant(i32, 0))
    return str(module)


_address = None


def prefetch() -> None:
    """Start building the interpreter on the compile threads (llvm_cpu.prefetch_runtime_object)."""
    if _address is None:
        from .llvm_cpu import prefetch_runtime_object

        prefetch_runtime_object(interpreter_ir, "step_table", speed_level=2)


def interpreter_address() -> int:
    """Address of ``graphc_run_steps``, compiled (or read from the disk cache) and
    loaded with the runtime on first use."""
    global _address
    if _address is None:
        from . import threadpool
        from .llvm_cpu import load_runtime_object

        load_runtime_object(interpreter_ir, [INTERPRETER], name="step_table", speed_level=2)
        _address = threadpool.get_function_address(INTERPRETER)
    return _address
