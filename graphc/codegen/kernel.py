"""KernelBuilder: emits one loop-nest kernel as LLVM IR, target-neutral.

Op lowerings (``Op.emit``) describe the value of their output at a multi-index in terms
of their inputs' values at other indices; the KernelBuilder turns that into loops.

The key idea is *levels*. Every value the builder makes (a ``V``) records the loop level
it depends on: constants live at the entry level, a loop's induction variable at that
loop's body level, and an arithmetic result at the deepest level of its operands. A
value is emitted at the end of its own level's code ("tail"), so loop-invariant work is
hoisted automatically, and a reduction whose result depends only on outer indices (the
row max and row sum of a softmax) is computed once per outer iteration, before the
inner loop that uses it. Loops are linked into their parent lazily, after their body is
complete, so a body can still ask for an outer value that must run before it.

Loop counters and accumulators live in entry-block allocas; LLVM's SROA turns them
into SSA phis, and the loop vectorizer then vectorizes the innermost loops.

float16 and bfloat16 are storage types: a load extends them to float32, a value's
``V.dtype`` is then "float32" (its compute dtype), every op producing a narrow float
rounds its float32 result to the storage type (``read``), and a store truncates. The
conversions are a few instructions inside the kernel that loads or stores the narrow
buffer, so there is no separate conversion pass over memory.
"""
from __future__ import annotations

import contextlib

import numpy as np
from llvmlite import ir

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()

_LLVM_TYPES = {"float32": F32, "float64": F64, "int8": I8, "int32": I32, "int64": I64, "bool": I1, "index": I64,
               "float16": F32, "bfloat16": F32}
# bfloat16 is stored as its 16 bits (LLVM's bfloat has no conversions that vectorize
# without avx512bf16); graphc has no int16 dtype, so an i16 buffer is a bfloat16 one.
_MEM_TYPES = {"float32": F32, "float64": F64, "int8": I8, "int32": I32, "int64": I64, "bool": I8,
              "float16": F16, "bfloat16": I16}
_NARROW = ("float16", "bfloat16")


def llvm_type(dtype: str) -> ir.Type:
    """Register type of a dtype (bool is i1 in registers; float16/bfloat16 compute as float)."""
    return _LLVM_TYPES[dtype]


def compute_dtype(dtype: str) -> str:
    """The dtype a value is held in while computing: float32 for float16/bfloat16."""
    return "float32" if dtype in _NARROW else dtype


def mem_type(dtype: str) -> ir.Type:
    """In-memory element type of a dtype (bool is one byte, as numpy stores it)."""
    return _MEM_TYPES[dtype]


class Level:
    """A straight-line region of code: the entry, or one loop body."""

    __slots__ = ("depth", "tail", "parent", "alive", "reduction")

    def __init__(self, depth: int, tail: ir.Block, parent: "Level | None", reduction: bool = False):
        self.depth = depth
        self.tail = tail
        self.parent = parent
        self.alive = True
        self.reduction = reduction  # the body of a reduction loop


class V:
    """An SSA value with the loop level it depends on and its dtype."""

    __slots__ = ("v", "level", "dtype")

    def __init__(self, v, level: Level, dtype: str):
        self.v = v
        self.level = level
        self.dtype = dtype

    def __repr__(self):
        return f"V({self.dtype}@{self.level.depth})"


class KernelBuilder:
    """Builds the body of one kernel function; ops call its scalar API from ``emit``.

    ``target`` supplies target-specific pieces (math functions, how the outer loop is
    distributed) so the same op lowerings serve the CPU and the GPU.
    """

    def __init__(self, func: ir.Function, target, inline=frozenset(), read_buffer=None):
        self.func = func
        self.target = target
        entry = func.append_basic_block("entry")
        self._alloca_block = entry
        first = func.append_basic_block("start")
        self._start = first
        self.builder = ir.IRBuilder(entry)
        self.root = Level(0, first, None)
        self.path: list[Level] = [self.root]
        self._cache: dict = {}
        self._index_consts: dict = {}
        # node id -> (pointer, shape): values a reduction pass stores into the kernel's
        # output row so the final pass reloads them instead of recomputing (see read)
        self.stash: dict = {}
        self.inline = inline            # node ids whose emit is inlined (fusion)
        self.read_buffer = read_buffer  # fn(kb, node, flat_index V) -> V for materialized nodes
        self._nblocks = 0
        # symbol name -> V of its run-time size (entry level), for symbolic dimensions
        self.symbols: dict = {}
        # node ids whose narrow-float result is left unrounded (a GPU reduction's first
        # stage hands its float32 accumulator on; the final store rounds)
        self.unrounded: frozenset = frozenset()
        # id of a loop counter's IR value -> (lo, hi): the static range of a loop that
        # runs over one piece of an axis (see ``loop``'s ``bounds`` and ``bounds_of``)
        self._bounds: dict = {}

    # -- finishing -------------------------------------------------------------------
    def finish(self):
        """Close the function: jump entry -> first block, return at the end."""
        b = self.builder
        b.position_at_end(self._alloca_block)
        b.branch(self._start)
        b.position_at_end(self.root.tail)
        b.ret_void()

    # -- placement -------------------------------------------------------------------
    def _block(self, name):
        self._nblocks += 1
        return self.func.append_basic_block(f"{name}{self._nblocks}")

    def deepest(self, *vals) -> Level:
        level = self.root
        for v in vals:
            lv = v.level
            if not lv.alive:
                raise AssertionError("value used outside the loop that defines it")
            if lv.depth > level.depth:
                level = lv
        return level

    @contextlib.contextmanager
    def at(self, level: Level):
        """Position the builder at the end of ``level``'s code."""
        self.builder.position_at_end(level.tail)
        yield self.builder

    def alloca(self, ty, name=""):
        b = ir.IRBuilder(self._alloca_block)
        if self._alloca_block.instructions:
            b.position_before(self._alloca_block.instructions[0])
        return b.alloca(ty, name=name)

    # -- constants and indices ----------------------------------------------------------
    def const(self, value, dtype: str) -> V:
        ty = llvm_type(dtype)
        if dtype in _NARROW:  # a constant of a narrow float is a value of that type
            value, dtype = float(np.asarray(value, dtype=dtype).astype(np.float32)), "float32"
        if dtype == "bool":
            c = ir.Constant(I1, 1 if value else 0)
        elif dtype in ("float32", "float64"):
            c = ir.Constant(ty, float(value))
        else:
            c = ir.Constant(ty, int(value))
        return V(c, self.root, dtype)

    def index(self, value) -> V:
        """An index constant; one object per value, so reads at equal indices share a
        cache entry (the read cache is keyed by the identity of index values). A symbolic
        dimension (a str) is its run-time size."""
        if isinstance(value, str):
            v = self.symbols.get(value)
            if v is None and "*" in value and self.symbols:  # a derived product missing from the table
                from ..symbolic import factors

                k, names = factors(value)
                v = self.index(k)
                for name in names:
                    v = self.imul(v, self.index(name))
                self.symbols[value] = v
            if v is None:
                raise AssertionError(f"symbolic dimension {value!r} has no run-time size in this kernel")
            return v
        if isinstance(value, V):
            return value
        value = int(value)
        v = self._index_consts.get(value)
        if v is None:
            v = self._index_consts[value] = V(ir.Constant(I64, value), self.root, "index")
        return v

    def _bin_ir(self, fn, a: V, b: V, dtype: str, name: str | None = None) -> V:
        """``fn(a, b)``; a named index operation is made once per pair of operands (its
        entry shares the read cache, so it is dropped with the loop that defines it): an
        index computed twice is then the same value, and reads at it hit the read cache
        (``input_indices`` of reshape and slice rely on it)."""
        key = ("index-op", name, id(a.v), id(b.v)) if name else None
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None and hit[0].level.alive:
                return hit[0]
        level = self.deepest(a, b)
        with self.at(level) as bld:
            value = V(fn(bld, a.v, b.v), level, dtype)
        if key is not None:
            self._cache[key] = (value, (a, b))  # keep a and b alive so ids stay unique
        return value

    def iadd(self, a: V, b: V) -> V:
        if _is_zero(b):
            return a
        if _is_zero(a):
            return b
        return self._bin_ir(lambda bl, x, y: bl.add(x, y), a, b, "index", "add")

    def imul(self, a: V, b: V) -> V:
        if _is_one(b):
            return a
        if _is_one(a):
            return b
        if _is_zero(a) or _is_zero(b):
            return self.index(0)
        return self._bin_ir(lambda bl, x, y: bl.mul(x, y), a, b, "index", "mul")

    def idiv(self, a: V, b: V) -> V:
        if _is_one(b):
            return a
        return self._bin_ir(lambda bl, x, y: bl.udiv(x, y), a, b, "index", "udiv")

    def imod(self, a: V, b: V) -> V:
        if _is_one(b):
            return self.index(0)
        return self._bin_ir(lambda bl, x, y: bl.urem(x, y), a, b, "index", "urem")

    def flat_index(self, idx, shape, strides=None) -> V:
        """Row-major flat offset of a multi-index (strides in elements; 0 = broadcast)."""
        if strides is None:
            strides = self.strides(shape)
        flat = self.index(0)
        for i, s, d in zip(idx, strides, shape):
            if d == 1 or s == 0:
                continue
            flat = self.iadd(flat, self.imul(i, self.index(s)))
        return flat

    def strides(self, shape) -> tuple:
        """Row-major strides in elements: ints for static shapes; with symbolic
        dimensions, run-time values (V) for the axes left of a symbol."""
        if not any(isinstance(d, str) for d in shape):
            return contiguous_strides(shape)
        out, acc = [], self.index(1)
        for d in reversed(shape):
            out.append(acc)
            acc = self.imul(acc, self.index(d if isinstance(d, str) else max(int(d), 1)))
        return tuple(reversed(out))

    def unflatten(self, flat: V, shape) -> list:
        """Multi-index of a row-major flat offset (used by reshape)."""
        idx = []
        strides = self.strides(shape)
        for axis, (s, d) in enumerate(zip(strides, shape)):
            if d == 1:
                idx.append(self.index(0))
                continue
            q = self.idiv(flat, self.index(s))
            # the leading axis needs no modulo: flat < size of the whole array
            idx.append(q if axis == 0 else self.imod(q, self.index(d)))
        return idx

    # -- memory ------------------------------------------------------------------------
    def load(self, ptr, flat: V, dtype: str) -> V:
        """Element ``flat`` of a buffer of ``dtype``; narrow floats arrive as float32."""
        level = self.deepest(flat)
        with self.at(level) as b:
            addr = b.gep(ptr, [flat.v], inbounds=True)
            v = b.load(addr)
            if dtype == "bool":
                v = b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
            elif dtype == "float16":
                v = self._half_to_float(b, v)
            elif dtype == "bfloat16":
                v = bfloat16_bits_to_float(b, v)
            return V(v, level, compute_dtype(dtype))

    def store(self, ptr, flat: V, value: V, level: Level | None = None):
        """Store ``value`` at element ``flat``; the buffer's element type says whether a
        float32 value is truncated to float16 (half) or bfloat16 (i16)."""
        level = level or self.deepest(flat, value)
        with self.at(level) as b:
            v = value.v
            elem = ptr.type.pointee
            if value.dtype == "bool":
                v = b.zext(v, I8)
            elif elem == F16 and v.type == F32:
                v = self._float_to_half(b, v)
            elif elem == I16 and v.type == F32:
                v = b.trunc(b.lshr(float_to_bfloat16_bits(b, v), ir.Constant(I32, 16)), I16)
            addr = b.gep(ptr, [flat.v], inbounds=True)
            b.store(v, addr)

    # -- reading graph values ------------------------------------------------------------
    def read(self, node, idx) -> V:
        """The value of ``node`` at multi-index ``idx``: inlined (fused) or loaded."""
        if getattr(node.type, "is_static", True) and getattr(node.type, "size", 1) == 0:
            # No index lies inside an empty tensor, so this read sits in code that never
            # runs (a loop of extent 0); any value of the right type will do, and the op
            # need not cope with having no elements (an empty concatenate has no parts).
            return self.const(0, node.type.dtype)
        key = (node.id, tuple(id(i.v) for i in idx))
        hit = self._cache.get(key)
        if hit is not None and hit[0].level.alive:
            return hit[0]
        if node.id in self.stash and not any(i.level.reduction for i in idx):
            # Stored by the reduction pass over this row; the index varies along the
            # reduced axes (stash_candidates requires extents > 1), so the load sits in
            # the inner output loop, after the hoisted pass that stored it.
            ptr, shape = self.stash[node.id]
            value = self.load(ptr, self.flat_index(idx, shape), node.type.dtype)
        elif node.id in self.inline:
            emit = self._emit_fn(node)
            self._emit_chain_below(node, idx)
            value = emit(self, node, list(idx))
            if node.type.dtype in _NARROW and not _exact_in_storage(node) and node.id not in self.unrounded:
                value = self.round_to(value, node.type.dtype)  # every op producing a narrow float rounds
            if node.id in self.stash:
                ptr, shape = self.stash[node.id]
                self.store(ptr, self.flat_index(idx, shape), value)
        else:
            value = self.read_buffer(self, node, idx)
        self._cache[key] = (value, idx)  # keep idx alive so ids stay unique
        return value

    def _emit_fn(self, node):
        from ..ops.registry import get_op

        op = get_op(node.op)
        return op.lowerings.get(self.target.name, op.emit)

    def _cached(self, node, idx) -> bool:
        hit = self._cache.get((node.id, tuple(id(i.v) for i in idx)))
        return hit is not None and hit[0].level.alive

    def _emit_chain_below(self, node, idx):
        """Emit the fused inputs of ``node`` bottom-up before ``node`` itself.

        ``read`` -> ``emit`` -> ``read`` recursion is a few Python frames per fused op, so a
        chain of a few hundred elementwise ops (a deep model, an unrolled RNN) would hit
        Python's recursion limit. Ops whose ``emit`` declares ``input_indices`` (where it
        will read each input) let us walk the chain with an explicit stack and emit it in
        post-order (inputs first); ``emit`` then finds every input in the read cache, so
        the recursion depth no longer grows with the chain's length. Ops without the
        declaration are simply emitted on demand, as before.
        """
        order, stack, seen = [], [(node, idx, False)], set()
        while stack:
            n, ix, inputs_done = stack.pop()
            if inputs_done:
                order.append((n, ix))
                continue
            where = getattr(self._emit_fn(n), "input_indices", None)
            if where is None:
                if n is not node:
                    order.append((n, ix))
                continue
            if n is not node:
                stack.append((n, ix, True))
            for inp, iix in zip(reversed(n.inputs), reversed(where(self, n, ix))):
                key = (inp.id, tuple(id(i.v) for i in iix))
                if key in seen or inp.id not in self.inline or inp.id in self.stash or self._cached(inp, iix):
                    continue
                seen.add(key)
                stack.append((inp, iix, False))
        for n, ix in order:
            self.read(n, ix)

    # -- loops -------------------------------------------------------------------------
    def loop(self, parent: Level, start: V, stop: V, body, name="i", reduction=False, bounds=None,
             unroll=True):
        """Emit ``for i in [start, stop): body(i)`` at ``parent``'s tail.

        ``body(i)`` builds the loop body (it may create nested loops and ask for outer
        values); the loop is linked into the parent only afterwards, so values it needs
        from ``parent`` are emitted before it. ``bounds``: (lo, hi), the static range
        the counter stays in, which ops ask for through ``bounds_of``. ``unroll=False``
        forbids LLVM to unroll this loop (``llvm.loop.unroll.disable``), whatever the
        pipeline (JIT units and the AOT export's single module alike).
        """
        counter = self.alloca(I64, name=name)
        header = self._block(f"{name}_head")
        body_block = self._block(f"{name}_body")
        exit_block = self._block(f"{name}_exit")
        level = Level(parent.depth + 1, body_block, parent, reduction)
        saved_path = self.path
        self.path = _path_to(parent) + [level]
        b = self.builder
        b.position_at_end(header)
        i_val = b.load(counter, name=name)
        b.cbranch(b.icmp_signed("<", i_val, stop.v), body_block, exit_block)
        iv = V(i_val, level, "index")
        if bounds is not None:
            self._bounds[id(i_val)] = bounds
        body(iv)
        b.position_at_end(level.tail)
        b.store(b.add(i_val, ir.Constant(I64, 1)), counter)
        back_edge = b.branch(header)
        if not unroll:
            module = b.block.function.module
            disable = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
            back_edge.set_metadata("llvm.loop", LoopID(module, [disable]))
        level.alive = False
        self._drop_dead()
        # link into the parent
        b.position_at_end(parent.tail)
        b.store(start.v, counter)
        b.branch(header)
        parent.tail = exit_block
        self.path = saved_path

    def _drop_dead(self):
        self._cache = {k: v for k, v in self._cache.items() if v[0].level.alive}

    def bounds_of(self, i: V):
        """(lo, hi) when index ``i`` is known to lie in [lo, hi) at code generation: the
        counter of a loop over one piece of a split axis (llvm_cpu.emit_kernel splits an
        axis where a concatenate or a slice's gradient changes source), else None. Ops use
        it to pick their source without a per-element select."""
        if isinstance(i.v, ir.Constant):
            return int(i.v.constant), int(i.v.constant) + 1
        return self._bounds.get(id(i.v)) if i.level.alive else None

    def reduce(self, level: Level, extents, inits, step, unroll=True):
        """Reduction loops over ``extents`` placed at ``level``.

        extents: sizes (the loop runs from 0), or (start, stop) pairs of index V.
        inits: list of V (initial accumulator values, at the entry level).
        step(ivars, accs) -> list of new accumulator V (same dtypes).
        unroll: False marks the loops not to be unrolled (see ``loop``).
        Returns the final accumulators as V at ``level``.
        """
        slots = []
        for init in inits:
            slot = self.alloca(llvm_type(init.dtype), name="acc")
            slots.append((slot, init.dtype))
        with self.at(level) as b:
            for (slot, _), init in zip(slots, inits):
                b.store(init.v, slot)

        def nest(parent, depth, ivars):
            if depth == len(extents):
                inner = parent
                with self.at(inner) as b:
                    accs = [V(b.load(s), inner, dt) for s, dt in slots]
                new = step(ivars, accs)
                with self.at(inner) as b:  # new values depend on nothing deeper than this body
                    for (s, _), nv in zip(slots, new):
                        b.store(nv.v, s)
                return
            extent = extents[depth]  # a size, or a (start V, stop V) range
            start, stop = extent if isinstance(extent, tuple) else (self.index(0), self.index(extent))
            self.loop(parent, start, stop,
                      lambda iv: nest(iv.level, depth + 1, ivars + [iv]), name="r", reduction=True,
                      unroll=unroll)

        nest(level, 0, [])
        with self.at(level) as b:
            return [V(b.load(s), level, dt) for s, dt in slots]

    # Blocked summation. A float sum accumulates in (vector-lane) partial sums; one lane
    # that has grown much larger than the elements stops absorbing them: a float32 sum
    # of 2**41 ones stalls at 2**24 per lane, and in general the error grows like
    # eps * n / lanes. Summing blocks of SUM_BLOCK elements into a fresh accumulator
    # and adding the block sums into an outer accumulator bounds it by about
    # eps * (SUM_BLOCK / lanes + n / SUM_BLOCK), as numpy's pairwise summation does (its
    # blocks are 128). The outer accumulator of a float32 sum is a float64, so the
    # second term is float64's eps: exact for any realistic n. The block is long enough
    # that the per-block cost (the vector accumulators' final horizontal add, the
    # loop's setup: tens of instructions) is well under 1% of reading 4096 elements,
    # and short enough that one lane's partial sum of ~4096 / lanes terms stays as
    # accurate as numpy's. A property of the arithmetic, not of one CPU's speed.
    SUM_BLOCK = 4096
    block_sums = True  # GPU block reductions combine in a tree already (GPUKernelBuilder)

    def sum_reduce(self, level: Level, extents, acc_dtype: str, element) -> V:
        """Sum of ``element(ivars)`` (V of ``acc_dtype``) over the reduction ``extents``.

        Integer sums, short ones (<= SUM_BLOCK elements) and sums over symbolic sizes are
        one plain loop nest. Longer float sums split the reduction into blocks of at most
        SUM_BLOCK elements: the first axis (from the innermost) where the elements of the
        inner axes exceed SUM_BLOCK is cut into chunks, so a block is one chunk of that
        axis times all axes inside it; each block is summed (vectorized) into a fresh
        accumulator and then added, in order, into the outer one.
        """
        def plain():
            step = lambda ivars, accs: [self.add(accs[0], element(ivars), assoc=True)]
            return self.reduce(level, extents, [self.const(0, acc_dtype)], step)[0]

        if (not self.block_sums or acc_dtype not in ("float32", "float64")
                or any(isinstance(e, (str, tuple, V)) for e in extents)):
            return plain()
        inner = 1
        for k in range(len(extents) - 1, -1, -1):
            if inner * int(extents[k]) > self.SUM_BLOCK:
                break
            inner *= int(extents[k])
        else:
            return plain()
        size_k = int(extents[k])
        chunk = max(1, self.SUM_BLOCK // inner)
        nchunks = -(-size_k // chunk)
        outer_dtype = "float64"

        def outer_step(ovars, accs):
            lead, c = ovars[:-1], ovars[-1]
            start = self.imul(c, self.index(chunk))
            end = self.iadd(start, self.index(chunk))
            stop = self.select(self.cmp("<", end, self.index(size_k)), end, self.index(size_k))
            block_extents = [(start, stop)] + list(extents[k + 1:])
            step = lambda ivars, baccs: [self.add(baccs[0], element(lead + ivars), assoc=True)]
            block = self.reduce(c.level, block_extents, [self.const(0, acc_dtype)], step)[0]
            # in order, without reassociation: the outer loop is short and stays scalar
            return [self.add(accs[0], self.cast(block, outer_dtype))]

        outer_extents = list(extents[:k]) + [nchunks]
        total = self.reduce(level, outer_extents, [self.const(0, outer_dtype)], outer_step)[0]
        return self.cast(total, acc_dtype)

    # -- scalar arithmetic ---------------------------------------------------------------
    def _op(self, dtype, fn, *vals) -> V:
        level = self.deepest(*vals)
        with self.at(level) as b:
            return V(fn(b, *[v.v for v in vals]), level, dtype)

    def add(self, a, b, assoc=False):
        if a.dtype in ("float32", "float64"):
            flags = ASSOC if assoc else FAST
            return self._op(a.dtype, lambda bl, x, y: bl.fadd(x, y, flags=flags), a, b)
        if a.dtype == "bool":
            return self._op("bool", lambda bl, x, y: bl.or_(x, y), a, b)
        return self._op(a.dtype, lambda bl, x, y: bl.add(x, y), a, b)

    def sub(self, a, b):
        if a.dtype in ("float32", "float64"):
            return self._op(a.dtype, lambda bl, x, y: bl.fsub(x, y, flags=FAST), a, b)
        if a.dtype == "bool":
            return self._op("bool", lambda bl, x, y: bl.xor(x, y), a, b)
        return self._op(a.dtype, lambda bl, x, y: bl.sub(x, y), a, b)

    def mul(self, a, b, assoc=False):
        """``assoc``: a product reduction's accumulator (or a product feeding an FMA-able
        accumulation). It may contract but never reassociate: with `reassoc`, LLVM pulls
        constant factors of the elements out of an unrolled product (prod(2x) becomes
        8 * x0*x1*x2), which moves where it overflows (0 * 3e38 * 8 = 0 where numpy's
        0 * inf is NaN). A product reduction therefore runs in order, unvectorized."""
        if a.dtype in ("float32", "float64"):
            flags = MUL_ASSOC if assoc else FAST
            return self._op(a.dtype, lambda bl, x, y: bl.fmul(x, y, flags=flags), a, b)
        if a.dtype == "bool":
            return self._op("bool", lambda bl, x, y: bl.and_(x, y), a, b)
        return self._op(a.dtype, lambda bl, x, y: bl.mul(x, y), a, b)

    def div(self, a, b):
        """True division of floats (ops cast integers to float first, as numpy).

        Always a division, correctly rounded as numpy's. Multiplying by a hoisted
        reciprocal of a loop-invariant divisor is not: 1/d overflows for a subnormal d
        (x/d then gives inf or NaN where the quotient is finite) and loses bits when 1/d
        is subnormal. LLVM itself turns a division by a constant power of two into the
        (then exact) multiplication."""
        return self._op(a.dtype, lambda bl, x, y: bl.fdiv(x, y), a, b)

    def neg(self, a):
        if a.dtype in ("float32", "float64"):
            return self._op(a.dtype, lambda bl, x: bl.fneg(x), a)
        return self._op(a.dtype, lambda bl, x: bl.neg(x), a)

    def cmp(self, pred: str, a, b) -> V:
        """Comparison with numpy semantics (any comparison with NaN is False, except !=)."""
        if a.dtype in ("float32", "float64"):
            if pred == "!=":
                return self._op("bool", lambda bl, x, y: bl.fcmp_unordered("!=", x, y), a, b)
            return self._op("bool", lambda bl, x, y: bl.fcmp_ordered(pred, x, y), a, b)
        if a.dtype == "bool":
            return self._op("bool", lambda bl, x, y: bl.icmp_unsigned(pred, x, y), a, b)
        return self._op("bool", lambda bl, x, y: bl.icmp_signed(pred, x, y), a, b)

    def bitwise(self, kind: str, a, b) -> V:
        """Integer bit operations ("xor", "and", "or", "shr" logical, "shl") for RNGs/hashes."""
        fn = {"xor": lambda bl, x, y: bl.xor(x, y), "and": lambda bl, x, y: bl.and_(x, y),
              "or": lambda bl, x, y: bl.or_(x, y), "shr": lambda bl, x, y: bl.lshr(x, y),
              "shl": lambda bl, x, y: bl.shl(x, y)}[kind]
        return self._op(a.dtype, fn, a, b)

    def isnan(self, a) -> V:
        return self._op("bool", lambda bl, x: bl.fcmp_unordered("uno", x, x), a)

    def select(self, c, a, b) -> V:
        return self._op(a.dtype, lambda bl, cc, x, y: bl.select(cc, x, y), c, a, b)

    def logical(self, kind, a, b=None) -> V:
        if kind == "not":
            return self._op("bool", lambda bl, x: bl.xor(x, ir.Constant(I1, 1)), a)
        fn = {"and": lambda bl, x, y: bl.and_(x, y), "or": lambda bl, x, y: bl.or_(x, y),
              "xor": lambda bl, x, y: bl.xor(x, y)}[kind]
        return self._op("bool", fn, a, b)

    def maximum(self, a, b) -> V:
        """numpy.maximum: NaN-propagating. For floats this is LLVM's ``llvm.maximum``
        (IEEE 754-2019 maximum: NaN if either is NaN), which the loop vectorizer knows
        as a reduction, so a row max vectorizes like a row sum."""
        if a.dtype in ("float32", "float64"):
            return self.intrinsic("llvm.maximum", a, b)
        return self.select(self.cmp(">", a, b), a, b)

    def minimum(self, a, b) -> V:
        """numpy.minimum: NaN-propagating (``llvm.minimum`` for floats)."""
        if a.dtype in ("float32", "float64"):
            return self.intrinsic("llvm.minimum", a, b)
        return self.select(self.cmp("<", a, b), a, b)

    def abs(self, a) -> V:
        if a.dtype in ("float32", "float64"):
            return self.intrinsic("llvm.fabs", a)
        if a.dtype == "bool":
            return a
        neg = self.neg(a)
        return self.select(self.cmp("<", a, self.const(0, a.dtype)), neg, a)

    def round_to(self, a: V, dtype: str) -> V:
        """A float32 value rounded (to nearest even) to float16 or bfloat16 and held
        as float32 again; NaN and inf are kept, overflow gives inf."""
        if dtype == "float16":
            return self._op("float32", lambda bl, x: self._half_to_float(bl, self._float_to_half(bl, x)), a)
        return self._op("float32", lambda bl, x: bl.bitcast(float_to_bfloat16_bits(bl, x), F32), a)

    def cast(self, a: V, dtype: str) -> V:
        if dtype in _NARROW:
            return self._cast_narrow(a, dtype)
        src = a.dtype if a.dtype != "index" else "int64"
        if src == dtype:
            return a if a.dtype == dtype else V(a.v, a.level, dtype)
        to = llvm_type(dtype)

        def fn(bl, x):
            sf = src in ("float32", "float64")
            df = dtype in ("float32", "float64")
            if dtype == "bool":
                if sf:
                    return bl.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
                return bl.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
            if src == "bool":
                return bl.uitofp(x, to) if df else bl.zext(x, to)
            if sf and df:
                return bl.fptrunc(x, to) if dtype == "float32" else bl.fpext(x, to)
            if sf:
                return bl.fptosi(x, to)
            if df:
                return bl.sitofp(x, to)
            return bl.trunc(x, to) if to.width < x.type.width else bl.sext(x, to)

        return self._op(dtype, fn, a)

    def _half_to_float(self, b, h):
        """half -> float: LLVM's fpext where the target converts halves in hardware (F16C,
        NEON, PTX), else integer code (LLVM would call compiler-rt's __extendhfsf2)."""
        if getattr(self.target, "native_half", True):
            return b.fpext(h, F32)
        return half_bits_to_float(b, b.bitcast(h, I16))

    def _float_to_half(self, b, x):
        if getattr(self.target, "native_half", True):
            return b.fptrunc(x, F16)
        return b.bitcast(float_to_half_bits(b, x), F16)

    def _cast_narrow(self, a: V, dtype: str) -> V:
        """Cast to float16/bfloat16 (held as float32), rounding once: a float64 (and an
        integer, through float64) is first rounded to float32 *to odd*, which keeps
        enough information for the second rounding to be correct (24 bits >= 11 + 2)."""
        src = a.dtype if a.dtype != "index" else "int64"
        if src == "float32":
            return self.round_to(a, dtype)
        if src == "bool":
            return self.cast(a, "float32")  # 0 and 1 are exact in every float
        wide = a if src == "float64" else self.cast(a, "float64")
        return self.round_to(self._op("float32", _round_to_odd_f32, wide), dtype)

    def intrinsic(self, name: str, *vals) -> V:
        """Call an LLVM intrinsic overloaded on the value type (fabs, sqrt, maximum...)
        taking ``len(vals)`` operands of that type."""
        ty = vals[0].v.type
        mod = self.func.module
        full = f"{name}.{'f32' if ty == F32 else 'f64' if ty == F64 else ty}"
        fn = mod.globals.get(full)
        if fn is None:
            fn = ir.Function(mod, ir.FunctionType(ty, [ty] * len(vals)), name=full)
        return self._op(vals[0].dtype, lambda bl, *xs: bl.call(fn, list(xs)), *vals)

    def math(self, fname: str, *vals) -> V:
        """A transcendental (exp, log, tanh, ...), lowered by the target's math library."""
        level = self.deepest(*vals)
        with self.at(level) as b:
            return V(self.target.emit_math(b, fname, *[v.v for v in vals]), level, vals[0].dtype)


# Reductions may reassociate (that is what lets them vectorize). Elementwise math
# carries no fast-math flags, not even `contract`: a fused kernel may evaluate the same
# value twice (in a row reduction's pass and again in the pass that consumes it, or
# in a vector body and its scalar remainder), and with contraction allowed LLVM fuses
# a*b+c into an FMA in one place and not the other. The two copies then differ in the
# last bit, so e.g. reduce_max's gradient mask equal(x, max(x)) can be empty and its
# 0/0 turns a whole training step into NaN (issue 17, batch norm before a softmax).
# No nnan/ninf either: NaN and inf must behave as in numpy.
ASSOC = ("reassoc", "contract", "nsz")
FAST = ()
MUL_ASSOC = ("contract",)  # see KernelBuilder.mul


# Ops whose result is one of their operands' values (or a zero), so a result of narrow
# operands needs no rounding: index remappings and selections.
_EXACT_OPS = frozenset({"negative", "abs", "maximum", "minimum", "where", "relu", "stop_gradient", "floor", "ceil",
                        "rint", "trunc", "materialize", "remat_barrier", "reduce_max", "reduce_min"})


class LoopID(ir.values.MDValue):
    """A loop's ``llvm.loop`` metadata: a distinct node whose first operand is itself,
    followed by the loop's properties. llvmlite's ``add_metadata`` makes only uniqued
    nodes, which LLVM would not take as a loop ID (and which could be shared by loops)."""

    def __init__(self, module: ir.Module, properties):
        super().__init__(module, [], name=str(len(module.metadata)))
        self.operands = (self, *properties)

    def descr(self, buf):
        buf.append("distinct ")
        super().descr(buf)

    # identity, not the operand tuple (which holds the node itself)
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


def _exact_in_storage(node) -> bool:
    from ..ops.registry import get_op

    return node.op in _EXACT_OPS or get_op(node.op).kind == "injective"


def bfloat16_bits_to_float(b: ir.IRBuilder, bits):
    """The float32 whose upper half is the bfloat16 ``bits`` (i16): exact."""
    return b.bitcast(b.shl(b.zext(bits, I32), ir.Constant(I32, 16)), F32)


def float_to_bfloat16_bits(b: ir.IRBuilder, x):
    """float32 -> bfloat16 rounded to nearest even, as i32 bits with the low half zero.

    Adding 0x7fff plus the lowest kept bit rounds the dropped half to nearest even
    (a carry into the exponent is the correct rounding up, up to inf); a NaN is kept a
    NaN by setting its quiet bit instead (the addition could carry a NaN into inf).
    Integer ops only, so it vectorizes on any SIMD unit."""
    bits = b.bitcast(x, I32)
    lsb = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
    rounded = b.add(b.add(bits, ir.Constant(I32, 0x7FFF)), lsb)
    quiet_nan = b.or_(bits, ir.Constant(I32, 0x00400000))
    out = b.select(b.fcmp_unordered("uno", x, x), quiet_nan, rounded)
    return b.and_(out, ir.Constant(I32, 0xFFFF0000 - (1 << 32)))


def half_bits_to_float(b: ir.IRBuilder, h):
    """IEEE binary16 bits (i16) -> float32, exactly, in integer/float code that
    vectorizes (F. Giesen's half_to_float: move exponent and mantissa into place,
    rebias; inf/NaN get the float32 maximum exponent; subnormals are renormalized by
    one float subtraction)."""
    c = lambda v: ir.Constant(I32, v)
    h32 = b.zext(h, I32)
    o = b.shl(b.and_(h32, c(0x7FFF)), c(13))
    exp = b.and_(o, c(0x0F800000))
    o = b.add(o, c((127 - 15) << 23))
    infnan = b.add(o, c((128 - 16) << 23))
    sub = b.fsub(b.bitcast(b.add(o, c(1 << 23)), F32), b.bitcast(c(113 << 23), F32))
    o = b.select(b.icmp_unsigned("==", exp, c(0x0F800000)), infnan,
                 b.select(b.icmp_unsigned("==", exp, c(0)), b.bitcast(sub, I32), o))
    return b.bitcast(b.or_(o, b.shl(b.and_(h32, c(0x8000)), c(16))), F32)


def float_to_half_bits(b: ir.IRBuilder, x):
    """float32 -> IEEE binary16 bits (i16), rounded to nearest even (F. Giesen's
    float_to_half_fast3_rtne): >= 65536 is inf (NaN a quiet NaN); below the smallest
    normal half one float addition of a magic constant rounds the subnormal; else add
    the rounding bias and the kept mantissa's lowest bit, and shift."""
    c = lambda v: ir.Constant(I32, v)
    u_signed = b.bitcast(x, I32)
    sign = b.and_(u_signed, c(0x80000000 - (1 << 32)))
    u = b.xor(u_signed, sign)
    denorm_magic = ((127 - 15) + (23 - 10) + 1) << 23
    big = b.select(b.icmp_unsigned(">", u, c(255 << 23)), c(0x7E00), c(0x7C00))
    small = b.sub(b.bitcast(b.fadd(b.bitcast(u, F32), b.bitcast(c(denorm_magic), F32)), I32), c(denorm_magic))
    mant_odd = b.and_(b.lshr(u, c(13)), c(1))
    normal = b.lshr(b.add(b.add(u, c(((15 - 127) << 23) + 0xFFF)), mant_odd), c(13))
    o = b.select(b.icmp_unsigned(">=", u, c((127 + 16) << 23)), big,
                 b.select(b.icmp_unsigned("<", u, c(113 << 23)), small, normal))
    return b.trunc(b.or_(o, b.lshr(sign, c(16))), I16)


def _round_to_odd_f32(b: ir.IRBuilder, x):
    """float64 -> float32 rounded toward zero with the last bit set when inexact
    ("round to odd"): a later rounding to a type of <= 22 bits is then correct."""
    t = b.fptrunc(x, F32)
    back = b.fpext(t, F64)
    inexact = b.fcmp_ordered("one", back, x)
    tbits = b.bitcast(t, I32)
    away = b.fcmp_ordered(">", b.call(_fabs64(b), [back]), b.call(_fabs64(b), [x]))
    toward_zero = b.select(away, b.sub(tbits, ir.Constant(I32, 1)), tbits)
    odd = b.or_(toward_zero, ir.Constant(I32, 1))
    return b.bitcast(b.select(inexact, odd, tbits), F32)


def _fabs64(b: ir.IRBuilder):
    mod = b.function.module
    fn = mod.globals.get("llvm.fabs.f64")
    if fn is None:
        fn = ir.Function(mod, ir.FunctionType(F64, [F64]), name="llvm.fabs.f64")
    return fn


def _is_zero(v: V) -> bool:
    return isinstance(v.v, ir.Constant) and v.dtype == "index" and v.v.constant == 0


def _is_one(v: V) -> bool:
    return isinstance(v.v, ir.Constant) and v.dtype == "index" and v.v.constant == 1


def _path_to(level: Level) -> list:
    path = []
    while level is not None:
        path.append(level)
        level = level.parent
    return path[::-1]


def entry_alloca(b: ir.IRBuilder, ty):
    """An alloca in the function's entry block: one stack slot however many times the
    code that uses it runs (an alloca in a loop body takes more stack every iteration:
    a while_loop of a million steps overflowed the stack)."""
    here, entry = b.block, b.function.entry_basic_block
    if entry.is_terminated:
        b.position_before(entry.terminator)
    else:
        b.position_at_end(entry)
    slot = b.alloca(ty)
    b.position_at_end(here)
    return slot


def contiguous_strides(shape) -> tuple:
    strides = []
    acc = 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(int(d), 1)
    return tuple(reversed(strides))


def np_to_llvm_constant(arr: np.ndarray) -> ir.Constant:
    """A global-initializer constant holding an array's bytes (self-contained code)."""
    data = np.array(arr, order="C")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    raw = bytearray(data.tobytes())
    return ir.Constant(ir.ArrayType(I8, len(raw)), raw)
