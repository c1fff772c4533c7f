"""graphc.compat.v1: graphs, names, scopes, collections, sessions, feeds, fetches and errors."""
import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_default_graph_and_as_default():
    x1 = tf.Variable(1)
    assert x1.graph is tf.get_default_graph()
    g = tf.Graph()
    with g.as_default():
        x2 = tf.Variable(2)
        assert tf.get_default_graph() is g
    assert x2.graph is g and x2.graph is not tf.get_default_graph()
    with g.as_default(), pytest.raises(AssertionError):
        tf.reset_default_graph()


def test_static_shapes_with_unknown_dims():
    X = tf.placeholder(tf.float32, shape=(None, 784), name="X")
    assert X.get_shape().as_list() == [None, 784] and str(X.shape) == "(?, 784)"
    r = tf.reshape(X, [-1, 28, 28, 1])
    assert r.get_shape().as_list() == [None, 28, 28, 1]
    flat = tf.reshape(r, [-1])
    assert flat.get_shape().as_list() == [None]          # depends on the batch: unknown
    w = tf.Variable(tf.zeros([784, 10]))
    assert tf.matmul(X, w).get_shape().as_list() == [None, 10]
    assert int(X.get_shape()[1]) == 784 and X.get_shape()[0].value is None
    assert tf.reduce_sum(X, axis=1, keep_dims=True).get_shape().as_list() == [None, 1]
    assert tf.reduce_mean(X, axis=0, keepdims=True).get_shape().as_list() == [1, 784]
    with pytest.raises(gc.ShapeError):
        tf.matmul(X, tf.zeros([10, 3]))                  # shape errors surface at build time


def test_shape_vs_get_shape():
    X = tf.placeholder(tf.float32, shape=(None, 3))
    s = tf.shape(X)
    assert s.get_shape().as_list() == [2] and s.dtype == tf.int32
    z = tf.zeros(tf.shape(X))
    assert z.get_shape().as_list() == [None, 3]
    with tf.Session() as sess:
        assert list(sess.run(s, {X: np.ones((5, 3))})) == [5, 3]
        assert sess.run(z, {X: np.ones((2, 3))}).shape == (2, 3)
        assert sess.run(tf.shape(X)[0], {X: np.ones((7, 3))}) == 7


def test_name_scopes_and_unique_names():
    y = tf.placeholder(tf.float32, (None, 1), name="y")
    y_pred = tf.placeholder(tf.float32, (None, 1), name="y_pred")
    with tf.name_scope("loss") as scope:
        assert scope == "loss/"
        error = y_pred - y
        mse = tf.reduce_mean(tf.square(error), name="mse")
    assert error.op.name == "loss/sub" and mse.op.name == "loss/mse" and mse.name == "loss/mse:0"
    with tf.name_scope("loss"):
        mse2 = tf.reduce_mean(tf.square(error), name="mse")
    assert mse2.op.name == "loss_1/mse"
    a = [tf.Variable(0, name="a"), tf.Variable(0, name="a")]
    with tf.name_scope("param"):
        a.append(tf.Variable(0, name="a"))
    with tf.name_scope("param"):
        a.append(tf.Variable(0, name="a"))
    assert [v.op.name for v in a] == ["a", "a_1", "param/a", "param_1/a"]
    assert a[2].name == "param/a:0"
    g = tf.get_default_graph()
    assert g.get_tensor_by_name("loss/mse:0") is mse and g.get_operation_by_name("param_1/a") is a[3].op


def test_variable_scope_reuse_rules():
    with tf.variable_scope("relu"):
        t = tf.get_variable("threshold", shape=(), initializer=tf.constant_initializer(0.5))
    assert t.op.name == "relu/threshold"
    with pytest.raises(ValueError, match="already exists, disallowed"):
        with tf.variable_scope("relu"):
            tf.get_variable("threshold", shape=())
    with pytest.raises(ValueError, match="does not exist"):
        with tf.variable_scope("other", reuse=True):
            tf.get_variable("threshold")
    with tf.variable_scope("relu", reuse=True):
        assert tf.get_variable("threshold") is t
    with tf.variable_scope("relu") as scope:
        scope.reuse_variables()
        assert tf.get_variable("threshold") is t
        with tf.variable_scope("inner", reuse=False):          # reuse=True is inherited
            assert tf.get_variable_scope().reuse is True
    with tf.variable_scope("relu", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("threshold") is t
        new = tf.get_variable("slope", shape=[2])
    assert new.op.name == "relu/slope"
    with pytest.raises(ValueError, match="Trying to share variable relu/slope"):
        with tf.variable_scope("relu", reuse=True):
            tf.get_variable("slope", shape=[3])


def test_collections_and_initializers():
    with tf.variable_scope("hidden1"):
        w = tf.get_variable("w", [2, 3])
    b = tf.Variable(tf.zeros([3]), name="b")
    step = tf.Variable(0, trainable=False, name="step")
    assert tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES) == [w, b]
    assert tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="hidden1") == [w]
    assert tf.global_variables() == [w, b, step] and tf.trainable_variables() == [w, b]
    with tf.Session() as sess:
        sess.run(tf.variables_initializer([b]))
        np.testing.assert_array_equal(sess.run(b), np.zeros(3))
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value hidden1/w"):
            sess.run(w)
        sess.run(tf.global_variables_initializer())
        wv = sess.run(w)
    limit = np.sqrt(6.0 / 5)                              # glorot_uniform, get_variable's default
    assert wv.shape == (2, 3) and np.all(np.abs(wv) <= limit) and np.std(wv) > 0


def test_evaluation_semantics_and_shared_inputs_once():
    w = tf.constant(3)
    x = w + 2
    y = x + 5
    z = x * 3
    with tf.Session() as sess:
        assert y.eval() == 10 and z.eval() == 15
        y_val, z_val = sess.run([y, z])
        assert (y_val, z_val) == (10, 15)
        plan = sess._plans[((y, z), ())]
        graph = next(iter(plan.fn._cache.values())).traced
    assert graph.count("= add") == 2 and graph.count("multiply") == 1   # x is one node of one program


def test_only_variables_persist_between_runs():
    v = tf.Variable(0.0)
    r = tf.random_uniform([3])
    inc = tf.assign_add(v, 1.0)
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert [sess.run(inc) for _ in range(3)] == [1.0, 2.0, 3.0]
        assert not np.array_equal(sess.run(r), sess.run(r))  # nodes are recomputed per run
    with tf.Session() as sess2:                               # each session owns its values
        sess2.run(v.initializer)
        assert sess2.run(v) == 0.0


def test_nested_fetches_and_ops():
    a = tf.constant([1.0, 2.0])
    b = a * 2
    v = tf.Variable(1.0)
    init = tf.global_variables_initializer()
    with tf.Session() as sess:
        out = sess.run({"x": [a, (b, init)], "y": v, "z": "mul:0"})
    np.testing.assert_array_equal(out["x"][0], [1, 2])
    np.testing.assert_array_equal(out["x"][1][0], [2, 4])
    assert out["x"][1][1] is None and out["y"] == 1.0 and isinstance(out["x"][1], tuple)
    np.testing.assert_array_equal(out["z"], [2, 4])


def test_feeding_any_tensor_and_placeholder_with_default():
    x = tf.placeholder(tf.float32, (None, 2), name="x")
    h = x * 10.0
    out = h + 1.0
    d = tf.placeholder_with_default(np.float32(3.0), shape=(), name="d")
    e = d * 2.0
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(out, {h: [[1.0, 2.0]]}), [[2.0, 3.0]])   # x not needed
        np.testing.assert_array_equal(sess.run(out, {x: [[1.0, 2.0]]}), [[11.0, 21.0]])
        assert sess.run(e) == 6.0 and sess.run(e, {d: 5.0}) == 10.0


def test_missing_and_bad_feeds_are_invalid_argument():
    X = tf.placeholder(tf.float32, shape=(None, 3), name="X")
    y = X + 5
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"You must feed a value for placeholder tensor 'X' with dtype float and shape \[\?,3\]"):
            sess.run(y)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Cannot feed value of shape \(2, 4\)"):
            sess.run(y, {X: np.ones((2, 4))})
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(y, {X: np.ones(3)})
        np.testing.assert_array_equal(sess.run(y, {X: [[1, 2, 3]]}), [[6, 7, 8]])


def test_uninitialized_is_failed_precondition_per_session():
    x = tf.Variable(3, name="x")
    f = x * 2
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="Attempting to use uninitialized value x"):
            sess.run(f)
        sess.run(x.initializer)
        assert sess.run(f) == 6
    with tf.Session() as other:
        with pytest.raises(tf.errors.FailedPreconditionError):
            other.run(f)
        x.load(5, other)                                  # Variable.load initializes too
        assert other.run(f) == 10
        with pytest.raises(TypeError, match="feeding tf.Variable"):
            other.run(f, {x: 1})


def test_control_dependencies_group_identity():
    v = tf.Variable(0, name="v")
    inc = tf.assign_add(v, 1)
    with tf.control_dependencies([inc]):
        after = v.read_value()
        ident = tf.identity(v)
    both = tf.group(inc, tf.assign_add(v, 10))
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(after) == 1 and sess.run(ident) == 2
        assert sess.run(both) is None and sess.run(v) == 13


def test_cond_selects_branch():
    x = tf.placeholder(tf.float32, [])
    pred = tf.placeholder(tf.bool, [])
    out = tf.cond(pred, lambda: x * 2.0, lambda: (x - 1.0))
    pair = tf.cond(x > 0.0, lambda: (x, x * 3.0), lambda: (-x, x))
    with tf.Session() as sess:
        assert sess.run(out, {x: 4.0, pred: True}) == 8.0
        assert sess.run(out, {x: 4.0, pred: False}) == 3.0
        assert sess.run(pair, {x: -2.0}) == (2.0, -2.0)


def test_eval_run_and_interactive_session():
    v = tf.Variable(2.0)
    y = v * v
    with pytest.raises(ValueError, match="No default session"):
        y.eval()
    sess = tf.InteractiveSession()
    try:
        v.initializer.run()
        assert y.eval() == 4.0 and v.eval() == 2.0 and tf.get_default_session() is sess
    finally:
        sess.close()
    assert tf.get_default_session() is None
    other = tf.Graph()
    with other.as_default():
        c = tf.constant(1.0)
    with tf.Session() as s, pytest.raises(ValueError, match="different"):
        c.eval(session=s)


def test_closed_session_and_config():
    cfg = tf.ConfigProto(log_device_placement=True, allow_soft_placement=True,
                         inter_op_parallelism_threads=1, intra_op_parallelism_threads=2)
    sess = tf.Session(config=cfg)
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(tf.constant(1.0))


def test_log_device_placement_lists_ops(capsys):
    a = tf.placeholder(tf.float32, [2], name="a")
    b = tf.add(a * 2.0, 1.0, name="b")
    with tf.Session(config=tf.ConfigProto(log_device_placement=True)) as sess:
        sess.run(b, {a: [1.0, 2.0]})
    out = capsys.readouterr().out                        # graphc's placer logs "op: device"
    assert "multiply: /cpu:0" in out and "add: /cpu:0" in out


def test_dtypes_follow_tf():
    assert tf.constant(1.0).dtype == tf.float32 and tf.constant(1).dtype == tf.int32
    assert tf.constant(np.arange(3.0)).dtype == tf.float64
    x = tf.placeholder(tf.float32, [2])
    assert (x * 2).dtype == tf.float32 and (x / 2).dtype == tf.float32
    with pytest.raises(TypeError, match="does not match"):
        x + tf.constant(1, dtype=tf.int32)
    assert tf.cast(x, tf.int32).dtype == tf.int32 and tf.argmax(tf.zeros([2, 3]), axis=1).dtype == tf.int64


def test_math_ops_against_numpy():
    a_np = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    a = tf.constant(a_np)
    m_np = np.array([[2.0, 1.0], [1.0, 3.0]], np.float32)
    m = tf.constant(m_np)
    ops = {
        "mm_t": (tf.matmul(a, a, transpose_b=True), a_np @ a_np.T),
        "mm_ta": (tf.matmul(a, a, transpose_a=True), a_np.T @ a_np),
        "sum": (tf.reduce_sum(a, axis=1), a_np.sum(1)),
        "mean_kd": (tf.reduce_mean(a, reduction_indices=[0], keep_dims=True), a_np.mean(0, keepdims=True)),
        "max": (tf.reduce_max(a), a_np.max()),
        "addn": (tf.add_n([a, a, a]), 3 * a_np),
        "sq": (tf.square(a), a_np ** 2),
        "inv": (tf.matrix_inverse(m), np.linalg.inv(m_np)),
        "T": (tf.transpose(a), a_np.T),
        "concat": (tf.concat([a, a], axis=1), np.concatenate([a_np, a_np], 1)),
        "slice": (a[:, 1:], a_np[:, 1:]),
        "onehot": (tf.one_hot([0, 2], 3), np.eye(3)[[0, 2]]),
        "where": (tf.where(a > 3.0, a, tf.zeros_like(a)), np.where(a_np > 3, a_np, 0)),
        "softmax": (tf.nn.softmax(a), np.exp(a_np) / np.exp(a_np).sum(1, keepdims=True)),
        "int_mean": (tf.reduce_mean(tf.constant([1, 2])), 1),
    }
    with tf.Session() as sess:
        values = sess.run({k: t for k, (t, _) in ops.items()})
    for k, (_, expected) in ops.items():
        np.testing.assert_allclose(values[k], expected, rtol=1e-5, atol=1e-6, err_msg=k)


def test_session_run_compiles_once_per_signature():
    X = tf.placeholder(tf.float32, (None, 4), name="X")
    w = tf.Variable(tf.ones([4, 2]))
    y = tf.nn.relu(tf.matmul(X, w))
    with tf.Session() as sess:
        sess.run(w.initializer)
        base = sess.compile_count
        for _ in range(5):
            sess.run(y, {X: np.ones((3, 4))})
        assert sess.compile_count == base + 1            # same fetches and feed shape: one program
        sess.run([y], {X: np.ones((3, 4))})              # same tensors, other nesting: same program
        assert sess.compile_count == base + 1
        sess.run(y, {X: np.ones((5, 4))})                # another batch: the same program
        assert sess.compile_count == base + 1            # (X's None dimension is symbolic, issue 13)
        sess.run([y, X * 2.0], {X: np.ones((5, 4))})
        assert sess.compile_count == base + 2            # new fetches


def test_session_run_is_one_native_call_like_gc_compile():
    """A run is one native call: no per-op Python dispatch (the chain has 60 ops)."""
    x = tf.placeholder(tf.float32, (8, 8), name="x")
    y = x
    for _ in range(30):
        y = tf.tanh(y * 1.01)
    sess = tf.Session()

    def chain(a):
        for _ in range(30):
            a = gc.tanh(a * np.float32(1.01))
        return a

    compiled = gc.compile(chain)
    xb = np.random.rand(8, 8).astype(np.float32)
    np.testing.assert_allclose(sess.run(y, {x: xb}), compiled(xb), rtol=1e-6)

    # Structure, not timing (speed is the bench's job): after the first run, each run is
    # one native call and no op is dispatched or traced in Python.
    from graphc import tracing
    from graphc._runtime import executable

    calls = {"native": 0, "nodes": 0}
    native_call, add_node = executable.Executable.__call__, tracing.Trace.add

    def count_native(self, arrays):
        calls["native"] += 1
        return native_call(self, arrays)

    def count_nodes(self, node):  # every traced op goes through Trace.add
        calls["nodes"] += 1
        return add_node(self, node)

    executable.Executable.__call__ = count_native
    tracing.Trace.add = count_nodes
    try:
        for _ in range(10):
            sess.run(y, {x: xb})
        assert calls == {"native": 10, "nodes": 0}
        sess.run(y * 2, {x: xb})  # a new fetch is traced and compiled once: nodes appear
        assert calls["nodes"] > 0 and calls["native"] == 11
    finally:
        executable.Executable.__call__ = native_call
        tracing.Trace.add = add_node
    assert sess.compile_count == 2


def test_random_ops_shapes_and_statistics():
    tf.set_random_seed(0)
    u = tf.random_uniform([20000], -1.0, 1.0)
    n = tf.random_normal([20000], mean=2.0, stddev=3.0, seed=5)
    t = tf.truncated_normal([20000], stddev=0.5)
    X = tf.placeholder(tf.float32, (None, 2))
    r = tf.random_normal(tf.shape(X))
    assert r.get_shape().as_list() == [None, 2] and u.get_shape().as_list() == [20000]
    with tf.Session() as sess:
        uv, nv, tv = sess.run([u, n, t])
        assert sess.run(r, {X: np.zeros((7, 2))}).shape == (7, 2)
    assert -1 <= uv.min() and uv.max() < 1 and abs(uv.mean()) < 0.03
    assert abs(nv.mean() - 2) < 0.1 and abs(nv.std() - 3) < 0.1
    assert np.abs(tv).max() <= 1.0 and abs(tv.std() - 0.5 * 0.8796) < 0.02   # redrawn beyond 2 stddev


def test_array_ops_against_numpy():
    a_np = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = tf.placeholder(tf.float32, (None, 3, 4))
    parts = tf.split(a, [1, 3], axis=2)
    ops = {
        "split0": (parts[0], a_np[:, :, :1]), "split1": (parts[1], a_np[:, :, 1:]),
        "split_n": (tf.split(a, 3, axis=1)[2], a_np[:, 2:]),
        "stack": (tf.stack([a, a], axis=1), np.stack([a_np, a_np], 1)),
        "unstack": (tf.unstack(a, axis=1)[1], a_np[:, 1]),
        "expand": (tf.expand_dims(a, 0), a_np[None]),
        "squeeze": (tf.squeeze(tf.expand_dims(a, 2), axis=[2]), a_np),
        "perm": (tf.transpose(a, perm=[2, 0, 1]), a_np.transpose(2, 0, 1)),
        "ones_like": (tf.ones_like(a), np.ones_like(a_np)),
        "fill": (tf.fill([2, 2], 7.0), np.full((2, 2), 7.0)),
        "range": (tf.range(2, 11, 3), np.arange(2, 11, 3)),
        "size_rank": (tf.size(a) + tf.rank(a), 27),
        "argmax": (tf.argmax(a, axis=2), a_np.argmax(2)),
        "gather": (tf.gather(a, [1, 1, 0]), a_np[[1, 1, 0]]),
        "clip": (tf.clip_by_value(a, 3.0, 10.0), np.clip(a_np, 3, 10)),
    }
    assert parts[1].get_shape().as_list() == [None, 3, 3] and ops["stack"][0].get_shape().as_list() == [None, 2, 3, 4]
    with tf.Session() as sess:
        values = sess.run({k: t for k, (t, _) in ops.items()}, {a: a_np})
    for k, (_, expected) in ops.items():
        np.testing.assert_allclose(values[k], expected, err_msg=k)
    assert values["range"].dtype == np.int32
