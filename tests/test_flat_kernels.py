"""Size-generic elementwise kernels (graphc/codegen/flat_kernels.py): one compiled
function for every size, identical IR whatever the length, correct results."""
import numpy as np
import pytest
from llvmlite import ir

import graphc as gc
from graphc.codegen import flat_kernels as fk


def _program_of(f, *args):
    f(*args)
    return next(iter(f._cache.values())).program


def test_flat_kernel_ir_does_not_depend_on_its_length():
    import llvmlite.binding as llvm

    from graphc.codegen.llvm_cpu import CPUTarget

    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(6, 10)
    prog = _program_of(gc.compile(lambda a, c: gc.sqrt(a * a + 1.0) / (a + 2.0) - a * c), x, np.float32(3))
    kernel = next(s for s in prog.kernels if fk.flat_length(s))
    texts = []
    for n in (2, 1000, 777_777):
        target = CPUTarget()
        target._prefix, target._constants = "", {}
        module = ir.Module()
        module.triple = llvm.get_process_triple()
        target.emit_kernel(module, prog, fk.flat_view(kernel, n), "kernel", "external")
        texts.append(str(module))
    assert texts[0] == texts[1] == texts[2]


def test_one_function_for_the_adam_updates_of_every_shape():
    """An MLP's Adam updates (weights and biases of three shapes) share their kernels."""
    rng = np.random.default_rng(0)
    shapes = [(20, 12), (12,), (12, 7), (7,), (7, 3), (3,)]
    vs = [gc.Variable(rng.standard_normal(s).astype(np.float32) * 0.3) for s in shapes]
    opt = gc.optim.Adam(1e-2)

    def step(x, y):
        w1, b1, w2, b2, w3, b3 = vs
        h = gc.relu(x @ w1 + b1)
        h = gc.relu(h @ w2 + b2)
        loss = gc.nn.sparse_softmax_cross_entropy(h @ w3 + b3, y).mean()
        opt.minimize(loss)
        return loss

    f = gc.compile(step)
    x = rng.standard_normal((16, 20)).astype(np.float32)
    y = rng.integers(0, 3, 16).astype(np.int64)
    losses = [float(f(x, y)) for _ in range(20)]
    assert losses[-1] < losses[0]
    stats = f.compile_stats(x, y)
    # 3 Adam kernels (m, v, w) per variable: 18 kernels, at most 3 distinct functions
    assert stats["kernels_total"] - stats["kernels_distinct"] >= 15, stats


@pytest.mark.parametrize("shape", [(1,), (2,), (3, 1), (5, 7), (2, 3, 4), (129, 33)])
def test_flat_kernels_match_numpy(shape):
    rng = np.random.default_rng(len(shape))
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    f = gc.compile(lambda a, b, s: gc.maximum(a * s - b, b) / (gc.abs(a) + 1.0))
    np.testing.assert_allclose(f(a, b, np.float32(1.5)), np.maximum(a * 1.5 - b, b) / (np.abs(a) + 1), rtol=1e-6)
