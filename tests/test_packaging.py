"""Packaging: every package folder is listed in pyproject.toml, runtime/ ships only as
graphc._runtime (never as a top-level `runtime`), and llvmlite is in the pinned range
with the NVPTX target built in."""
import os
import re

import llvmlite
import llvmlite.binding as llvm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        return f.read()


def test_every_package_folder_is_listed():
    text = _pyproject()
    listed = set(re.findall(r'"(graphc[\w.]*)"', text.split("[tool.setuptools]")[1].split("[tool.setuptools.package-dir]")[0]))
    found = set()
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "graphc")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if "__init__.py" in filenames:
            found.add(os.path.relpath(dirpath, ROOT).replace(os.sep, "."))
    found.add("graphc._runtime")
    assert found == listed, f"pyproject packages {sorted(listed)} vs folders {sorted(found)}"
    assert '"graphc._runtime" = "runtime"' in text


def test_runtime_is_not_a_top_level_package(tmp_path):
    """Outside the checkout (cwd elsewhere), the install provides graphc._runtime only."""
    import subprocess
    import sys

    code = ("import importlib.util, os, graphc._runtime as r\n"
            "print(os.path.basename(os.path.dirname(r.__file__)), importlib.util.find_spec('runtime'))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["runtime", "None"]


def test_llvmlite_pinned_and_nvptx_present():
    assert re.search(r'"llvmlite>=0\.50,<0\.51"', _pyproject())
    assert llvmlite.__version__.startswith("0.50")
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    assert "nvptx64" in str(llvm.Target.from_triple("nvptx64-nvidia-cuda"))


def test_cpu_override_generates_portable_code(monkeypatch):
    """GRAPHC_CPU picks the code generation target instead of the host CPU."""
    import numpy as np

    import graphc as gc
    from graphc.codegen import llvm_cpu

    monkeypatch.setenv("GRAPHC_CPU", "x86-64")
    assert llvm_cpu.host_cpu() == ("x86-64", "")
    x = np.linspace(-3, 3, 1000).astype(np.float32)
    np.testing.assert_allclose(gc.compile(lambda a: gc.tanh(a) * 2)(x), np.tanh(x) * 2, rtol=2e-6)
    monkeypatch.delenv("GRAPHC_CPU")
    assert llvm_cpu.host_cpu()[0] == llvm.get_host_cpu_name()
