"""Packed, register-blocked GEMM emitted as LLVM IR (no BLAS call).

``emit_gemm`` defines, in an llvmlite ``ir.Module``, a self-contained function

    void name(int64 M, int64 N, int64 K,
              const T* A, int64 a_rs, int64 a_cs,    // A[i,k] = A[i*a_rs + k*a_cs]
              const T* B, int64 b_rs, int64 b_cs,    // B[k,j] = B[k*b_rs + j*b_cs]
              T* C, int64 ldc,                       // C[i,j] = C[i*ldc + j]
              int64 accumulate,                      // 0: C = A@B, else C += A@B
              int64 m_begin, int64 m_end,            // rows of C computed by this call
              T* pack_buffer)                        // >= gemm_pack_buffer_elems(dtype)

It makes no calls at all (only LLVM intrinsics), so it can run inside a thread
pool of a standalone shared library; each thread passes its own pack_buffer and
a disjoint row range [m_begin, m_end).

Blocking (GotoBLAS / BLIS, five loops around a micro-kernel):

    for jc in 0..N step NC:                 B panel  KC x NC  -> stays in L3
      for pc in 0..K step KC:               pack B[pc:+KC, jc:+NC] into NR-wide
                                            micro-panels (k-major, zero padded)
        for ic in m_begin..m_end step MC:   pack A[ic:+MC, pc:+KC] into MR-tall
                                            micro-panels -> A block stays in L2
          for jr in 0..NC step NR:          one B micro-panel (KC x NR) -> L1
            for ir in 0..MC step MR:        micro-kernel: MR x NR tile of C
                                            accumulated in vector registers

Micro-kernel: MR x NR = MR x (NV vectors of L lanes), shape and cache blocking
derived from the CPU model (graphc/codegen/cpu/cpu_model.py) by ``gemm_config``:
6 x 16 floats on AVX2+FMA (12 accumulators + 2 B vectors + 1 broadcast = 15 of 16
registers, BLIS's haswell shape), 8 x 32 on AVX-512 (16 accumulators: 2 FMA ports x
4 cycles latency x 2, measured ~4% faster on Zen5 than 14 x 32), 5 x 8 on 128-bit
SSE without FMA (a product temporary per vector).  Per k it loads NR values of packed
B (NV aligned vector loads), broadcasts MR values of packed A and issues MR*NV vector
FMAs (``llvm.fma``; ``llvm.fmuladd`` where the CPU has no FMA, which LLVM lowers to a
multiply and an add instead of a libm ``fmaf`` call) into MR*NV accumulator
registers; the C tile is prefetched before the k loop.
Full tiles read/write C directly with vector
loads/stores; edge tiles (mr < MR or nr < NR) are computed in full on the zero
padded panels, spilled to a stack tile and copied out with a scalar loop.
K == 0 runs the pc loop once with kc == 0, so accumulate == 0 still zeroes C.
Without accumulate C is never read (it may hold NaN garbage).

Packing has fast paths for unit-stride rows (vector copies) and for
transposed operands (in-register L x L transposes), so row-major A (the
common case, which must be transposed into micro-panels) costs ~2% of the run.
A call with few rows (at most DIRECT_B_TILES row tiles, e.g. a batch of 50)
reads row-major B in place instead of packing it (a second micro-kernel with
a B row stride and unaligned loads): B is then used by too few row tiles for a
packed copy to repay its read and write.

Cache blocking (BLIS's analytical model, Low et al. 2016): KC so that one A and
one B micro-panel ((MR + NR) x KC) fill ~3/4 of L1d; MC so that the packed A
block (MC x KC) fills half of L2; NC so that the packed B panel (KC x NC) fills
half of the core's share of L3.  Nearby choices were within ~3% on Zen5 at 1024^3.
"""
from __future__ import annotations

import ctypes
from contextlib import contextmanager
from dataclasses import dataclass, replace

import llvmlite.ir as ir

__all__ = ["emit_gemm", "emit_gemm_with_packed_b", "packed_b_elems", "gemm_config", "gemm_pack_buffer_elems",
           "micro_shape", "compile_gemm_for_test", "counted_loop", "GemmConfig"]

I64 = ir.IntType(64)
I32 = ir.IntType(32)
PTR = ir.PointerType()  # opaque pointer (LLVM >= 17); compares equal to typed ones

_ELEM = {"float32": (ir.FloatType(), 4), "float64": (ir.DoubleType(), 8)}

_ALIGN = 64  # bytes; packed B micro-panels are 64-byte aligned
_SLACK = 256  # bytes after the A block: transposing pack_a stores may overrun
_UNROLL = 4  # k-loop unroll factor of the micro-kernel
_NV = 2  # B vectors per micro-kernel row (NR = 2 vectors, as in BLIS's x86 kernels)
DIRECT_B_TILES = 8  # at most this many row tiles per call: B is read in place, not packed


@dataclass(frozen=True)
class GemmConfig:
    """Micro-kernel shape (MR rows x NV vectors of L lanes) and cache blocks (elements)."""

    MR: int
    NV: int
    L: int
    MC: int
    KC: int
    NC: int
    fused: bool  # llvm.fma (hardware FMA) or llvm.fmuladd (multiply + add)

    @property
    def NR(self) -> int:
        return self.NV * self.L


def _check_dtype(dtype: str):
    if dtype not in _ELEM:
        raise ValueError(f"unsupported dtype {dtype!r}; expected float32 or float64")
    return _ELEM[dtype]


def _model(model):
    if model is None:
        from .cpu import current_model

        return current_model()
    return model


def micro_shape(dtype: str, model=None) -> tuple[int, int, int]:
    """(MR, NV, L) for ``model``: NV = 2 vectors of L = model.lanes(dtype) elements.

    MR*NV accumulators should be about twice the independent FMA chains the core
    needs (latency x ports) so loads and broadcasts hide too, within the register
    file: MR*NV accumulators + NV B vectors + 1 broadcast (+ NV product temporaries
    without FMA) <= registers."""
    _check_dtype(dtype)
    m = _model(model)
    spare = m.vector_registers - _NV - 1 - (0 if m.has_fma else _NV)
    mr = min(2 * m.fma_accumulators // _NV, spare // _NV)
    return max(1, mr), _NV, m.lanes(dtype)


def gemm_config(dtype: str, model=None) -> GemmConfig:
    """The micro-kernel shape and MC/KC/NC blocking for ``model`` (BLIS's analytical
    model; see the module docstring)."""
    _, size = _check_dtype(dtype)
    m = _model(model)
    MR, NV, L = micro_shape(dtype, m)
    NR = NV * L
    kc = (3 * m.l1d // 4) // ((MR + NR) * size)
    KC = max(64, min(512, kc - kc % 16))
    mc = (m.l2 // 2) // (KC * size)
    MC = max(MR, min(4096, mc - mc % MR))
    nc = (m.l3_per_core // 2) // (KC * size)
    NC = max(NR, min(8192, nc - nc % NR))
    return GemmConfig(MR, NV, L, MC, KC, NC, m.has_fma)


def _pack_elems(dtype: str, mc: int, kc: int, nc: int) -> int:
    _, size = _check_dtype(dtype)
    return mc * kc + kc * nc + (2 * _ALIGN + _SLACK) // size


def gemm_pack_buffer_elems(dtype: str, model=None) -> int:
    """Elements of T the caller must provide as pack_buffer (per thread)."""
    cfg = gemm_config(dtype, model)
    return _pack_elems(dtype, cfg.MC, cfg.KC, cfg.NC)


# --------------------------------------------------------------------------
# small IR-building helpers
# --------------------------------------------------------------------------

def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _as_val(v):
    return _c(v) if isinstance(v, int) else v


@contextmanager
def counted_loop(b: ir.IRBuilder, start, stop, step=1, name="i"):
    """``for (i = start; i < stop; i += step)`` (signed); yields i."""
    start, stop, step = _as_val(start), _as_val(stop), _as_val(step)
    pre = b.block
    cond = b.append_basic_block(name + ".cond")
    body = b.append_basic_block(name + ".body")
    end = b.append_basic_block(name + ".end")
    b.branch(cond)
    b.position_at_end(cond)
    i = b.phi(I64, name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body, end)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, step, name + ".next"), b.block)
    b.branch(cond)
    b.position_at_end(end)


def _smin(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _smax(b, x, y):
    return b.select(b.icmp_signed(">", x, y), x, y)


def _gep(b, T, p, idx, name=""):
    return b.gep(p, [_as_val(idx)], inbounds=True, source_etype=T, name=name)


def _declare(module, fname, ret, args):
    """Get or declare an external function (used for LLVM intrinsics only)."""
    if fname in module.globals:
        return module.globals[fname]
    return ir.Function(module, ir.FunctionType(ret, args), fname)


def _internal(module, fname, args, argnames):
    """An internal helper (packing, micro-kernels), always inlined: the GEMM's machine
    code makes no calls at all (a second micro-kernel must not tip LLVM into calls)."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), fname)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("alwaysinline")
    for a, n in zip(fn.args, argnames):
        a.name = n
    return fn


# --------------------------------------------------------------------------
# packing routines
# --------------------------------------------------------------------------

def _transpose(b, rows):
    """Transpose an L x L tile held in L vectors (log2(L) butterfly stages).

    Stage h swaps the off-diagonal h x h blocks of each 2h x 2h block: every
    output is one two-source shufflevector (vunpck*/vpermt2* on x86).
    """
    L = len(rows)
    h = L // 2
    while h:
        out = list(rows)
        for i in range(L):
            if i & h:
                continue
            j = i + h
            lo = [c if not c & h else L + c - h for c in range(L)]
            hi = [c + h if not c & h else L + c for c in range(L)]
            out[i] = b.shuffle_vector(rows[i], rows[j], ir.Constant(ir.VectorType(I32, L), lo))
            out[j] = b.shuffle_vector(rows[i], rows[j], ir.Constant(ir.VectorType(I32, L), hi))
        rows = out
        h //= 2
    return rows


def _emit_pack(module, fname, T, size, W, L):
    """Pack W-wide micro-panels: dst[(p/W)*W*kc + k*W + w] = src[(x0+p+w)*s_x + (k0+k)*s_k].

    Used for A (x = rows, W = MR) and for B (x = columns, W = NR).  Entries with
    p + w >= count are zero (edge padding).  Full panels take a fast path:
      s_x == 1: W contiguous elements per k -> one vector copy per k;
      s_k == 1: L x L in-register transposes; the L-wide stores may run up to
                L - 1 elements past a panel (overwritten by the next store, or
                landing in the slack that the buffer layout reserves);
      otherwise an unrolled scalar copy.
    """
    fn = _internal(module, fname, [PTR, I64, I64, I64, I64, I64, I64, PTR],
                   ["src", "s_x", "s_k", "x0", "count", "k0", "kc", "dst"])
    src, s_x, s_k, x0, count, k0, kc, dst = fn.args
    for p in (src, dst):
        p.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero = ir.Constant(T, 0.0)
    VT = ir.VectorType(T, L)
    groups = [(g, min(L, W - g)) for g in range(0, W, L)]  # (first row, rows)

    def copy_k(k, panel, first):
        """Scalar copy of one k (all W rows) of a full panel."""
        base = b.add(first, b.mul(b.add(k0, k), s_k))
        out = b.mul(k, _c(W))
        vals = [b.load(_gep(b, T, src, b.add(base, b.mul(s_x, _c(w)))), typ=T)
                for w in range(W)]
        for w, v in enumerate(vals):
            b.store(v, _gep(b, T, panel, b.add(out, _c(w))))

    with counted_loop(b, 0, count, W, "p") as p:
        left = b.sub(count, p, "left")
        panel = _gep(b, T, dst, b.mul(p, kc))
        first = b.mul(b.add(x0, p), s_x)  # offset of row p, column 0
        full = b.icmp_signed(">=", left, _c(W))
        with b.if_else(full) as (then, other):
            with then:
                contig = b.icmp_signed("==", s_x, _c(1))
                with b.if_else(contig) as (vcopy, rest):
                    with vcopy:
                        with counted_loop(b, 0, kc, 1, "kv") as k:
                            s = _gep(b, T, src, b.add(first, b.mul(b.add(k0, k), s_k)))
                            b.store(b.load(s, typ=ir.VectorType(T, W), align=size),
                                    _gep(b, T, panel, b.mul(k, _c(W))), align=size)
                    with rest:
                        trans = b.icmp_signed("==", s_k, _c(1))
                        kt = b.sub(kc, b.srem(kc, _c(L)))
                        kt = b.select(trans, kt, _c(0))  # k handled by transposes
                        with counted_loop(b, 0, kt, L, "kt") as k:
                            tiles = []
                            for g, n in groups:
                                rows = [b.load(_gep(b, T, src, b.add(
                                    b.add(first, b.mul(s_x, _c(g + t))), b.add(k0, k))),
                                    typ=VT, align=size) for t in range(n)]
                                rows += [ir.Constant(VT, ir.Undefined)] * (L - n)
                                tiles.append(_transpose(b, rows))
                            for u in range(L):  # ascending addresses: overlaps get rewritten
                                for gi, (g, _) in enumerate(groups):
                                    off = b.add(b.mul(b.add(k, _c(u)), _c(W)), _c(g))
                                    b.store(tiles[gi][u], _gep(b, T, panel, off), align=size)
                        with counted_loop(b, kt, kc, 1, "ks") as k:
                            copy_k(k, panel, first)
            with other:  # ragged last panel: masked scalar copy with zero fill
                with counted_loop(b, 0, kc, 1, "ke") as k:
                    base = b.add(first, b.mul(b.add(k0, k), s_k))
                    out = b.mul(k, _c(W))
                    with counted_loop(b, 0, W, 1, "w") as w:
                        inside = b.icmp_signed("<", w, left)
                        safe_w = b.select(inside, w, _c(0))
                        v = b.load(_gep(b, T, src, b.add(base, b.mul(s_x, safe_w))), typ=T)
                        b.store(b.select(inside, v, zero), _gep(b, T, panel, b.add(out, w)))
    b.ret_void()
    return fn


# --------------------------------------------------------------------------
# micro-kernel
# --------------------------------------------------------------------------

def _emit_ukernel(module, fname, T, size, MR, NV, L, unroll, fused=True, direct=False):
    """C[0:mr, 0:nr] (+)= Ap(MR x kc) @ Bp(kc x NR), accumulators in registers.

    ``fused``: llvm.fma (one instruction where the CPU has FMA); otherwise
    llvm.fmuladd, which LLVM lowers to a multiply and an add (never a libm call).
    ``direct``: B is read in place, NR contiguous elements per k at a stride of ``ldb``
    elements (a trailing argument), with unaligned loads, instead of from an aligned
    packed micro-panel."""
    NR = NV * L
    VT = ir.VectorType(T, L)
    op = "fma" if fused else "fmuladd"
    fma = _declare(module, f"llvm.{op}.v{L}{'f32' if size == 4 else 'f64'}", VT, [VT] * 3)
    fn = _internal(module, fname, [I64, PTR, PTR, PTR, I64, I64, I64, I64] + ([I64] if direct else []),
                   ["kc", "Ap", "Bp", "C", "ldc", "beta", "mr", "nr"] + (["ldb"] if direct else []))
    kc, Ap, Bp, C, ldc, beta, mr, nr = fn.args[:8]
    ldb, b_align = (fn.args[8], size) if direct else (_c(NR), _ALIGN)
    for p in (Ap, Bp, C):
        p.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    # Edge-tile scratch; a static alloca in the entry block so it stays a fixed
    # stack slot after inlining.  llvmlite types allocas, make the value opaque.
    tile = b.alloca(ir.ArrayType(T, MR * NR), name="tile")
    tile.align = _ALIGN
    tile.type = PTR
    vzero = ir.Constant(VT, [0.0] * L)
    undef = ir.Constant(VT, ir.Undefined)
    bcast_mask = ir.Constant(ir.VectorType(I32, L), [0] * L)

    def step(k, acc):
        """One rank-1 update: acc[r][v] += A[r, k] * B[k, v*L:(v+1)*L]."""
        bv = [b.load(_gep(b, T, Bp, b.add(b.mul(k, ldb), _c(v * L))), typ=VT,
                     align=b_align) for v in range(NV)]
        out = []
        for r in range(MR):
            a = b.load(_gep(b, T, Ap, b.add(b.mul(k, _c(MR)), _c(r))), typ=T)
            av = b.shuffle_vector(b.insert_element(undef, a, ir.Constant(I32, 0)),
                                  undef, bcast_mask)
            out.append([b.call(fma, [av, bv[v], acc[r][v]]) for v in range(NV)])
        return out

    def acc_loop(start, stop, stride, acc, tag):
        """Counted loop carrying the MR*NV accumulators as phis."""
        pre = b.block
        cond = b.append_basic_block(tag + ".cond")
        body = b.append_basic_block(tag + ".body")
        end = b.append_basic_block(tag + ".end")
        b.branch(cond)
        b.position_at_end(cond)
        k = b.phi(I64, tag + ".k")
        k.add_incoming(start, pre)
        phis = [[b.phi(VT) for _ in range(NV)] for _ in range(MR)]
        for r in range(MR):
            for v in range(NV):
                phis[r][v].add_incoming(acc[r][v], pre)
        b.cbranch(b.icmp_signed("<", k, stop), body, end)
        b.position_at_end(body)
        cur = phis
        for u in range(stride):
            cur = step(b.add(k, _c(u)), cur)
        latch = b.block
        k.add_incoming(b.add(k, _c(stride)), latch)
        for r in range(MR):
            for v in range(NV):
                phis[r][v].add_incoming(cur[r][v], latch)
        b.branch(cond)
        b.position_at_end(end)
        return k, phis

    # Prefetch (for write) the C tile now: it is needed only after the k loop,
    # which takes thousands of cycles, so its cache misses are fully hidden.
    prefetch = _declare(module, "llvm.prefetch.p0", ir.VoidType(), [PTR, I32, I32, I32])
    i32 = lambda v: ir.Constant(I32, v)  # noqa: E731
    for r in range(MR):  # rows >= mr are clamped; prefetches never fault
        row = b.gep(C, [b.mul(ldc, _smin(b, _c(r), b.sub(mr, _c(1))))], source_etype=T)
        for off in sorted({*range(0, NR * size, 64), NR * size - 1}):
            p = b.gep(row, [_c(off)], source_etype=ir.IntType(8))
            b.call(prefetch, [p, i32(1), i32(3), i32(1)])

    acc = [[vzero] * NV for _ in range(MR)]
    main_end = b.sub(kc, b.srem(kc, _c(unroll)))
    k, acc = acc_loop(_c(0), main_end, unroll, acc, "kmain")
    if unroll > 1:
        k, acc = acc_loop(k, kc, 1, acc, "krem")

    full = b.and_(b.icmp_signed("==", mr, _c(MR)), b.icmp_signed("==", nr, _c(NR)))
    accumulate = b.icmp_signed("!=", beta, _c(0))
    with b.if_else(full) as (then, other):
        with then:  # whole tile: vector read-modify-write of C
            with b.if_else(accumulate) as (add, store):
                for branch_, use_c in ((add, True), (store, False)):
                    with branch_:
                        for r in range(MR):
                            row = _gep(b, T, C, b.mul(ldc, _c(r)))
                            for v in range(NV):
                                p = _gep(b, T, row, v * L)
                                val = acc[r][v]
                                if use_c:
                                    val = b.fadd(b.load(p, typ=VT, align=size), val)
                                b.store(val, p, align=size)
        with other:  # edge tile: spill to a stack tile, copy mr x nr out
            for r in range(MR):
                for v in range(NV):
                    b.store(acc[r][v], _gep(b, T, tile, r * NR + v * L), align=_ALIGN)
            with counted_loop(b, 0, mr, 1, "er") as r:
                with counted_loop(b, 0, nr, 1, "ej") as j:
                    t = b.load(_gep(b, T, tile, b.add(b.mul(r, _c(NR)), j)), typ=T)
                    p = _gep(b, T, C, b.add(b.mul(r, ldc), j))
                    old = b.select(accumulate, b.load(p, typ=T), ir.Constant(T, 0.0))
                    b.store(b.fadd(old, t), p)
    b.ret_void()
    return fn


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------

def emit_gemm(module: ir.Module, name: str, dtype: str = "float32", model=None) -> ir.Function:
    """Define the GEMM function `name` in `module` (signature: module docstring),
    shaped and blocked for ``model`` (default: the current CPU model)."""
    return _emit_gemm_blocked(module, name, dtype, gemm_config(dtype, model))


def _k_step(b, K, KC, unroll):
    """K is split into equal blocks of at most KC (a multiple of the unroll): 784 runs as
    4 x 196 rather than 3 x 256 + 16, whose short last block wastes a pass over C."""
    nblk = _smax(b, b.sdiv(b.add(K, _c(KC - 1)), _c(KC)), _c(1))
    kstep = b.sdiv(b.add(K, b.sub(nblk, _c(1))), nblk)
    kstep = b.mul(b.sdiv(b.add(kstep, _c(unroll - 1)), _c(unroll)), _c(unroll))
    return _smax(b, _smin(b, kstep, _c(KC)), _c(1))


def _round_up(b, n, multiple):
    return b.mul(b.sdiv(b.add(n, _c(multiple - 1)), _c(multiple)), _c(multiple))


def packed_b_elems(dtype: str, K: int, N: int, model=None) -> int:
    """Elements of the buffer ``name + "_pack_b"`` fills: every KC x NC panel of a K x N
    operand B, each NR-wide micro-panel zero padded (the caller aligns it to 64 bytes)."""
    cfg = gemm_config(dtype, model)
    return max(1, K * (-(-N // cfg.NR) * cfg.NR))


def _emit_pack_b_all(module, name, T, pack_b, NCe, NR, KC, unroll):
    """void name(K, N, B, b_rs, b_cs, out): pack all of B, panel (jc, pc) at element
    jc * K + pc * round_up(nc, NR) of ``out``: the layout the ``b_packed`` GEMM reads,
    so a loop-invariant B (an RNN's weights) is packed once for every step of a loop."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, PTR, I64, I64, PTR]), name)
    fn.attributes.add("nounwind")
    K, N, B, b_rs, b_cs, out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    kstep = _k_step(b, K, KC, unroll)
    with counted_loop(b, 0, N, NCe, "jc") as jc:
        nc = _smin(b, b.sub(N, jc), _c(NCe))
        with counted_loop(b, 0, K, kstep, "pc") as pc:
            kc = _smin(b, b.sub(K, pc), kstep)
            dst = _gep(b, T, out, b.add(b.mul(jc, K), b.mul(pc, _round_up(b, nc, NR))))
            b.call(pack_b, [B, b_cs, b_rs, jc, nc, pc, kc, dst])
    b.ret_void()
    return fn


def emit_gemm_with_packed_b(module: ir.Module, name: str, dtype: str = "float32", model=None):
    """Define ``name`` (the GEMM), ``name + "_bpacked"`` (the same GEMM reading B from a
    buffer ``name + "_pack_b"`` filled: B's strides are then ignored) and that packer."""
    cfg = gemm_config(dtype, model)
    fn = _emit_gemm_blocked(module, name, dtype, cfg)
    _emit_gemm_blocked(module, name + "_bpacked", dtype, cfg, b_packed=True)
    return fn


def emit_gemm_variant(module: ir.Module, name: str, dtype: str = "float32", b_packed: bool = False, model=None):
    """One half of ``emit_gemm_with_packed_b``: the GEMM ``name`` alone, or (``b_packed``)
    the GEMM ``name`` reading a pre-packed B plus its packer ``name[:-8] + "_pack_b"``
    (``name`` ends in "_bpacked"), so the JIT compiles the packed pair only when used."""
    return _emit_gemm_blocked(module, name, dtype, gemm_config(dtype, model), b_packed=b_packed)


def _emit_gemm_blocked(module, name, dtype, cfg: GemmConfig, unroll=_UNROLL, b_packed=False):
    """emit_gemm with an explicit configuration (the tuning probe varies it)."""
    T, size = _check_dtype(dtype)
    MR, NV, L, MC, KC, NC = cfg.MR, cfg.NV, cfg.L, cfg.MC, cfg.KC, cfg.NC
    NR = NV * L
    MCe = max(MR, MC - MC % MR)  # multiples of the micro-tile, <= MC
    NCe = max(NR, NC - NC % NR)
    assert MCe <= MC and NCe <= NC, "MC/NC must be at least MR/NR"

    pack_a = _emit_pack(module, name + ".pack_a", T, size, MR, L)
    pack_b = _emit_pack(module, name + ".pack_b", T, size, NR, L)
    ukr = _emit_ukernel(module, name + ".ukernel", T, size, MR, NV, L, unroll, cfg.fused)
    ukr_direct = None if b_packed else _emit_ukernel(module, name + ".ukernel_direct", T, size, MR, NV, L, unroll,
                                                     cfg.fused, direct=True)
    if b_packed:
        _emit_pack_b_all(module, name[:-len("_bpacked")] + "_pack_b", T, pack_b, NCe, NR, KC, unroll)

    fnty = ir.FunctionType(ir.VoidType(), [I64, I64, I64, PTR, I64, I64, PTR, I64, I64,
                                           PTR, I64, I64, I64, I64, PTR])
    fn = ir.Function(module, fnty, name)
    fn.attributes.add("nounwind")
    (M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accum, m_begin, m_end,
     buf) = fn.args
    for a, n in zip(fn.args, ["M", "N", "K", "A", "a_rs", "a_cs", "B", "b_rs", "b_cs",
                              "C", "ldc", "accumulate", "m_begin", "m_end", "pack"]):
        a.name = n
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    # Align the scratch buffer to 64 bytes; A block first, then the B panel.
    addr = b.ptrtoint(buf, I64)
    addr = b.and_(b.add(addr, _c(_ALIGN - 1)), _c(-_ALIGN))
    Ap = b.inttoptr(addr, PTR, name="Ap")
    assert L * size <= _SLACK, "vector wider than the pack buffer slack"
    per_line = _ALIGN // size
    b_off = -(-(MCe * KC + _SLACK // size) // per_line) * per_line
    Bp = _gep(b, T, Ap, b_off, name="Bp")

    m0 = _smax(b, m_begin, _c(0))
    m1 = _smin(b, m_end, M)
    accum_flag = b.zext(b.icmp_signed("!=", accum, _c(0)), I64)

    kstep = _k_step(b, K, KC, unroll)
    # B read in place (no packing) when this call has few rows (at most DIRECT_B_TILES
    # row tiles): packing reads and writes every element of B once, which only pays when
    # many row tiles reuse the packed panel (an MLP or LSTM at batch 50 has 7). Each B
    # micro-panel is then read where it lies by the first row tile and from L1 by the
    # others. Only for unit-stride rows whose stride is not a multiple of 128 bytes, so
    # the kc row slices of a micro-panel spread over the L1 sets (a 4 KiB set span; a
    # stride of 1024 floats would put every row in the same set); partial micro-panels
    # (nr < NR) are still packed.
    direct = _c(0)
    if not b_packed:
        row_bytes = b.mul(b_rs, _c(size))
        few_rows = b.icmp_signed("<=", b.sub(m1, m0), _c(DIRECT_B_TILES * MR))
        direct = b.and_(b.and_(b.icmp_signed("==", b_cs, _c(1)), few_rows),
                        b.icmp_signed("!=", b.srem(row_bytes, _c(128)), _c(0)))
    with counted_loop(b, 0, N, NCe, "jc") as jc:
        nc = _smin(b, b.sub(N, jc), _c(NCe))
        # do { ... } while (pc < K): runs once for K == 0 so C gets zeroed.
        pre = b.block
        pc_body = b.append_basic_block("pc.body")
        pc_end = b.append_basic_block("pc.end")
        b.branch(pc_body)
        b.position_at_end(pc_body)
        pc = b.phi(I64, "pc")
        pc.add_incoming(_c(0), pre)
        kc = _smax(b, _smin(b, b.sub(K, pc), kstep), _c(0))
        beta = b.select(b.icmp_signed("==", pc, _c(0)), accum_flag, _c(1))
        if b_packed:  # B holds every panel, packed once by name + "_pack_b" (see there)
            Bp = _gep(b, T, B, b.add(b.mul(jc, K), b.mul(pc, _round_up(b, nc, NR))))
        else:
            with b.if_then(b.icmp_signed("==", direct, _c(0))):
                b.call(pack_b, [B, b_cs, b_rs, jc, nc, pc, kc, Bp])
        with counted_loop(b, m0, m1, MCe, "ic") as ic:
            mc = _smin(b, b.sub(m1, ic), _c(MCe))
            b.call(pack_a, [A, a_rs, a_cs, ic, mc, pc, kc, Ap])
            with counted_loop(b, 0, nc, NR, "jr") as jr:
                nr = _smin(b, b.sub(nc, jr), _c(NR))
                crow = _gep(b, T, C, b.add(b.mul(ic, ldc), b.add(jc, jr)))

                def tiles(kernel, bpanel, extra):
                    with counted_loop(b, 0, mc, MR, "ir") as ir_:
                        mr = _smin(b, b.sub(mc, ir_), _c(MR))
                        b.call(kernel, [kc, _gep(b, T, Ap, b.mul(ir_, kc)), bpanel,
                                        _gep(b, T, crow, b.mul(ir_, ldc)), ldc, beta, mr, nr] + extra)

                if b_packed:
                    tiles(ukr, _gep(b, T, Bp, b.mul(jr, kc)), [])
                else:
                    in_place = b.and_(b.icmp_signed("!=", direct, _c(0)), b.icmp_signed("==", nr, _c(NR)))
                    with b.if_else(in_place) as (read_b, packed):
                        with read_b:  # B[pc:pc+kc, jc+jr : jc+jr+NR] where it lies
                            tiles(ukr_direct, _gep(b, T, B, b.add(b.mul(pc, b_rs), b.add(jc, jr))), [b_rs])
                        with packed:
                            with b.if_then(b.icmp_signed("!=", direct, _c(0))):  # the partial panel alone
                                b.call(pack_b, [B, b_cs, b_rs, b.add(jc, jr), nr, pc, kc, _gep(b, T, Bp, b.mul(jr, kc))])
                            tiles(ukr, _gep(b, T, Bp, b.mul(jr, kc)), [])
        pc_next = b.add(pc, kstep)
        pc.add_incoming(pc_next, b.block)
        b.cbranch(b.icmp_signed("<", pc_next, K), pc_body, pc_end)
        b.position_at_end(pc_end)
    b.ret_void()
    return fn


# --------------------------------------------------------------------------
# JIT helper for tests and benchmarks
# --------------------------------------------------------------------------

def _target_machine_for(model):
    import llvmlite.binding as llvm
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=model.name, features=model.features, opt=3)


def compile_gemm_for_test(dtype: str = "float32", model=None, unroll: int = _UNROLL, **blocks):
    """JIT-compile a module holding only the gemm for ``model`` (default: the current
    CPU model; it must be one this host can execute); returns a ctypes callable.

    The callable has the C signature above (pointers as c_void_p) and carries
    `.pack_elems` (scratch size), `.config` and `.engine` (keeps the JIT code alive).
    `blocks` (MC, KC, NC, MR, NV) override the model's configuration.
    """
    import llvmlite.binding as llvm
    model = _model(model)
    tm = _target_machine_for(model)
    mod = ir.Module(name="gemm_test")
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    cfg = replace(gemm_config(dtype, model), **blocks)
    _emit_gemm_blocked(mod, "gemm", dtype, cfg, unroll)
    llmod = llvm.parse_assembly(str(mod))
    llmod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(llmod, pb)
    engine = llvm.create_mcjit_compiler(llmod, tm)
    engine.finalize_object()
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    cfn = ctypes.CFUNCTYPE(None, i64, i64, i64, vp, i64, i64, vp, i64, i64, vp, i64,
                           i64, i64, i64, vp)(engine.get_function_address("gemm"))
    cfn.engine, cfn.llmod, cfn.config = engine, llmod, cfg
    cfn.pack_elems = _pack_elems(dtype, cfg.MC, cfg.KC, cfg.NC)
    return cfn
