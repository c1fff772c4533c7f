"""Issue 15's calling convention: static arguments, keyword arguments, gc.jit, unknown
options, pytrees (namedtuples, dataclasses, registered nodes) and the errors numpy
functions raise on traced values."""
import collections
import dataclasses

import numpy as np
import pytest

import graphc as gc

X = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_static_argnums_is_part_of_the_cache_key():
    f = gc.compile(lambda x, n: x * n if n > 1 else x - n, static_argnums=1)
    np.testing.assert_array_equal(f(X, 3), X * 3)
    np.testing.assert_array_equal(f(X, 3), X * 3)
    assert f.trace_count == 1
    np.testing.assert_array_equal(f(X, 0), X - 0)        # Python branch on the static value
    assert f.trace_count == 2
    np.testing.assert_array_equal(f(X, n=3), X * 3)      # passed by name: still static


def test_static_values_of_equal_hash_but_other_type_retrace():
    f = gc.compile(lambda x, k: x * (2 if isinstance(k, float) else 3), static_argnums=1)
    np.testing.assert_array_equal(f(X, 1), X * 3)
    np.testing.assert_array_equal(f(X, 1.0), X * 2)      # 1 == 1.0 but a float: another trace


def test_static_argnames_with_strings_and_shapes():
    def fn(x, mode="sum", shape=(3, 2)):
        y = x.reshape(shape)
        return y.sum() if mode == "sum" else y.max()

    f = gc.jit(fn, static_argnames=("mode", "shape"))
    assert f(X) == X.sum()
    assert f(X, mode="max", shape=(6,)) == X.max()
    assert f(X, "max") == X.max()                        # positional, still static (by name)


def test_unhashable_static_value_is_a_clear_type_error():
    f = gc.compile(lambda x, shape: x.reshape(shape), static_argnums=(1,))
    with pytest.raises(TypeError, match=r"static argument 1 \(shape\) must be hashable.*list"):
        f(X, [3, 2])
    assert f(X, (3, 2)).shape == (3, 2)


def test_static_argnames_must_name_an_argument():
    with pytest.raises(ValueError, match="'mod'"):
        gc.compile(lambda x, mode: x, static_argnames="mod")


def test_keyword_arguments_and_keyword_only_arguments():
    def fn(x, w, *, b, scale=2.0):
        return (x @ w + b) * scale

    f = gc.compile(fn)
    w, b = np.ones((3, 4), np.float32), np.arange(4, dtype=np.float32)
    expect = (X @ w + b) * 2.0
    np.testing.assert_allclose(f(X, w, b=b), expect)
    np.testing.assert_allclose(f(x=X, w=w, b=b), expect)
    np.testing.assert_allclose(f(X, b=b, w=w, scale=3.0), (X @ w + b) * 3.0)
    with pytest.raises(TypeError, match="fn\\(\\).*missing.*'b'"):
        f(X, w)
    assert "matmul" in f.ir(X, w, b=b, stage="traced")


def test_unknown_options_raise_naming_the_option_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown option 'fusee' \(did you mean 'fuse'\?\).*valid options:.*fuse"):
        gc.compile(lambda x: x, fusee=False)
    with pytest.raises(TypeError, match="'donate_argnums'"):
        gc.compile(donate_argnums=0)
    with pytest.raises(TypeError, match="expected a function"):
        gc.compile(3)


@pytest.mark.parametrize("options", [dict(fuse=False), dict(target="cpu", fuse=True), dict(dynamic="batch"),
                                     dict(shapes={"x": ("n", 3)}), dict(placement="auto"),
                                     dict(placement=True, allow_soft_placement=True)])
def test_existing_options_still_work(options):
    f = gc.compile(lambda x: gc.exp(x).sum(axis=1), **options)
    np.testing.assert_allclose(f(X), np.exp(X).sum(axis=1), rtol=1e-6)


def test_dump_dir_writes_the_ir(tmp_path):
    f = gc.compile(lambda x: x + 1, dump_dir=str(tmp_path))
    f(X)
    assert any(tmp_path.iterdir())


def test_jit_is_compile():
    assert gc.jit is gc.compile
    np.testing.assert_array_equal(gc.jit(lambda x: x + 1)(X), X + 1)


# -- pytrees -------------------------------------------------------------------------------

Pair = collections.namedtuple("Pair", "a b")


@dataclasses.dataclass
class Dense:
    w: np.ndarray
    b: np.ndarray
    activation: str = dataclasses.field(default="relu", metadata={"static": True})


@dataclasses.dataclass(frozen=True)
class Frozen:
    v: np.ndarray

    def __post_init__(self):
        if not hasattr(self.v, "shape"):
            raise ValueError("v must be an array")


def test_namedtuple_arguments_and_results_keep_their_type():
    f = gc.compile(lambda p: Pair(p.a + p.b, p.a * p.b))
    out = f(Pair(X, X))
    assert type(out) is Pair
    np.testing.assert_array_equal(out.a, X + X)
    np.testing.assert_array_equal(out.b, X * X)


def test_dataclass_arguments_with_static_fields():
    def layer(p: Dense, x):
        y = x @ p.w + p.b
        return gc.relu(y) if p.activation == "relu" else gc.tanh(y)

    f = gc.compile(layer)
    d = Dense(np.ones((3, 4), np.float32) * -1, np.zeros(4, np.float32))
    np.testing.assert_array_equal(f(d, X), np.maximum(X @ d.w, 0))
    d2 = Dense(d.w, d.b, activation="tanh")
    np.testing.assert_allclose(f(d2, X), np.tanh(X @ d.w), rtol=1e-6)
    assert f.trace_count == 2                            # the static field is in the key
    out = gc.compile(lambda p: Frozen(p.v * 2))(Frozen(X))  # rebuilt without __init__/__post_init__
    assert type(out) is Frozen
    np.testing.assert_array_equal(out.v, X * 2)


def test_registered_pytree_node():
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    gc.register_pytree_node(Point, lambda p: ((p.x, p.y), "tag"), lambda aux, ch: Point(*ch))
    f = gc.compile(lambda p: Point(p.y, p.x + p.y))
    out = f(Point(X, X * 2))
    assert isinstance(out, Point)
    np.testing.assert_array_equal(out.x, X * 2)
    np.testing.assert_array_equal(out.y, X * 3)
    with pytest.raises(ValueError, match="already"):
        gc.register_pytree_node(Point, lambda p: ((), None), lambda a, c: Point(0, 0))


def test_a_list_argument_is_a_container_of_leaves():
    f = gc.compile(lambda xs: sum(xs[1:], xs[0]))
    np.testing.assert_array_equal(f([X, X, X]), 3 * X)
    with pytest.raises(TypeError, match="static_argnums"):
        f(["not an array"])


def test_tree_map():
    t = gc.tree_map(lambda a, b: a + b, {"x": 1, "y": (2, 3)}, {"x": 10, "y": (20, 30)})
    assert t == {"x": 11, "y": (22, 33)}


# -- numpy on traced values -----------------------------------------------------------------

def test_numpy_ufunc_on_a_traced_value_names_the_graphc_function_and_the_line():
    def f(x):
        return np.exp(x)  # the line the error must name

    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.exp.*use gc\.exp instead") as e:
        gc.compile(f)(X)
    assert "test_calling_convention.py" in str(e.value) and "at " in str(e.value)
    assert isinstance(e.value, gc.GraphcError) and isinstance(e.value, TypeError)


def test_numpy_functions_and_conversion_on_traced_values_raise():
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.concatenate.*gc\.concatenate"):
        gc.compile(lambda x: np.concatenate([x, x]))(X)
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.fft\.fft.*graphc has no fft"):
        gc.compile(lambda x: np.fft.fft(x))(X)
    with pytest.raises(gc.NumpyOnTracedValueError, match="cannot convert a traced Tensor"):
        gc.compile(lambda x: np.asarray(x))(X)
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.add\.reduce"):
        gc.compile(lambda x: np.add.reduce(x))(X)
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.exp"):
        gc.grad(lambda x: np.exp(x).sum())(X)


def test_ndarray_operators_with_traced_values_still_work():
    c = np.full((2, 3), 2, np.float32)
    f = gc.compile(lambda x: (c + x, c - x, c * x, c / (x + 1), c ** x, c < x, c == x,
                              np.float32(3) * x, np.ones((4, 2), np.float32) @ x, np.shape(x), np.ndim(x)))
    out = f(X)
    expect = (c + X, c - X, c * X, c / (X + 1), c ** X, c < X, c == X, 3 * X, np.ones((4, 2)) @ X)
    for got, want in zip(out, expect):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert out[-2:] == ((2, 3), 2)  # static values in the output are returned as they are


def test_grad_of_a_non_scalar_function_points_at_the_users_line():
    def f(x):
        return x * 2

    with pytest.raises(gc.TraceError, match=r"scalar-valued.*shape \(2, 3\).*computed at .*test_calling_convention"):
        gc.grad(f)(X)


def test_grad_of_pytree_arguments_with_keyword_arguments():
    P = collections.namedtuple("P", "w b")
    x = np.arange(6.0).reshape(2, 3)

    def loss(p, x, scale=1.0):
        return ((x @ p["w"] + p["b"]) ** 2).sum() * scale

    g = gc.grad(loss)({"w": np.ones((3, 2)), "b": np.zeros(2)}, x, scale=2.0)
    y = x @ np.ones((3, 2))
    np.testing.assert_allclose(g["w"], 4 * x.T @ y)
    np.testing.assert_allclose(g["b"], 4 * y.sum(0))
    v, (gp, gx) = gc.value_and_grad(lambda p, x: (gc.tanh(x @ p.w) + p.b).sum(), argnums=(0, 1))(
        P(np.ones((3, 2)), np.zeros(2)), x)
    assert type(gp) is P and gx.shape == (2, 3)
    np.testing.assert_array_equal(gp.b, [2.0, 2.0])
