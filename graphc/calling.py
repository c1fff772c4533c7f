"""The calling convention of compiled functions: keyword arguments and static arguments.

A call ``f(*args, **kwargs)`` is bound to the Python function's signature and turned
into one tuple of *dynamic* arguments (pytrees of arrays, traced as parameters) plus a
hashable *call key* that holds everything else: how many positional arguments came,
which keyword names, and the values of the static arguments (``static_argnums`` /
``static_argnames``, as in ``jax.jit``). The compiled function caches per (call key,
signature of the dynamic arguments), so a new static value retraces, and traces a
specialized function that puts the static values back where the user passed them.

Static arguments may be any hashable Python value (a str, a tuple of ints, a callable);
they are not graph values, so the function can branch on them or use them as shapes.
The key holds each value's type next to it: ``1``, ``1.0`` and ``True`` are equal in
Python but must not share a trace.
"""
from __future__ import annotations

import inspect
import operator

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _as_tuple(x, what) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (int, str)):
        return (x,)
    try:
        return tuple(x)
    except TypeError:
        raise TypeError(f"gc.compile: {what} must be an int/str or a sequence of them, got {x!r}") from None


class CallSpec:
    """Maps calls of one function to (dynamic arguments, call key)."""

    def __init__(self, fn, static_argnums=None, static_argnames=None):
        self.fn = fn
        self.name = getattr(fn, "__name__", "function")
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature: positional calls only
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature is not None else []
        positional = [p.name for p in params if p.kind in _POSITIONAL]
        has_var_kw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params)
        nums = set()
        for n in _as_tuple(static_argnums, "static_argnums"):
            try:
                nums.add(operator.index(n))
            except TypeError:
                raise TypeError(f"gc.compile: static_argnums must hold ints, got {n!r}") from None
        names = set()
        for n in _as_tuple(static_argnames, "static_argnames"):
            if not isinstance(n, str):
                raise TypeError(f"gc.compile: static_argnames must hold strs, got {n!r}")
            if self.signature is not None and n not in self.signature.parameters and not has_var_kw:
                raise ValueError(f"gc.compile: static_argnames names {n!r}, which is not an argument of "
                                 f"{self.name}({', '.join(p.name for p in params)})")
            names.add(n)
        # a static argument is static however it is passed (by position or by name), as in JAX
        for n in list(nums):
            if 0 <= n < len(positional):
                names.add(positional[n])
        for n in list(names):
            if n in positional:
                nums.add(positional.index(n))
        self.static_argnums = frozenset(nums)
        self.static_argnames = frozenset(names)
        self.has_static = bool(nums or names)

    def canonical(self, args, kwargs):
        """(dynamic arguments, call key) for the call ``fn(*args, **kwargs)``."""
        if kwargs and self.signature is not None:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self.name}(): {e}") from None
            pos, kw = list(bound.args), dict(bound.kwargs)
        else:
            pos, kw = list(args), dict(kwargs)
        static_pos = []
        npos = len(pos)
        names = [p.name for p in self.signature.parameters.values()
                 if p.kind in _POSITIONAL] if self.signature is not None else []
        for n in sorted(self.static_argnums):
            k = n if n >= 0 else npos + n
            if 0 <= k < npos:
                what = f"argument {k}" + (f" ({names[k]})" if k < len(names) else "")
                static_pos.append((k, self._hashable(pos[k], what)))
                pos[k] = None  # an empty pytree node: keeps the other arguments' positions
        static_kw, kw_names = [], []
        for name in sorted(kw):
            if name in self.static_argnames:
                static_kw.append((name, self._hashable(kw[name], f"argument {name!r}")))
            else:
                kw_names.append(name)
        key = (npos, tuple(static_pos), tuple(kw_names), tuple(static_kw))
        return tuple(pos) + tuple(kw[n] for n in kw_names), key

    def _hashable(self, value, what):
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"{self.name}: static {what} must be hashable (it is part of the compile cache "
                            f"key), got an unhashable {type(value).__name__}: {_short(value)}; pass a tuple "
                            f"instead of a list, or make it a non-static array argument") from None
        return (type(value), value)

    def specialize(self, key):
        """The function of the dynamic arguments alone that the call key describes."""
        npos, static_pos, kw_names, static_kw = key
        fn = self.fn

        def specialized(*dyn):
            pos = list(dyn[:npos])
            for k, (_, v) in static_pos:
                pos[k] = v
            kw = dict(zip(kw_names, dyn[npos:]))
            for name, (_, v) in static_kw:
                kw[name] = v
            return fn(*pos, **kw)

        specialized.__name__ = getattr(fn, "__name__", "main")
        specialized.__qualname__ = getattr(fn, "__qualname__", specialized.__name__)
        return specialized


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
