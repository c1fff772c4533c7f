"""gc.export / gc.load_library: standalone shared libraries with a C API.

The C tests compile a small program against the generated header, link it with the
system C compiler against the exported library and compare what it prints with numpy.
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc import _export_native as native
from graphc.errors import ExportError
from graphc.ops.registry import all_ops, defop
from graphc.tracing import bind

CC = native.find_c_compiler()
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc/gcc/clang): export links with one")

RNG = np.random.default_rng(0)
W1 = RNG.standard_normal((6, 8)).astype(np.float32)
B1 = RNG.standard_normal(8).astype(np.float32)
W2 = RNG.standard_normal((8, 3)).astype(np.float32)


def c_inputs(n, dtype=np.float32):
    """The values the C programs below write into an input of n elements."""
    i = np.arange(n)
    return (((i * 37) % 101) / 50.0 - 1.0).astype(dtype)


def run_c(tmp_path, lib, body):
    """Compile `body` (inside main) against lib's header, link with -l<name>, run, return stdout."""
    src = tmp_path / "main.c"
    d = os.path.dirname(lib.path)
    src.write_text(f'#include <stdio.h>\n#include <string.h>\n#include "{lib.name}.h"\n'
                   f"static void fill(float* p, int n) {{ for (int i = 0; i < n; i++) p[i] = "
                   f"(float)(((i * 37) % 101) / 50.0 - 1.0); }}\n"
                   f"static void show(const char* tag, const float* p, int n) {{ printf(\"%s\", tag); "
                   f"for (int i = 0; i < n; i++) printf(\" %.9g\", p[i]); printf(\"\\n\"); }}\n"
                   f"int main(void) {{\n{body}\nreturn 0;\n}}\n")
    exe = tmp_path / "main"
    r = subprocess.run([CC, "-O1", "-std=gnu11", "-Wall", "-Werror", "-I", d, "-o", str(exe), str(src),
                        "-L", d, f"-l{lib.name}", f"-Wl,-rpath,{d}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def parse(stdout):
    out = {}
    for line in stdout.splitlines():
        tag, *vals = line.split()
        out.setdefault(tag, []).extend(vals)   # a repeated tag accumulates
    return out


def mlp_numpy(x, w1, b1, w2):
    h = np.maximum(x @ w1 + b1, 0)
    logits = h @ w2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), logits.argmax(axis=1)


def test_c_program_matches_numpy(tmp_path):
    w1 = gc.Variable(W1, name="dense/kernel")

    def mlp(x):
        probs = gc.softmax(gc.relu(x @ w1 + B1) @ W2, axis=1)   # B1, W2: closure constants
        return probs, gc.argmax(probs, axis=1)

    lib = gc.export(mlp, (gc.TensorSpec((5, 6), "float32"),), str(tmp_path / "build" / "libmlp.so"), name="mlp")
    assert os.path.exists(tmp_path / "build" / "mlp.h")
    out = parse(run_c(tmp_path, lib, r"""
        float x[MLP_INPUT0_SIZE], probs[MLP_OUTPUT0_SIZE]; int64_t cls[MLP_OUTPUT1_SIZE];
        fill(x, MLP_INPUT0_SIZE);
        int rc = mlp_run(x, probs, cls);
        printf("rc %d\n", rc);
        show("probs", probs, MLP_OUTPUT0_SIZE);
        printf("cls"); for (int i = 0; i < MLP_OUTPUT1_SIZE; i++) printf(" %lld", (long long)cls[i]); printf("\n");
        rc = mlp_run(NULL, probs, cls);
        printf("null_input %d %d\n", rc, rc == MLP_ERR_NULL_ARGUMENT);
        printf("null_msg %s\n", strstr(mlp_last_error(), "input 0") ? "ok" : mlp_last_error());
        printf("null_output %d\n", mlp_run(x, probs, NULL));
        printf("null_args %d\n", mlp_run_args(NULL, NULL));
        float w[MLP_VAR0_SIZE];
        printf("get %d\n", mlp_get_variable(MLP_VAR0_NAME, w, sizeof w));
        show("w", w, MLP_VAR0_SIZE);
        printf("bad_size %d\n", mlp_get_variable("dense/kernel", w, 3));
        printf("bad_name %d\n", mlp_set_variable("nope", w, sizeof w));
        printf("null_name %d\n", mlp_get_variable(NULL, w, sizeof w));
        printf("nvars %d %s\n", mlp_num_variables(), mlp_variable_name(0));
    """))
    x = c_inputs(30).reshape(5, 6)
    probs, cls = mlp_numpy(x, W1, B1, W2)
    assert out["rc"] == ["0"]
    np.testing.assert_allclose(np.array(out["probs"], np.float32).reshape(5, 3), probs, rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(np.array(out["cls"], np.int64), cls)
    assert out["null_input"] == ["1", "1"] and out["null_msg"] == ["ok"]
    assert out["null_output"] == ["1"] and out["null_args"] == ["1"] and out["null_name"] == ["1"]
    assert out["get"] == ["0"]
    np.testing.assert_array_equal(np.array(out["w"], np.float32), W1.ravel())
    assert out["bad_size"] == ["3"] and out["bad_name"] == ["2"]
    assert out["nvars"] == ["1", "dense/kernel"]


def test_library_needs_only_libc(tmp_path):
    lib = gc.export(lambda x: gc.tanh(x @ W1).sum(axis=0), (np.ones((4, 6), np.float32),),
                    str(tmp_path / "libdeps.so"), name="deps")
    needed = native.needed_libraries(lib.path)
    assert needed and all(n.startswith(("libc.so", "libm.so", "libpthread.so", "ld-linux")) for n in needed), needed
    if shutil.which("ldd"):
        text = subprocess.run(["ldd", lib.path], capture_output=True, text=True).stdout
        assert "libpython" not in text and "llvmlite" not in text and "libLLVM" not in text, text
    m = gc.load_library(lib.path)
    # only the C API is exported: kernels, thread pool and state stay local to the library
    assert not hasattr(m._lib, "graphc_parallel_for") and not hasattr(m._lib, "graphc_entry_deps")


def test_load_library_round_trip(tmp_path):
    def f(params, x, scale, flag):
        y = gc.relu(x @ params["w"] + params["b"]) * scale
        z = gc.where(flag, y, -y) if flag else y
        return {"y": z, "n": (x > 0).astype("int32").sum(), "any": x.max(axis=1) > 0.5}

    params = {"w": W1, "b": B1}
    x = RNG.standard_normal((7, 6)).astype(np.float32)
    lib = gc.export(f, (params, x, 2.5, True), str(tmp_path / "librt.so"))
    assert lib.name == "rt" and lib.header.endswith("rt.h")
    m = gc.load_library(lib.path)
    got, want = m(params, x, 2.5, True), gc.compile(f)(params, x, 2.5, True)
    assert set(got) == {"y", "n", "any"}
    for k in got:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)
    with pytest.raises(TypeError, match="expected float32"):
        m(params, x[:3], 2.5, True)
    with pytest.raises(TypeError, match="fixed to 2.5"):
        m(params, x, 3.0, True)


def test_stateful_export_matches_jit(tmp_path):
    """A training step (SGD via gradients + assign_sub, plus a step counter) keeps its
    variables inside the library; calling twice changes them exactly like the JIT."""
    w = gc.Variable(RNG.standard_normal((6, 3)).astype(np.float32), name="w")
    step = gc.Variable(np.zeros((), np.int64), name="step", trainable=False)

    def train(x, y):
        loss = gc.mean(gc.square(x @ w - y))
        (g,) = gc.gradients(loss, [w])
        w.assign_sub(0.1 * g)
        step.assign_add(1)
        return loss

    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.standard_normal((8, 3)).astype(np.float32)
    lib = gc.export(train, (x, y), str(tmp_path / "libtrain.so"))   # snapshot of w, step
    m = gc.load_library(lib.path)
    jit = gc.compile(train)
    for _ in range(2):
        np.testing.assert_allclose(m(x, y), jit(x, y), rtol=1e-5)
    np.testing.assert_allclose(m.get_variable("w"), w.numpy(), rtol=1e-5, atol=1e-6)
    assert m.get_variable("step") == 2 == step.numpy()
    m.set_variable("w", np.zeros((6, 3), np.float32))
    np.testing.assert_allclose(m(x, y), np.mean(y ** 2), rtol=1e-5)
    with pytest.raises(KeyError):
        m.get_variable("nope")


def test_optimizer_step_in_c(tmp_path):
    """A gc.optim training step exported with its slot variables; the C program trains."""
    w = gc.Variable(np.full((6, 1), 0.1, np.float32), name="w")
    opt = gc.optim.Momentum(0.05, momentum=0.9)
    x = c_inputs(24).reshape(4, 6)
    y = np.array([[1.0], [-1.0], [0.5], [0.0]], np.float32)

    def train(x):
        loss = gc.mean(gc.square(x @ w - y))
        opt.minimize(loss)
        return loss

    w0 = w.numpy()
    lib = gc.export(train, (x,), str(tmp_path / "libsgd.so"), name="sgd")
    names = [v["name"] for v in lib.metadata["variables"]]
    assert "w" in names and len(names) == 2          # w and its momentum slot
    out = parse(run_c(tmp_path, lib, r"""
        float x[SGD_INPUT0_SIZE], loss[1], w[SGD_VAR0_SIZE];
        fill(x, SGD_INPUT0_SIZE);
        for (int k = 0; k < 3; k++) { if (sgd_run(x, loss)) return 1; show("loss", loss, 1); }
        if (sgd_get_variable("w", w, sizeof w)) return 2;
        show("w", w, SGD_VAR0_SIZE);
    """))
    jit = gc.compile(train)
    w.assign(w0)
    for v in opt.variables():
        v.assign(np.zeros(v.shape, v.dtype))
    losses = [float(jit(x)) for _ in range(3)]
    np.testing.assert_allclose(np.array(out["loss"], np.float32), losses, rtol=1e-5)
    np.testing.assert_allclose(np.array(out["w"], np.float32), w.numpy().ravel(), rtol=1e-5, atol=1e-7)
    assert losses[2] < losses[0]


@pytest.fixture
def host_only_op():
    """An op with a numpy reference but no CPU lowering (like a host callback), registered
    only for this test so other tests that walk the registry never see it."""
    from graphc.ops import registry

    defop("test_export_host_only", "elementwise", lambda types, attrs: types[0], lambda attrs, x: x)
    yield
    registry._REGISTRY.pop("test_export_host_only")
    assert "test_export_host_only" not in all_ops()


def test_unsupported_op_raises_before_writing(tmp_path, host_only_op):
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="test_export_host_only.*no CPU lowering"):
        gc.export(lambda x: bind("test_export_host_only", [x]) + 1, (np.ones(3, np.float32),),
                  str(out / "libbad.so"))
    assert not out.exists()


def test_dynamic_shape_raises_before_writing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="dynamic shape"):
        gc.export(lambda x: x * 2, (gc.TensorSpec((None, 3)),), str(out / "libdyn.so"))
    with pytest.raises(ExportError, match="target='cpu' only"):
        gc.export(gc.compile(lambda x: x * 2, target="cuda"), (np.ones(3, np.float32),), str(out / "libgpu.so"))
    with pytest.raises(ExportError, match="C identifier"):
        gc.export(lambda x: x * 2, (np.ones(3, np.float32),), str(out / "lib-x.so"))
    assert not out.exists()


def test_runtime_symbol_resolution():
    """Declared-but-undefined symbols: graphc runtime modules are linked in, libc/libm
    symbols are left to the system, anything else is an ExportError."""
    names = [n for n, _ in native.resolve_runtime({"graphc_parallel_for", "memcpy", "expf"}, "t")]
    assert names == ["threadpool"]
    assert native.resolve_runtime({"memset"}, "t") == []
    with pytest.raises(ExportError, match="mystery_kernel_helper"):
        native.resolve_runtime({"mystery_kernel_helper", "memcpy"}, "t")


def test_edge_signatures_and_reexport(tmp_path):
    """No outputs, no inputs, 0-d variables, repeated variable names, and a library
    re-exported to the same path in the same process (the loader must not reuse the old one)."""
    acc = gc.Variable(np.zeros(3, np.float32), name="acc")
    count = gc.Variable(np.zeros((), np.int64), name="acc")     # same name: exported as acc_1

    def accumulate(x):
        acc.assign_add(x)
        count.assign_add(1)

    path = str(tmp_path / "libedge.so")
    m = gc.export(accumulate, (np.ones(3, np.float32),), path).load()
    assert m(np.ones(3, np.float32)) is None and m(np.full(3, 2, np.float32)) is None
    np.testing.assert_array_equal(m.get_variable("acc"), [3, 3, 3])
    got = m.get_variable("acc_1")
    assert got.shape == () and got == 2
    assert gc.load_library(path).get_variable("acc_1") == 2           # same file: same state

    m2 = gc.export(lambda: (acc + 1, gc.ones((2,), "bool")), (), path).load()
    a, b = m2()
    np.testing.assert_array_equal(a, [1, 1, 1])
    np.testing.assert_array_equal(b, [True, True])
    assert m2.variables == {"acc": ((3,), "float32")}


# -- failures leave nothing behind; damaged libraries are refused (issue 18) ---------------------

@pytest.fixture(scope="module")
def small_library(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    return gc.export(lambda x: x * 2 + 1, (np.ones(4, np.float32),), str(d / "libsmall.so"))


def _leftovers(directory):
    return [n for n in os.listdir(directory) if n.startswith(".graphc_tmp_")]


def test_export_to_a_directory_fails_cleanly(tmp_path):
    target = tmp_path / "libdir.so"
    target.mkdir()
    with pytest.raises(ExportError, match="is a directory"):
        gc.export(lambda x: x + 1, (np.ones(2, np.float32),), str(target))
    header_dir = tmp_path / "hdr.h"
    header_dir.mkdir()
    with pytest.raises(ExportError, match="is a directory"):
        gc.export(lambda x: x + 1, (np.ones(2, np.float32),), str(tmp_path / "libok.so"), header=str(header_dir))
    assert not (tmp_path / "libok.so").exists()  # refused before anything was installed
    assert _leftovers(tmp_path) == []


def test_export_failing_mid_install_removes_its_temporary_files(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ExportError, match="Permission denied"):
        gc.export(lambda x: x + 1, (np.ones(2, np.float32),), str(tmp_path / "libfail.so"))
    monkeypatch.undo()
    assert _leftovers(tmp_path) == [] and not (tmp_path / "libfail.so").exists()


def test_load_library_refuses_truncated_and_foreign_files(tmp_path, small_library):
    """Each damaged copy is loaded in a child process, so a regression (SIGBUS) fails this
    test instead of killing the test run."""
    import sys

    good = open(small_library.path, "rb").read()
    cases = {"empty": b"", "text": b"not a library at all", "header_only": good[:40],
             "elf_header": good[:64], "half": good[:len(good) // 2], "all_but_one": good[:-1],
             "wrong_type": good[:16] + (1).to_bytes(2, "little") + good[18:]}  # ET_REL
    for label, data in cases.items():
        (tmp_path / f"lib{label}.so").write_bytes(data)
    script = (
        "import sys, graphc as gc\n"
        "for label in sys.argv[2:]:\n"
        "    try:\n"
        "        gc.load_library(f'{sys.argv[1]}/lib{label}.so', name='small')\n"
        "        print(label, 'LOADED')\n"
        "    except gc.ExportError as e:\n"
        "        print(label, 'ExportError', str(e).replace(chr(10), ' '))\n")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path), *cases], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # -7 would be SIGBUS
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    assert set(lines) == set(cases)
    for label, text in lines.items():
        assert text.startswith("ExportError cannot load"), (label, text)
    assert "truncated" in lines["half"] and "truncated" in lines["all_but_one"]
    assert "not an ELF" in lines["empty"] and "not a shared library" in lines["wrong_type"]
    # the intact library still loads and runs
    np.testing.assert_array_equal(gc.load_library(small_library.path)(np.arange(4, dtype=np.float32)),
                                  np.arange(4) * 2 + 1)


def test_loaded_library_converts_big_endian_inputs(small_library):
    m = gc.load_library(small_library.path)
    x = np.arange(4, dtype=">f4")
    np.testing.assert_array_equal(m(x), np.arange(4) * 2 + 1)
