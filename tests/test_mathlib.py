"""Accuracy and vectorization tests for graphc.codegen.mathlib.

Each function is compiled into a loop ``out[i] = f(in[i])`` (optimized with the
new pass manager at O3 for a CPU model, so the loop vectorizer widens it) and
compared against a higher-precision reference: numpy float64 for float32
results, numpy longdouble (x87 80-bit on x86-64) for float64 results.  Errors
are measured in (fractional) ulps of the reference value.

The CPU models: the host, and (on x86) the ``x86-64`` baseline, which has neither
FMA nor SSE4.1 rounding, so mathlib takes its exact-without-FMA paths there; both
must meet the same error bounds and call no libm function.
"""

import ctypes
import functools
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import llvmlite.binding as llvm
import llvmlite.ir as ir

from graphc.codegen import mathlib
from graphc.codegen.cpu import current_model, model_for

llvm.initialize_all_targets()
llvm.initialize_all_asmprinters()

DTYPES = (np.float32, np.float64)
HOST = current_model()
MODELS = {"host": HOST}
if HOST.arch == "x86_64":
    MODELS["x86-64"] = model_for("x86-64")   # SSE2: no FMA, no roundps
MODEL_IDS = sorted(MODELS)

# longdouble is only a useful float64 reference where it has a 64-bit mantissa
_LD_OK = np.finfo(np.longdouble).nmant >= 63
_HP = {np.float32: np.float64, np.float64: np.longdouble if _LD_OK else np.float64}


def _sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def _erf_ref(x):
    # numpy has no erf; glibc's double erf (< 1 ulp) is the reference, so the
    # float64 bound below includes the reference's own error.
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


# Bounds asserted below; the measured maxima (see mathlib docstrings) are
# 0.75-0.84 ulp for exp/expm1/log/log1p (and float64 tanh/sigmoid; float32 exp, whose
# kernel is shorter, 0.89) and 0.97 for erf.  float32 tanh and sigmoid use the faster
# one-exp, one-division forms: measured 1.46 and 1.48 ulp (every float32 in their worst
# binades), bound 1.5 (FLOAT32_FAST below).
FUNCS = {
    # name: (emitter, reference on high-precision arrays, max allowed ulp)
    "exp": (mathlib.emit_exp, np.exp, 1.0),
    "expm1": (mathlib.emit_expm1, np.expm1, 1.0),
    "log": (mathlib.emit_log, np.log, 1.0),
    "log1p": (mathlib.emit_log1p, np.log1p, 1.0),
    "tanh": (mathlib.emit_tanh, np.tanh, 1.0),
    "sigmoid": (mathlib.emit_sigmoid, _sigmoid_ref, 1.0),
    "sqrt": (mathlib.emit_sqrt, np.sqrt, 0.5),
    "erf": (mathlib.emit_erf, _erf_ref, 1.5),
}
POW_TOL = 1.0
FLOAT32_FAST = {"tanh": 1.5, "sigmoid": 1.5}


def tol(name, dtype):
    """Allowed error; without an 80-bit longdouble the float64 reference is
    numpy's own float64 result, whose error (<~0.5 ulp) is added."""
    extra = 0.5 if dtype == np.float64 and not _LD_OK else 0.0
    if dtype == np.float32 and name in FLOAT32_FAST:
        return FLOAT32_FAST[name]
    return (POW_TOL if name == "pow" else FUNCS[name][2]) + extra


# ---------------------------------------------------------------------------
# compilation
# ---------------------------------------------------------------------------

def _new_target_machine(model="host"):
    m = MODELS[model]
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=m.name, features=m.features, opt=3, codemodel="jitdefault")


@functools.lru_cache(maxsize=None)
def _target_machine(model="host"):
    """Shared machine for optimizing and printing assembly.  A JIT engine
    owns (and frees) the machine it is given, so engines get a fresh one."""
    return _new_target_machine(model)


def _build_ir(emit, dtype, nargs, model="host"):
    """Module with ``void kernel(in0, [in1,] out, i64 n)``: out[i] = emit(in[i])."""
    m = MODELS[model]
    with mathlib.target_isa(fma=m.has_fma, vector_round=m.has_vector_round):
        return _build_ir_isa(emit, dtype, nargs)


def _build_ir_isa(emit, dtype, nargs):
    fty = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    mod = ir.Module(name=f"mathlib_{emit.__name__}")
    mod.triple = llvm.get_process_triple()
    ptr = ir.PointerType()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr] * (nargs + 1) + [ir.IntType(64)]),
                     name="kernel")
    for a in fn.args[:-1]:
        a.add_attribute("noalias")
    *ins, out, n = fn.args
    entry, body, done = fn.append_basic_block("entry"), fn.append_basic_block("body"), \
        fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(n.type, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(n.type)
    i.add_incoming(ir.Constant(n.type, 0), entry)
    vals = [b.load(b.gep(p, [i], source_etype=fty), typ=fty) for p in ins]
    b.store(emit(b, *vals), b.gep(out, [i], source_etype=fty))
    nxt = b.add(i, ir.Constant(n.type, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    return mod


def _optimize(mod_ir, model="host"):
    tm = _target_machine(model)
    mod = llvm.parse_assembly(str(mod_ir))
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


@functools.lru_cache(maxsize=None)
def compiled(emit, dtype, nargs=1, model="host"):
    """Return a numpy-level function computing emit() elementwise."""
    mod = _optimize(_build_ir(emit, dtype, nargs, model), model)
    engine = llvm.create_mcjit_compiler(mod, _new_target_machine(model))
    engine.finalize_object()
    cfunc = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (nargs + 1)), ctypes.c_int64)(
        engine.get_function_address("kernel"))

    def run(*xs):
        xs = [np.ascontiguousarray(x, dtype=dtype) for x in xs]
        out = np.empty_like(xs[0])
        cfunc(*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
        return out

    run.engine, run.module = engine, mod      # keep the JIT alive
    return run


# ---------------------------------------------------------------------------
# error measurement
# ---------------------------------------------------------------------------

def ulp_error(got, ref, dtype):
    """|got - ref| in ulps of ``ref`` (a higher-precision array) for ``dtype``.

    inf is treated as 2^(emax+1) so an almost-overflowing result that lands
    on inf (or max-finite instead of inf) costs about 1 ulp, not infinity.
    NaN must match NaN and a zero result must have the right sign.
    """
    info = np.finfo(dtype)
    ref = np.asarray(ref)
    hp = ref.dtype.type
    g = got.astype(hp)
    big = np.ldexp(hp(1), info.maxexp)
    gc, rc = np.clip(g, -big, big), np.clip(ref, -big, big)
    _, ex = np.frexp(rc)
    ulp = np.ldexp(hp(1), np.maximum(ex - info.nmant - 1, info.minexp - info.nmant))
    ulp = np.where(rc == 0, hp(info.smallest_subnormal), ulp)
    with np.errstate(invalid="ignore"):
        err = np.abs(gc - rc) / ulp
    gn, rn = np.isnan(g), np.isnan(ref)
    err = np.where(gn | rn, np.where(gn & rn, 0.0, np.inf), err)
    zero = (ref == 0) & (g == 0)
    err = np.where(zero & (np.signbit(g) != np.signbit(ref)), np.inf, err)
    return err.astype(np.float64)


def reference(ref, dtype, *xs):
    hp = _HP[dtype]
    with np.errstate(all="ignore"):
        return ref(*[np.asarray(x, dtype=dtype).astype(hp) for x in xs])


def max_err(name, dtype, x, model="host"):
    emit, ref, _ = FUNCS[name]
    x = np.asarray(x, dtype=dtype)
    err = ulp_error(compiled(emit, dtype, 1, model)(x), reference(ref, dtype, x), dtype)
    i = int(np.argmax(err))
    return err[i], x[i]


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def random_bits(dtype, n, seed=0):
    """Uniformly random bit patterns: every binade, subnormals, inf, nan."""
    rng = np.random.default_rng(seed)
    it = np.uint32 if dtype == np.float32 else np.uint64
    return rng.integers(0, np.iinfo(it).max, size=n, dtype=it, endpoint=True).view(dtype)


def specials(dtype):
    info = np.finfo(dtype)
    v = [0.0, 1.0, 2.0, 0.5, 10.0, np.inf, np.nan, info.max, info.tiny,
         info.smallest_subnormal, 3 * info.smallest_subnormal, info.eps, 1 + info.eps,
         1 - info.epsneg, 88.72283, 88.7228, 89.0, 103.97, 104.0, 709.78, 709.79, 745.13,
         745.2, 710.0, 1e-10, 1e-30, 20.0, 9.0, 0.55, 0.5493]
    with np.errstate(over="ignore"):
        v = np.array(v, dtype=dtype)
        return np.concatenate([v, -v, np.nextafter(v, dtype(np.inf)),
                               np.nextafter(v, dtype(-np.inf))])


def logspace(dtype, lo, hi, n):
    """n positive values log-spaced over [10^lo, 10^hi], both signs."""
    with np.errstate(over="ignore"):
        v = np.logspace(lo, hi, n // 2).astype(dtype)
    return np.concatenate([v, -v])


def sweep(name, dtype):
    """Dense inputs for one function: linear over the interesting range,
    log-spaced magnitudes, random bit patterns and special values."""
    f64 = dtype == np.float64
    info = np.finfo(dtype)
    tiny = np.log10(info.smallest_subnormal)
    big = np.log10(info.max)
    lin = {
        "exp": (-750, 712) if f64 else (-105, 90),
        "expm1": (-50, 712) if f64 else (-20, 90),
        "log": (0, 20),
        "log1p": (-1, 20),
        "tanh": (-22, 22) if f64 else (-11, 11),
        "sigmoid": (-750, 750) if f64 else (-110, 110),
        "sqrt": (0, 100),
        "erf": (-7, 7),
    }[name]
    n = 100_000 if name == "erf" else 600_000      # the erf reference is slow
    parts = [np.linspace(*lin, n).astype(dtype), logspace(dtype, tiny, big, 2 * n // 3),
             random_bits(dtype, n // 3), specials(dtype)]
    if name in ("log", "log1p"):
        parts.append(1 + logspace(dtype, np.log10(info.eps) - 1, 0, 200_000))
        parts.append(logspace(dtype, -6, 0, 200_000) - 1)
    if name in ("tanh", "sigmoid", "expm1"):
        parts.append(np.linspace(-2, 2, 200_000).astype(dtype))
    return np.concatenate(parts)


# ---------------------------------------------------------------------------
# tests: unary functions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_dense_sweep(name, dtype, model):
    x = sweep(name, dtype)
    if model != "host":  # the no-FMA paths: a third of the points keeps the suite quick
        x = x[::3]
    err, at = max_err(name, dtype, x, model)
    assert err <= tol(name, dtype), f"{name}[{dtype.__name__}, {model}]: {err:.3f} ulp at {at!r}"


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_special_values_exact(name, dtype, model):
    """inf/nan/zero/limits match numpy bit-for-bit in class (nan, +-inf, +-0)."""
    x = specials(dtype)
    emit, ref, _ = FUNCS[name]
    got = compiled(emit, dtype, 1, model)(x)
    with np.errstate(over="ignore"):
        want = reference(ref, dtype, x).astype(dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)), x[np.isnan(got) != np.isnan(want)]
    inf_mismatch = np.isinf(got) != np.isinf(want)
    assert not inf_mismatch.any(), x[inf_mismatch]
    z = want == 0
    assert np.array_equal(got[z], want[z])
    assert np.array_equal(np.signbit(got[z]), np.signbit(want[z]))


def test_known_values():
    f32, f64 = np.float32, np.float64
    exp32 = compiled(mathlib.emit_exp, f32)
    got = exp32(np.array([0, -np.inf, np.inf, 100, -104], f32))
    assert got.tolist() == [1, 0, np.inf, np.inf, 0]
    log64 = compiled(mathlib.emit_log, f64)
    got = log64(np.array([1.0, 0.0, -0.0, np.inf, -1.0, -np.inf, np.nan]))
    assert got[:4].tolist() == [0, -np.inf, -np.inf, np.inf] and np.isnan(got[4:]).all()
    # subnormal results and inputs are correctly rounded here
    assert exp32(np.array([-100.0], f32))[0] == f32(np.exp(-100.0))
    tiny = np.array([1e-45], f32)
    assert compiled(mathlib.emit_log, f32)(tiny)[0] == f32(np.log(tiny[0].astype(f64)))
    sig32 = compiled(mathlib.emit_sigmoid, f32)
    assert sig32(np.array([-100.0], f32))[0] == f32(np.exp(-100.0))
    got = compiled(mathlib.emit_sigmoid, f64)(np.array([800.0, -800.0, 0.0, np.nan]))
    assert got[:3].tolist() == [1.0, 0.0, 0.5] and np.isnan(got[3])
    got = compiled(mathlib.emit_tanh, f32)(np.array([np.inf, -np.inf, 30], f32))
    assert got.tolist() == [1, -1, 1]
    got = compiled(mathlib.emit_expm1, f64)(np.array([-np.inf, 1e-300]))
    assert got.tolist() == [-1, 1e-300]
    got = compiled(mathlib.emit_log1p, f32)(np.array([-1, 1e-40], f32))
    assert got.tolist() == [-np.inf, f32(1e-40)]


_ANY32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
_ANY64 = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
# example counts come from the hypothesis profile loaded in conftest.py
_HYP = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", sorted(FUNCS))
@_HYP
@given(data=st.data())
def test_hypothesis(name, dtype, data):
    elems = _ANY32 if dtype == np.float32 else _ANY64
    x = data.draw(hnp.arrays(dtype, st.integers(1, 64), elements=elems))
    err, at = max_err(name, dtype, x)
    assert err <= tol(name, dtype), f"{name}[{dtype.__name__}]: {err:.3f} ulp at {at!r}"


# ---------------------------------------------------------------------------
# tests: pow
# ---------------------------------------------------------------------------

def pow_err(dtype, x, y, model="host"):
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    got = compiled(mathlib.emit_pow, dtype, 2, model)(x, y)
    return ulp_error(got, reference(np.power, dtype, x, y), dtype)


def pow_inputs(dtype, n=300_000, seed=1):
    rng = np.random.default_rng(seed)
    big = 745 if dtype == np.float64 else 104
    xs, ys = [], []
    # moderate bases and exponents
    xs.append(rng.uniform(0, 10, n)); ys.append(rng.uniform(-40, 40, n))
    # log-uniform base, exponent scaled so results span the whole range
    lx = rng.uniform(-300 if dtype == np.float64 else -40, 300 if dtype == np.float64 else 38, n)
    x = 10.0 ** lx
    xs.append(x); ys.append(rng.uniform(-1.05, 1.05, n) * big / np.maximum(np.abs(np.log(x)), 1e-3))
    # bases near 1 with huge exponents
    x = 1 + rng.uniform(-1e-3, 1e-3, n)
    xs.append(x); ys.append(rng.uniform(-1.05, 1.05, n) * big / np.abs(np.log(x)))
    # negative bases with integer exponents
    xs.append(-rng.uniform(0, 4, n)); ys.append(rng.integers(-60, 60, n).astype(float))
    # random bits
    xs.append(random_bits(dtype, n, 2)); ys.append(random_bits(dtype, n, 3))
    with np.errstate(all="ignore"):
        return np.concatenate(xs).astype(dtype), np.concatenate(ys).astype(dtype)


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_pow_sweep(dtype, model):
    x, y = pow_inputs(dtype)
    err = pow_err(dtype, x, y, model)
    i = int(np.argmax(err))
    assert err[i] <= tol("pow", dtype), \
        f"pow[{dtype.__name__}] {err[i]:.3f} ulp at {x[i]!r}, {y[i]!r}"


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_pow_special_cases(dtype, model):
    """All pairs of special bases/exponents follow numpy (C99 Annex F)."""
    with np.errstate(over="ignore"):
        v = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5,
                      np.inf, -np.inf, np.nan, 1e300, -1e300, 1e-300, 2.0**60,
                      -(2.0**60) - 2**8], dtype=dtype)
    x, y = (a.ravel() for a in np.meshgrid(v, v))
    got = compiled(mathlib.emit_pow, dtype, 2, model)(x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    ok = same | (pow_err(dtype, x, y, model) <= tol("pow", dtype))
    assert ok.all(), list(zip(x[~ok], y[~ok], got[~ok], want[~ok]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@_HYP
@given(data=st.data())
def test_pow_hypothesis(dtype, data):
    elems = _ANY32 if dtype == np.float32 else _ANY64
    n = data.draw(st.integers(1, 32))
    x = data.draw(hnp.arrays(dtype, n, elements=elems))
    y = data.draw(hnp.arrays(dtype, n, elements=elems | st.integers(-20, 20).map(float)))
    err = pow_err(dtype, x, y)
    assert err.max() <= tol("pow", dtype), list(zip(x, y, err))


# ---------------------------------------------------------------------------
# tests: vectorization / no libm
# ---------------------------------------------------------------------------

_CALL = re.compile(r"^\s*(call|jmp)\w*\s+[*A-Za-z_]", re.M)


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("emit", [mathlib.emit_exp, mathlib.emit_log, mathlib.emit_tanh,
                                  mathlib.emit_sigmoid, mathlib.emit_expm1,
                                  mathlib.emit_log1p, mathlib.emit_sqrt, mathlib.emit_erf],
                         ids=lambda f: f.__name__)
def test_float32_loop_vectorizes_without_libm(emit, model):
    """The loop is vectorized at the CPU model's vector width (which its feature
    string makes LLVM use) and its machine code calls nothing, with or without FMA."""
    m = MODELS[model]
    mod = _optimize(_build_ir(emit, np.float32, 1, model), model)
    text = str(mod)
    width = f"<{m.lanes('float32')} x float>"
    assert width in text, f"loop was not vectorized at {width}"
    callees = set(re.findall(r"\bcall\b[^@]*@([\w.$]+)", text))
    assert all(c.startswith("llvm.") for c in callees), callees
    assert all(f.name.startswith("llvm.") for f in mod.functions if f.is_declaration)
    asm = _target_machine(model).emit_assembly(mod)
    assert not _CALL.search(asm), "libm call in asm"


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("emit", [mathlib.emit_exp, mathlib.emit_tanh], ids=lambda f: f.__name__)
def test_float32_exp_and_tanh_stay_in_float32(emit, model):
    """float32 exp and tanh (elementwise chains, softmax, RNN gates) are pure float32 on
    every model: no FMA emulated through float64 products where the CPU has no FMA."""
    text = str(_optimize(_build_ir(emit, np.float32, 1, model), model))
    assert "double" not in text, f"{emit.__name__} computes in float64 on {model}"


@pytest.mark.parametrize("model", MODEL_IDS)
def test_float64_pow_and_rounding_call_nothing(model):
    """pow (double-double kernels, floor for integer exponents) calls no libm
    function on any model either."""
    mod = _optimize(_build_ir(mathlib.emit_pow, np.float64, 2, model), model)
    asm = _target_machine(model).emit_assembly(mod)
    assert not _CALL.search(asm), "libm call in asm"


def test_pow_vectorizes_without_libm():
    mod = _optimize(_build_ir(mathlib.emit_pow, np.float64, 2))
    text = str(mod)
    assert re.search(r"<\d+ x double>", text)
    assert all(f.name.startswith("llvm.") for f in mod.functions if f.is_declaration)


_VECTOR_EMITTERS = {
    "exp": mathlib.emit_exp, "expm1": mathlib.emit_expm1, "log": mathlib.emit_log,
    "log1p": mathlib.emit_log1p, "tanh": mathlib.emit_tanh, "sigmoid": mathlib.emit_sigmoid,
    "sqrt": mathlib.emit_sqrt, "erf": mathlib.emit_erf, "pow": mathlib.emit_pow,
}


def _explicit_vector_functions(mod, vty):
    """One function per emitter: out[0:lanes] = f(x[0:lanes] (, y[0:lanes]))."""
    for name, emit in _VECTOR_EMITTERS.items():
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ir.PointerType()] * 3), name=name)
        b = ir.IRBuilder(fn.append_basic_block())
        x, y, out = (b.load(p, typ=vty, align=1) if k < 2 else p
                     for k, p in enumerate(fn.args))
        r = emit(b, x, y) if name == "pow" else emit(b, x)
        assert r.type == vty
        b.store(r, out, align=1)
        b.ret_void()


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_explicit_vector_operands(dtype, model):
    """<8 x T> operands (explicit vector codegen) give bit-identical results
    to the scalar loop, without the loop vectorizer (O0 JIT)."""
    lanes = 8
    fty = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    vty = ir.VectorType(fty, lanes)
    mod = ir.Module(name="explicit_vectors")
    mod.triple = llvm.get_process_triple()
    cpu = MODELS[model]
    with mathlib.target_isa(fma=cpu.has_fma, vector_round=cpu.has_vector_round):
        _explicit_vector_functions(mod, vty)
    m = llvm.parse_assembly(str(mod))
    m.verify()
    engine = llvm.create_mcjit_compiler(m, _new_target_machine(model))
    engine.finalize_object()
    rng = np.random.default_rng(4)
    xs = np.concatenate([specials(dtype), rng.standard_normal(200).astype(dtype) * 5,
                         random_bits(dtype, 200, 5)])
    xs = np.resize(xs, (-(-xs.size // lanes)) * lanes)
    ys = np.roll(xs, 3)
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    for name, emit in _VECTOR_EMITTERS.items():
        f = proto(engine.get_function_address(name))
        got = np.empty_like(xs)
        for i in range(0, xs.size, lanes):
            f(xs[i:].ctypes.data, ys[i:].ctypes.data, got[i:].ctypes.data)
        want = compiled(emit, dtype, 2, model)(xs, ys) if name == "pow" else compiled(emit, dtype, 1, model)(xs)
        same = (got.view(f"u{got.itemsize}") == want.view(f"u{got.itemsize}"))
        assert (same | (np.isnan(got) & np.isnan(want))).all(), name


def nvptx_assembly(build) -> list:
    """PTX (sm_80) of ``f(x, y) = build(builder, x, y)`` in float32 and float64, one text
    per type; skips where llvmlite has no NVPTX backend."""
    try:
        target = llvm.Target.from_triple("nvptx64-nvidia-cuda")
    except RuntimeError:
        pytest.skip("llvmlite built without the NVPTX backend")
    tm = target.create_target_machine(cpu="sm_80", opt=3)
    texts = []
    for fty in (ir.FloatType(), ir.DoubleType()):
        mod = ir.Module()
        mod.triple = "nvptx64-nvidia-cuda"
        fn = ir.Function(mod, ir.FunctionType(fty, [fty, fty]), name="f")
        b = ir.IRBuilder(fn.append_basic_block())
        b.ret(build(b, *fn.args))
        m = llvm.parse_assembly(str(mod))
        m.data_layout = str(tm.target_data)
        texts.append(tm.emit_assembly(m))
    return texts


def test_nvptx_codegen_has_no_calls():
    """The same IR lowers to PTX with no external (libdevice/libm) calls."""
    def build(b, x, y):
        r = mathlib.emit_pow(b, x, y)
        for emit in (mathlib.emit_exp, mathlib.emit_log, mathlib.emit_tanh, mathlib.emit_sigmoid,
                     mathlib.emit_expm1, mathlib.emit_log1p, mathlib.emit_sqrt, mathlib.emit_erf):
            r = b.fadd(r, emit(b, x))
        return r

    for ptx in nvptx_assembly(build):
        assert "call" not in ptx and ".extern" not in ptx
        assert "fma.rn" in ptx
