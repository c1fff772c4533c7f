"""Symbolic dimensions of compiled functions' arguments (issue 13).

``gc.compile(fn, dynamic="batch")``: the leading dimension of every array argument is
the one symbol ``batch``. ``gc.compile(fn, shapes={"x": ("n", 784), "y": ("n",)})``:
the named arguments get these shapes, where a str is a symbol (equal names are equal
sizes) and an int a fixed size. The function is traced once with those symbols in its
IR types and compiled once; every call binds the symbols from its arrays (checked
before native code runs, see graphc._runtime.symbolic_executable).
"""
from __future__ import annotations

import inspect

from .errors import GraphcError

BATCH = "batch"


# -- products of symbols ---------------------------------------------------------------------------
# Reshaping (batch, 8, 8, 9) into (-1, 9) gives a dimension 64 * batch. Such a *derived*
# symbol is named by its canonical product ("64*batch": the int factor first, then the
# symbol names sorted, joined by '*'), so equal products are equal names and any code can
# evaluate it from the values of the symbols bound at a call. A compiled program's sizes
# table holds the derived symbols it uses after the bound ones (their values computed
# by ``complete_binding``), so kernels read them like any other symbol.


def factors(d) -> tuple:
    """(int factor, sorted symbol names) of a dimension: 8 -> (8, ()), "64*batch" -> (64, ("batch",))."""
    if not isinstance(d, str):
        return int(d), ()
    k, syms = 1, []
    for part in str(d).split("*"):
        if part.isdigit():
            k *= int(part)
        else:
            syms.append(part)
    return k, tuple(sorted(syms))


def from_factors(k: int, syms) -> "int | str":
    """The dimension k * prod(syms): an int when there is no symbol (or k is 0), else the
    canonical name (a Sym)."""
    from .ir.types import Sym

    if k == 0 or not syms:
        return int(k) if not syms else 0
    return Sym("*".join(([str(k)] if k != 1 else []) + sorted(str(s) for s in syms)))


def dim_mul(*dims) -> "int | str":
    """The product of dimensions (ints and symbols) as one dimension."""
    k, syms = 1, []
    for d in dims:
        dk, ds = factors(d)
        k *= dk
        syms += ds
    return from_factors(k, syms)


def is_derived(d) -> bool:
    return isinstance(d, str) and "*" in d


def evaluate(d, binding: dict) -> int:
    """The value of a dimension for a binding of the (base) symbols."""
    if not isinstance(d, str):
        return int(d)
    v = binding.get(d)
    if v is not None:
        return v
    k, syms = factors(d)
    for s in syms:
        k *= binding[s]
    return int(k)


def complete_binding(binding: dict, symbols) -> dict:
    """``binding`` with a value for each derived symbol of ``symbols`` (in place)."""
    for s in symbols:
        if binding.get(s) is None:
            binding[s] = evaluate(s, binding)
    return binding


class SymbolicSpec:
    """Which argument dimensions are symbols, for one compiled function."""

    def __init__(self, fn, dynamic=None, shapes=None, dynamic_args=None):
        if dynamic not in (None, "batch"):
            raise ValueError(f'gc.compile: dynamic must be None or "batch", got {dynamic!r}')
        if dynamic is not None and shapes is not None:
            raise ValueError("gc.compile: give dynamic= or shapes=, not both")
        self.dynamic = dynamic
        # dynamic="batch" for these top-level (positional) arguments only; None: all
        self.dynamic_args = None if dynamic_args is None else frozenset(dynamic_args)
        self.shapes = {}
        if shapes is not None:
            try:
                params = list(inspect.signature(fn).parameters)
            except (TypeError, ValueError):
                params = []
            for name, shape in shapes.items():
                if isinstance(name, int):  # a position (e.g. for *args functions)
                    self.shapes[name] = (f"argument {name}", tuple(shape))
                    continue
                if name not in params:
                    raise ValueError(f"gc.compile: shapes names {name!r}, which is not an argument of "
                                     f"{getattr(fn, '__name__', 'the function')} ({', '.join(params)})")
                shape = tuple(shape)
                for d in shape:
                    if not (isinstance(d, str) and d.isidentifier()) and not (isinstance(d, int) and d >= 0):
                        raise ValueError(f"gc.compile: shapes[{name!r}] = {shape}: each dimension must be a "
                                         f"symbol name (str) or a size (int >= 0)")
                self.shapes[params.index(name)] = (name, shape)

    def leaf_shapes(self, args, leaves, shape_of) -> list:
        """The (possibly symbolic) shape of each leaf, or None for non-arrays.

        ``shape_of(leaf)`` is the concrete shape (None for a Python scalar)."""
        out = []
        if self.dynamic == "batch":
            from .pytree import flatten

            selected = []
            for pos, a in enumerate(args):
                n = len(flatten(a)[0])
                selected += [self.dynamic_args is None or pos in self.dynamic_args] * n
            for x, sel in zip(leaves, selected):
                s = shape_of(x)
                out.append(None if s is None else ((BATCH,) + tuple(s[1:]) if len(s) and sel else tuple(s)))
            return out
        out = [None if shape_of(x) is None else tuple(shape_of(x)) for x in leaves]
        # shapes= applies to top-level arguments that are arrays: find their leaves
        k = 0
        for pos, a in enumerate(args):
            from .pytree import flatten

            n = len(flatten(a)[0])
            if pos in self.shapes:
                name, shape = self.shapes[pos]
                if n != 1 or shape_of(leaves[k]) is None:
                    raise GraphcError(f"gc.compile: shapes[{name!r}] is given, but argument {name!r} is not an array")
                actual = tuple(shape_of(leaves[k]))
                check_leaf(name, shape, actual, {})
                out[k] = shape
            k += n
        return out


def check_leaf(arg_name, spec, actual, binding) -> None:
    """Bind the symbols of one argument's spec from its actual shape (in ``binding``);
    a GraphcError names the argument, the dimension and the symbol on any mismatch."""
    if len(spec) != len(actual):
        raise GraphcError(f"argument {arg_name}: expected {len(spec)} dimensions {_fmt(spec)}, "
                          f"got shape {tuple(actual)}")
    for axis, (d, a) in enumerate(zip(spec, actual)):
        if isinstance(d, str):
            prev = binding.get(d)
            if prev is None:
                binding[d] = (int(a), arg_name, axis)
            elif prev[0] != a:
                raise GraphcError(f"symbolic dimension {d!r} is {prev[0]} in argument {prev[1]} (axis {prev[2]}) "
                                  f"but {a} in argument {arg_name} (axis {axis})")
        elif d != a:
            raise GraphcError(f"argument {arg_name}: expected shape {_fmt(spec)}, got {tuple(actual)} "
                              f"(axis {axis} must be {d})")


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"
