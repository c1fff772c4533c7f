"""Deep graphs compile without hitting Python's recursion limit.

A fused chain of a few hundred elementwise ops (a deep model, an unrolled RNN) used to
raise RecursionError in the KernelBuilder (read -> emit -> read) and in the kernel's
structural key. Every walk on the compile path must be iterative or bounded: these
tests use chains of 3,000 ops, fused and unfused, forward and gradient, with the
interpreter's default recursion limit (1,000) untouched.
"""
import sys

import numpy as np
import pytest

import graphc as gc

N = 3000
EPS32 = np.finfo(np.float32).eps


def _chain(x, lib, n=N):
    for i in range(n):
        x = x * np.float32(1.0001) + np.float32(0.001) if i % 2 else x - np.float32(0.0005)
    return x


def _shape_chain(x, n=N):
    for _ in range(n // 3):
        x = gc.reshape(gc.transpose(x) * np.float32(1.0001), (8, 8))
    return x


def test_recursion_limit_untouched():
    assert sys.getrecursionlimit() <= 1000 * 4, "a test or graphc raised the recursion limit"


@pytest.mark.parametrize("fuse", [True, False])
def test_long_elementwise_chain_forward(fuse):
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    f = gc.compile(lambda x: _chain(x, gc), fuse=fuse)
    # op by op in float32, as numpy rounds it (graphc contracts no elementwise a*b+c)
    np.testing.assert_allclose(f(x), _chain(x, np), rtol=1e-6, atol=1e-6)
    if fuse:  # the printer and the verifier walk the deep graph too
        assert f.ir(x, stage="traced").count("\n") >= N
        assert f.ir(x, stage="optimized")


@pytest.mark.parametrize("fuse", [True, False])
def test_long_elementwise_chain_gradient(fuse):
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    g = gc.compile(gc.grad(lambda x: _chain(x, gc).sum()), fuse=fuse)(x)
    exact = 1.0001 ** (N // 2)
    # N/2 float32 multiplications of the cotangent, each off by at most eps/2
    np.testing.assert_allclose(g, np.full_like(x, exact), rtol=(N // 2) * EPS32)


@pytest.mark.parametrize("fuse", [True, False])
def test_long_transpose_reshape_chain(fuse):
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    f = gc.compile(_shape_chain, fuse=fuse)
    want = x.copy()
    for _ in range(N // 3):
        want = (want.T * np.float32(1.0001)).reshape(8, 8)
    np.testing.assert_allclose(f(x), want, rtol=1e-6)
    g = gc.compile(gc.grad(lambda x: _shape_chain(x).sum()), fuse=fuse)(x)
    np.testing.assert_allclose(g, np.full_like(x, 1.0001 ** (N // 3)), rtol=(N // 3) * EPS32)


def test_structurally_equal_deep_kernels_share_a_key():
    """The iterative kernel key describes a deep kernel as the recursive one did: two
    functions fusing the same 400-op chain compile it once."""
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    a = gc.compile(lambda x: _chain(x, gc, 400))
    a(x)
    b = gc.compile(lambda y: _chain(y, gc, 400))
    st = b.compile_stats(x)
    assert st["kernels_compiled"] == 0 and st["kernels_from_cache"] >= 1, st
    np.testing.assert_array_equal(a(x), b(x))


def test_long_chains_are_cut_into_kernels_of_bounded_size():
    """Fusion stops a group at MAX_FUSED_OPS ops (LLVM's time grows superlinearly with
    a kernel's size), so a deep chain's compile time grows linearly with its depth."""
    from graphc.passes.fusion import MAX_FUSED_OPS

    x = np.linspace(-1, 1, 16, dtype=np.float32)
    f = gc.compile(lambda x: _chain(x, gc, 1200))
    np.testing.assert_allclose(f(x), _chain(x, np, 1200), rtol=1e-6, atol=1e-6)
    lines = [l for l in f.ir(x, stage="optimized").splitlines() if "kernel -> " in l]
    sizes = [l.count(":") for l in lines]
    assert sum(sizes) == 1800 and max(sizes) <= MAX_FUSED_OPS, sizes
