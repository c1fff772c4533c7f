"""host_call: a step of a compiled program that runs a registered Python function.

``host_call(x, fid)`` passes the buffer holding ``x`` and a fresh output buffer to the
Python function registered under ``fid`` (graphc._runtime.host_calls) and yields that
output. It is how graphc.distributed reduces gradients across processes in the middle
of a training step: the step before it (forward, backward, packing the gradients) and
the step after it (unpacking, the optimizer update) stay one fused native program.

The op is opaque to every pass (never folded, merged or fused: ``pure=False``), has no
gradient, and runs on the CPU only (its whole-step lowering calls the trampoline from
the program's entry function; the placer keeps it off GPUs). A program holding it
cannot be exported (the trampoline lives in this Python process): gc.export refuses
ops whose kernel is ``host_only``.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from .._runtime import host_calls
from ..errors import CompileError, DTypeError, ShapeError
from ..ir import TensorType
from ..tracing import bind, static_type
from .registry import defop


def _input_type(types):
    """One input as it is; several: packed flat in order (one dtype)."""
    if len(types) == 1:
        return types[0]
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise DTypeError(f"host_call packs its inputs into one buffer, so they need one dtype, got {sorted(dtypes)}")
    return TensorType((sum(t.size for t in types),), types[0].dtype)


def _infer(types, attrs):
    t = _input_type(types)
    shape, dtype = attrs.get("out_shape"), attrs.get("out_dtype")
    return TensorType(t.shape if shape is None else tuple(shape), t.dtype if dtype is None else dtype)


def _impl(attrs, *xs):
    x = xs[0] if len(xs) == 1 else np.concatenate([np.ravel(a) for a in xs])
    return host_calls.call_eager(attrs["fid"], x)


class _HostCallKernel:
    """Whole-step lowering: ``if (rc = graphc_host_call(fid, in, out)) return rc;``; with
    several inputs, ``in`` is a scratch buffer they are first copied into (memcpy per
    input: packing at copy speed, where a fused concatenate kernel would select among
    all inputs for every element)."""

    host_only = True  # gc.export refuses it (export.py): the trampoline lives in this process

    def plan(self, node, lowering):
        if len(node.inputs) == 1:
            return {}
        return {"scratch_bytes": _input_type([i.type for i in node.inputs]).size * np.dtype(node.type.dtype).itemsize}

    def emit(self, target, module, b, step, pointer):
        if getattr(target, "name", None) != "cpu":
            raise CompileError(f"host_call runs on the CPU only (target {getattr(target, 'name', target)!r})")
        if getattr(target, "_prefix", ""):
            raise CompileError("host_call inside a scan/cond/while_loop body is not supported; "
                               "call it in the step itself")
        i8p = ir.IntType(8).as_pointer()
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fn = module.globals.get(host_calls.SYMBOL)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(i32, [i64, i8p, i8p]), name=host_calls.SYMBOL)
        host_calls._install()  # the JIT resolves the symbol by name
        if len(step.inputs) == 1:
            packed = b.bitcast(pointer(step.inputs[0]), i8p)
        else:
            packed = b.bitcast(pointer(step.scratch), i8p)
            memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
            offset = 0
            for node, buf in zip(step.node.inputs, step.inputs):
                nbytes = node.type.size * np.dtype(node.type.dtype).itemsize
                b.call(memcpy, [b.gep(packed, [ir.Constant(i64, offset)]), b.bitcast(pointer(buf), i8p),
                                ir.Constant(i64, nbytes), ir.Constant(ir.IntType(1), 0)])
                offset += nbytes
        rc = b.call(fn, [ir.Constant(i64, step.node.attrs["fid"]), packed, b.bitcast(pointer(step.dest), i8p)])
        with b.if_then(b.icmp_signed("!=", rc, ir.Constant(i32, 0)), likely=False):
            b.ret(rc)


defop("host_call", "opaque", _infer, _impl, pure=False, kernel=_HostCallKernel())


def host_call(x, fid: int, out_shape=None, out_dtype=None):
    """The output of the host function ``fid`` (``host_calls.register``) applied to ``x``
    (a list of tensors of one dtype: their values packed flat, in order); the output's
    shape and dtype are the registered ones unless given."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    registered = host_calls.lookup(int(fid))  # its output spec is the default
    packed = _input_type([static_type(a) for a in xs])
    if packed.size != int(np.prod(registered.in_shape, dtype=np.int64)) or np.dtype(packed.dtype) != registered.in_dtype:
        raise ShapeError(f"host_call: host function '{registered.key}' takes {registered.in_dtype.name}"
                         f"{list(registered.in_shape)}, given {packed.dtype} values of {packed.size} elements")
    out_shape = registered.out_shape if out_shape is None else out_shape
    out_dtype = registered.out_dtype.name if out_dtype is None else out_dtype
    attrs = {"fid": int(fid)}
    if out_shape is not None:
        attrs["out_shape"] = tuple(int(d) for d in out_shape)
    if out_dtype is not None:
        attrs["out_dtype"] = str(out_dtype)
    return bind("host_call", xs, **attrs)
