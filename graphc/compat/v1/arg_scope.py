"""tf.contrib.framework.arg_scope / add_arg_scope, with TF 1.x's semantics.

``with arg_scope([fully_connected, conv2d], activation_fn=tf.nn.elu):`` makes those
keyword arguments the defaults of the listed functions inside the block. Only
functions decorated with ``add_arg_scope`` take part (TF raises ValueError for the
others); an argument given explicitly in a call wins over the scope; nested scopes
merge, the inner one overriding the outer for the same function; ``arg_scope(sc)``
with a dict from ``current_arg_scope()`` (or the value a ``with`` yields) re-enters
a saved scope.
"""
from __future__ import annotations

import contextlib
import functools

_stack: list[dict] = [{}]


def _key(func):
    return getattr(func, "_key_op", None) or f"{func.__module__}.{func.__qualname__}"


def current_arg_scope():
    """The active {function key: {kwarg: value}} (a copy is safe to re-enter later)."""
    return _stack[-1]


@contextlib.contextmanager
def arg_scope(list_ops_or_scope, **kwargs):
    """Set default keyword arguments of add_arg_scope-decorated functions in a block."""
    if isinstance(list_ops_or_scope, dict):
        if kwargs:
            raise ValueError("When attempting to re-use a scope by suppling a dictionary, kwargs must be empty.")
        _stack.append(list_ops_or_scope)
        try:
            yield list_ops_or_scope
        finally:
            _stack.pop()
        return
    if not isinstance(list_ops_or_scope, (list, tuple)):
        raise TypeError("list_ops_or_scope must either be a list/tuple or reused scope (i.e. dict)")
    scope = {k: dict(v) for k, v in _stack[-1].items()}
    for op in list_ops_or_scope:
        if not has_arg_scope(op):
            raise ValueError(f"{_key(op)} is not decorated with @add_arg_scope")
        scope.setdefault(_key(op), {}).update(kwargs)
    _stack.append(scope)
    try:
        yield scope
    finally:
        _stack.pop()


def add_arg_scope(func):
    """Decorate ``func`` so that arg_scope can supply its keyword arguments."""
    key = _key(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        defaults = _stack[-1].get(key)
        if defaults:
            kwargs = {**defaults, **kwargs}
        return func(*args, **kwargs)

    wrapper._key_op = key
    wrapper._arg_scoped = True
    return wrapper


def has_arg_scope(func):
    return getattr(func, "_arg_scoped", False)


def arg_scoped_arguments(func):
    """The names of ``func``'s arguments (the ones an arg_scope may set)."""
    import inspect

    return [p for p in inspect.signature(func).parameters if p not in ("args", "kwargs")]
