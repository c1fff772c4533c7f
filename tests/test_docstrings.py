"""Every public name has a full docstring (issue 15), and its example runs.

Public names: ``graphc.__all__`` and the ``__all__`` of the public submodules it exposes
(gc.data, gc.init, gc.layers, gc.nn, gc.optim, gc.random, gc.rnn). Each docstring needs a
one-line summary, an ``Args:`` section when the function (or the class's constructor)
takes arguments, ``Returns:`` for functions, and an ``Example:`` with ``>>>`` lines;
exception classes need a summary and an example. Dtype names (strings) carry no
docstring. The examples run with doctest (ELLIPSIS and NORMALIZE_WHITESPACE; globals
``gc`` and ``np``) and must print what the docstring says.
"""
import doctest
import inspect
import types

import numpy as np
import pytest

import graphc as gc

SECTIONS = ("Args:", "Returns:", "Raises:", "Example:")


def public_objects():
    """(qualified name, object) for every distinct documented public object."""
    seen, out = set(), []

    def add(name, obj):
        if isinstance(obj, (str, int, float)) or id(obj) in seen:
            return
        seen.add(id(obj))
        out.append((name, obj))

    for name in sorted(gc.__all__):
        obj = getattr(gc, name)
        add(f"gc.{name}", obj)
        if isinstance(obj, types.ModuleType):
            assert hasattr(obj, "__all__"), f"public module gc.{name} has no __all__"
            for sub in sorted(obj.__all__):
                add(f"gc.{name}.{sub}", getattr(obj, sub))
    return out


OBJECTS = public_objects()
IDS = [name for name, _ in OBJECTS]


def _takes_arguments(obj):
    try:
        params = list(inspect.signature(obj).parameters.values())   # a class: its constructor's
    except (TypeError, ValueError):
        return False
    return bool(params)


def _missing_sections(obj):
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    missing = []
    if not lines or not lines[0].strip() or lines[0].strip() in SECTIONS:
        missing.append("summary")
    if isinstance(obj, types.ModuleType):
        return missing
    if not callable(obj):   # a namespace such as gc.data.experimental: summary and example
        return missing + ([] if ">>> " in doc else ["Example"])
    is_exception = inspect.isclass(obj) and issubclass(obj, BaseException)
    if not is_exception and _takes_arguments(obj) and "\nArgs:\n" not in doc:
        missing.append("Args")
    if not inspect.isclass(obj) and "\nReturns:\n" not in doc:
        missing.append("Returns")
    if "\nExample:\n" not in doc or ">>> " not in doc.split("\nExample:\n", 1)[-1]:
        missing.append("Example")
    return missing


def test_the_public_names_are_many_and_counted():
    """A guard against the collection silently shrinking (e.g. a submodule's __all__ lost)."""
    assert len(OBJECTS) > 250, len(OBJECTS)


@pytest.mark.parametrize("name,obj", OBJECTS, ids=IDS)
def test_docstring_has_every_section(name, obj):
    assert not _missing_sections(obj), f"{name}: docstring lacks {_missing_sections(obj)}"


FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_PARSER = doctest.DocTestParser()


@pytest.mark.parametrize("name,obj", [o for o in OBJECTS if not isinstance(o[1], types.ModuleType)],
                         ids=[n for n, o in OBJECTS if not isinstance(o, types.ModuleType)])
def test_docstring_example_runs(name, obj):
    test = _PARSER.get_doctest(inspect.getdoc(obj), {"gc": gc, "np": np}, name, None, 0)
    assert test.examples, f"{name}: no example"
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    report = []
    seed, counter = gc.random.get_seed(), gc.random.counter_variable().numpy().copy()
    try:
        with np.errstate(all="ignore"):
            runner.run(test, out=report.append, clear_globs=True)
    finally:   # examples may reseed or draw: leave the random state as the other tests expect it
        gc.random.set_seed(seed)
        gc.random.counter_variable().assign(counter)
    assert runner.failures == 0, "".join(report)
