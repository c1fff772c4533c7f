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
