"""host_call: a step of a compiled program that runs a registered Python function.

``host_call(x, fid)`` passes the buffer holding ``x`` and a fresh output buffer to the
Python function registered under ``fid`` (graphc._runtime.host_calls) and yields that
output. It is how graphc.distributed reduces gradients across processes in the middle
of a training step: the step before it (forward, backward, packing the gradients) and
the step after it (unpacking, the optimizer update) stay one fused native program.

The op is opaque to every pass (never folded, merged or fused: ``pure=False``), has no
gradient, and runs on the CPU only (its whole-step lowering calls the trampoline from
the program's entry function; the placer keeps it off GPUs). A program holding it
cannot be exported (the trampoline lives in this Python process), which the lowering
says when asked for a whole module (gc.export) instead of the JIT's split units.
"""
from __future__ import annotations

from llvmlite import ir

from .._runtime import host_calls
from ..errors import CompileError
from ..ir import TensorType
from ..tracing import bind
from .registry import defop


def _infer(types, attrs):
    (t,) = types
    shape, dtype = attrs.get("out_shape"), attrs.get("out_dtype")
    return TensorType(t.shape if shape is None else tuple(shape), t.dtype if dtype is None else dtype)


def _impl(attrs, x):
    return host_calls.call_eager(attrs["fid"], x)


class _HostCallKernel:
    """Whole-step lowering: ``if (rc = graphc_host_call(fid, in, out)) return rc;``."""

    def plan(self, node, lowering):
        return {}

    def emit(self, target, module, b, step, pointer):
        if getattr(target, "name", None) != "cpu":
            raise CompileError(f"host_call runs on the CPU only (target {getattr(target, 'name', target)!r})")
        if getattr(target, "_prefix", ""):
            raise CompileError("host_call inside a scan/cond/while_loop body is not supported; "
                               "call it in the step itself")
        if not getattr(target, "split", True):
            raise CompileError("a program with a host_call (e.g. a graphc.distributed gradient reduction) "
                               "calls back into this Python process, so it cannot be exported or emitted as "
                               "one standalone module; export the single-process step instead")
        i8p = ir.IntType(8).as_pointer()
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fn = module.globals.get(host_calls.SYMBOL)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(i32, [i64, i8p, i8p]), name=host_calls.SYMBOL)
        host_calls._install()  # the JIT resolves the symbol by name
        rc = b.call(fn, [ir.Constant(i64, step.node.attrs["fid"]), b.bitcast(pointer(step.inputs[0]), i8p),
                         b.bitcast(pointer(step.dest), i8p)])
        with b.if_then(b.icmp_signed("!=", rc, ir.Constant(i32, 0)), likely=False):
            b.ret(rc)


defop("host_call", "opaque", _infer, _impl, pure=False, kernel=_HostCallKernel())


def host_call(x, fid: int, out_shape=None, out_dtype=None):
    """The output of the host function ``fid`` (``host_calls.register``) applied to ``x``."""
    attrs = {"fid": int(fid)}
    if out_shape is not None:
        attrs["out_shape"] = tuple(int(d) for d in out_shape)
    if out_dtype is not None:
        attrs["out_dtype"] = str(out_dtype)
    return bind("host_call", [x], **attrs)
