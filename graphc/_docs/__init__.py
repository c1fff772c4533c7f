"""The reference sections of graphc's public docstrings (issue 15): Args, Returns, Raises
and a runnable Example for every name in ``graphc.__all__`` and in the public
submodules' ``__all__``.

Each function keeps the docstring written next to its code (the summary: what it
computes and why); the sections are kept here, one text table per family, and
appended to ``__doc__`` when graphc is imported (numpy's ``add_newdoc`` pattern). So
``help(gc.sin)`` and docs/API.md show one Google-style docstring, and the examples are
checked by tests/test_docstrings.py (doctest, globals ``gc`` and ``np``).

A table is plain text: ``=== name`` (``nn.conv2d`` for a submodule's name) starts an
entry; an entry for an object without a docstring starts with its summary paragraph.
Families sharing a template (elementwise math) build their entries from one row per op
(elementwise.py).
"""
from __future__ import annotations

import inspect

SECTIONS = ("Args:", "Returns:", "Raises:", "Example:")


def parse_table(text: str) -> dict:
    """``=== name`` headed entries -> {name: entry text}."""
    entries, name, lines = {}, None, []
    for line in text.splitlines():
        if line.startswith("=== "):
            if name is not None:
                entries[name] = "\n".join(lines).strip("\n")
            name, lines = line[4:].strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        entries[name] = "\n".join(lines).strip("\n")
    return entries


def resolve(package, dotted: str):
    obj = package
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def attach(obj, entry: str, name: str) -> None:
    """Append ``entry`` (sections, possibly after a summary) to obj's docstring."""
    own = inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""
    if own.startswith(f"{getattr(obj, '__name__', '')}("):
        own = ""   # a dataclass's generated signature line is no summary
    if any(f"\n{s}" in f"\n{own}" for s in SECTIONS):
        raise RuntimeError(f"graphc._docs: {name} already has reference sections")
    if not own and entry.lstrip().startswith(SECTIONS):
        raise RuntimeError(f"graphc._docs: {name} has no docstring; its entry must start with a summary")
    obj.__doc__ = f"{own}\n\n{entry}\n" if own else f"{entry}\n"


def apply(package) -> None:
    """Attach every table's entries to the package's objects (once per object: aliases
    such as gc.mod / gc.remainder share one entry)."""
    from . import arrays, core, elementwise, extras, nn_optim

    done = set()
    for module in (elementwise, arrays, core, nn_optim, extras):
        for name, entry in module.entries().items():
            obj = resolve(package, name)
            if id(obj) in done:
                raise RuntimeError(f"graphc._docs: {name} is documented twice (an alias of another entry)")
            done.add(id(obj))
            attach(obj, entry, name)
