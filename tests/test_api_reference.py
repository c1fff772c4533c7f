"""The public API (issue 15): ``graphc.__all__`` names exist and are documented, the
generated reference (docs/build_api_reference.py) covers all of them, and the package
ships its PEP 561 marker."""
import importlib.util
import inspect
import os
import types

import graphc as gc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_all_names_exist_and_have_docstrings():
    assert len(gc.__all__) == len(set(gc.__all__))
    missing = [n for n in gc.__all__ if not hasattr(gc, n)]
    assert not missing, missing
    undocumented = [n for n in gc.__all__ if not isinstance(getattr(gc, n), str)
                    and not inspect.getdoc(getattr(gc, n))]
    assert not undocumented, undocumented
    internal = [n for n in gc.__all__ if isinstance(getattr(gc, n), types.ModuleType)
                and n not in ("data", "init", "layers", "nn", "optim", "random", "rnn")]
    assert not internal, internal


def test_star_import_gives_the_public_api():
    ns = {}
    exec("from graphc import *", ns)
    assert {"compile", "jit", "grad", "vmap", "Variable", "nn", "optim"} <= set(ns)
    assert "tracing" not in ns and "codegen" not in ns


def test_api_reference_covers_every_public_name(tmp_path):
    spec = importlib.util.spec_from_file_location("build_api", os.path.join(ROOT, "docs", "build_api_reference.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "API.md"
    names = mod.build(str(out))
    text = out.read_text()
    assert all(f"`gc.{n}" in text for n in names)


def test_py_typed_marker_is_shipped():
    assert os.path.exists(os.path.join(os.path.dirname(gc.__file__), "py.typed"))
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert 'graphc = ["py.typed"]' in f.read()
