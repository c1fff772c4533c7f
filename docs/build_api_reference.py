"""Build docs/API.md from the docstrings of every name in ``graphc.__all__``.

    python docs/build_api_reference.py            # writes docs/API.md
    python docs/build_api_reference.py out.md     # or another path

Functions and classes get their signature and full docstring (summary, Args, Returns,
Raises, Example); modules (gc.nn, gc.optim, ...) their docstring and the public names
they define, and then each of those names its own entry. No hosted docs are
needed: the page is plain Markdown, rebuilt whenever the API changes
(tests/test_api_reference.py checks it covers every public name).
"""
from __future__ import annotations

import inspect
import os
import sys
import types


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def entry(name: str, obj) -> str:
    doc = inspect.getdoc(obj) or "(no docstring)"
    if isinstance(obj, types.ModuleType):
        public = sorted(n for n in getattr(obj, "__all__", dir(obj)) if not n.startswith("_"))
        body = doc + ("\n\nPublic names: " + ", ".join(f"`{n}`" for n in public) if public else "")
        return f"### `gc.{name}` (module)\n\n{body}\n"
    if isinstance(obj, str):
        return f"### `gc.{name}`\n\nThe dtype name `{obj!r}`.\n"
    if isinstance(obj, (int, float)):
        return f"### `gc.{name}`\n\nThe constant `{obj!r}`.\n"
    if not callable(obj):
        return f"### `gc.{name}`\n\n```text\n{doc}\n```\n"
    kind = "class" if inspect.isclass(obj) else "function"
    return f"### `gc.{name}{_signature(obj)}` ({kind})\n\n```text\n{doc}\n```\n"


def build(path: str) -> list:
    import graphc as gc

    names = list(gc.__all__)
    parts = ["# graphc API reference\n",
             "Generated from the docstrings by `python docs/build_api_reference.py`; "
             "every name in `graphc.__all__`, alphabetically, then the names of the public submodules.\n"]
    parts += [entry(n, getattr(gc, n)) for n in sorted(names, key=str.lower)]
    # the public submodules' own names (gc.nn.conv2d, gc.optim.Adam, ...)
    for mod_name in sorted(n for n in names if isinstance(getattr(gc, n), types.ModuleType)):
        module = getattr(gc, mod_name)
        parts.append(f"## `gc.{mod_name}`\n")
        for sub in sorted(module.__all__, key=str.lower):
            parts.append(entry(f"{mod_name}.{sub}", getattr(module, sub)))
            names.append(f"{mod_name}.{sub}")
    with open(path, "w") as f:
        f.write("\n".join(parts))
    return names


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "API.md")
    print(f"{len(build(out))} names -> {out}")
