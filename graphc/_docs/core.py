"""Reference sections of compiling, tracing, transformations, control flow, state,
export, devices, profiling and the error classes."""
from __future__ import annotations

from . import parse_table

_ERR = "Raised by any op or transformation whose input is wrong in this way; the message\n" \
       "names the op, the operands' shapes and dtypes, and the user's source line."

TABLE = r"""
=== compile
Args:
    fn: the Python function to compile (numpy-like code on its array arguments); omit
        it to get a decorator with these options.
    target: "cpu" (LLVM, vectorized and multithreaded) or "cuda" (PTX).
    fuse: fuse elementwise ops and reductions into kernels (False: one kernel per op).
    dynamic: a symbol name ("batch") making the leading dimension of every array
        argument symbolic: one compilation for every size.
    shapes: {argument name: shape with symbols} (e.g. {"x": ("n", 784)}).
    dynamic_args: the positional arguments ``dynamic`` applies to (default: all).
    static_argnums: positions of hashable Python arguments (part of the cache key).
    static_argnames: names of such arguments.
    **options: placement (placement, allow_soft_placement, log_device_placement,
        devices) and dump_dir.
Returns:
    A CompiledFunction (or a decorator returning one): call it with numpy arrays,
    pytrees of them and Python scalars; it traces, optimizes and compiles once per
    signature and returns numpy arrays in fn's output structure.
Raises:
    TypeError: an unknown option (the message names it and lists the valid ones), or
        an unhashable static argument.
    ShapeError, DTypeError, TraceError: at the first call, when tracing fn fails.
Example:
    >>> f = gc.compile(lambda x, w: gc.relu(x @ w).sum(axis=1))
    >>> f(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32))
    array([12., 12.], dtype=float32)
    >>> gc.compile(lambda x: x, fusee=False)
    Traceback (most recent call last):
        ...
    TypeError: gc.compile got an unknown option 'fusee' (did you mean 'fuse'?); valid options:...
=== CompiledFunction
Args:
    fn: the Python function.
    target: "cpu" or "cuda".
    fuse: kernel fusion on/off.
    dynamic: the symbol of the leading dimensions, or None.
    shapes: per-argument symbolic shapes, or None.
    dynamic_args: the positional arguments ``dynamic`` applies to.
    static_argnums: positions of static (hashable Python) arguments.
    static_argnames: names of static arguments.
    **options: placement options and dump_dir (see gc.compile).
Raises:
    TypeError: an unknown option.
Example:
    >>> f = gc.compile(lambda x: x * 2.0)
    >>> isinstance(f, gc.CompiledFunction), f(np.arange(3.0))
    (True, array([0., 2., 4.]))
    >>> "multiply" in f.ir(np.arange(3.0), stage="optimized")
    True
=== trace
Args:
    fn: the Python function.
    *args: example arguments (arrays, pytrees of them, Python scalars).
    name: the graph's name (fn's name by default).
    shapes: per leaf, a shape with symbolic dimensions, or None.
Returns:
    The traced ``gc.Graph`` (print it for one line per node with shapes and dtypes).
Raises:
    ShapeError, DTypeError, TraceError: fn cannot be traced for these arguments.
Example:
    >>> print(gc.trace(lambda x: gc.exp(x) + 1.0, np.zeros(3, np.float32)))
    graph <lambda>(%0: float32[3]) {
      %0: float32[3] = param() {index=0}
      %1: float32[3] = exp(%0)
      %2: float32[] = constant() {value=1.}
      %3: float32[3] = add(%1, %2)
      return (%3)
    }
=== interpret
Args:
    graph: a gc.Graph (from gc.trace).
    *args: numpy inputs with the structure of the traced call.
    update_variables: write the graph's variable updates back to the Variables.
Returns:
    The outputs computed with every op's numpy reference (the test oracle), in the
    traced output structure.
Raises:
    TypeError: an input's shape or dtype differs from the traced parameter's.
Example:
    >>> g = gc.trace(lambda x: x * 3.0, np.zeros(2))
    >>> gc.interpret(g, np.array([1.0, 2.0]))
    array([3., 6.])
=== grad
Args:
    fn: a function returning a float scalar.
    argnums: the int position (or a tuple of positions) to differentiate.
Returns:
    A function with fn's arguments returning the gradient (a tuple of gradients for
    a tuple ``argnums``), each shaped like its argument. It works eagerly and inside
    gc.compile.
Raises:
    TraceError: fn's result is not a scalar (the message points at the user's line).
    DTypeError: an argument to differentiate is not a float array.
Example:
    >>> gc.grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> gc.grad(lambda x, y: (x * y).sum(), argnums=(0, 1))(np.array([2.0]), np.array([5.0]))
    (array([5.]), array([2.]))
=== value_and_grad
Args:
    fn: a function returning a float scalar.
    argnums: the position (or tuple of positions) to differentiate.
Returns:
    A function returning (fn's value, gradient(s)).
Raises:
    TraceError: fn's result is not a scalar.
Example:
    >>> gc.value_and_grad(lambda x: (x ** 3).sum())(np.array([2.0]))
    (array(8.), array([12.]))
=== gradients
Args:
    ys: a Tensor or a list of Tensors inside a trace (their sum is differentiated).
    xs: a Tensor, Variable, or a list of them.
    grad_ys: optional weights (cotangents) for ys, one per y.
Returns:
    A list with one gradient Tensor per x (None where x does not affect ys); a single
    gradient when xs is a single value.
Raises:
    TraceError: called outside a trace.
Example:
    >>> def f(x):
    ...     y = gc.sin(x)
    ...     return gc.gradients([y], [x])[0]
    >>> gc.compile(f)(np.array([0.0, np.pi]))
    array([ 1., -1.])
=== jvp
Args:
    fn: the function.
    primals: a tuple with one argument (pytree of float arrays) per parameter of fn.
    tangents: a tuple like primals: the direction.
Returns:
    (fn(*primals), the Jacobian-vector product J @ tangents) in fn's output structure.
Raises:
    TraceError: a tangent's shape differs from its primal's.
Example:
    >>> gc.jvp(lambda x: x ** 2, (np.array([3.0]),), (np.array([1.0]),))
    (array([9.]), array([6.]))
=== jacfwd
Args:
    fn: the function.
    argnums: the int position (or tuple of positions) to differentiate.
Returns:
    A function returning the Jacobian of shape out.shape + x.shape (one forward pass
    per input element: for small inputs).
Raises:
    TraceError: a non-float argument to differentiate.
Example:
    >>> gc.jacfwd(lambda x: x * np.array([1.0, 2.0]))(np.array([5.0, 7.0]))
    array([[1., 0.],
           [0., 2.]])
=== jacrev
Args:
    fn: the function.
    argnums: the int position (or tuple of positions) to differentiate.
Returns:
    A function returning the Jacobian of shape out.shape + x.shape (one reverse pass
    per output element: for small outputs).
Raises:
    TraceError: a non-float argument to differentiate.
Example:
    >>> gc.jacrev(lambda x: gc.stack([x[0] * x[1], x[0]]))(np.array([2.0, 3.0]))
    array([[3., 2.],
           [1., 0.]])
=== hessian
Args:
    fn: a function returning a float scalar.
    argnums: the position to differentiate.
Returns:
    A function returning the matrix of second derivatives, shape x.shape * 2 (for a
    non-scalar fn, jacfwd of its Jacobian: out.shape + x.shape * 2).
Raises:
    TraceError: a non-float argument to differentiate.
Example:
    >>> gc.hessian(lambda x: (x[0] ** 2) * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
=== vmap
Args:
    fn: a function written for one example.
    in_axes: an int, None (shared argument) or a tuple with one int/None per argument.
    out_axes: where the batch axis goes in the outputs (an int or one per output).
Returns:
    The batched function: mapped arguments carry the extra axis (all of size B).
Raises:
    ShapeError: the mapped axes' sizes differ.
    TraceError: fn uses an op without a batching rule (the message names it).
Example:
    >>> w = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> gc.vmap(lambda x, w: x @ w, in_axes=(0, None))(np.array([[1.0, 1.0], [2.0, 3.0]]), w)
    array([[1., 2.],
           [2., 6.]])
=== custom_vjp
Args:
    fun: the function to give a gradient rule; then call ``fun.defvjp(fwd, bwd)``.
Raises:
    TraceError: used inside vmap or checkpoint.
Example:
    >>> @gc.custom_vjp
    ... def scaled_identity(x):
    ...     return x
    >>> _ = scaled_identity.defvjp(lambda x: (x, None), lambda res, g: (g * 10.0,))
    >>> gc.grad(lambda x: scaled_identity(x).sum())(np.array([1.0, 2.0]))
    array([10., 10.])
=== checkpoint
Args:
    fn: the function whose intermediates the backward pass recomputes.
Returns:
    A function with fn's values and gradients.
Raises:
    TraceError: used inside vmap.
Example:
    >>> block = gc.checkpoint(lambda h: gc.tanh(h) * 2.0)
    >>> gc.grad(lambda h: block(h).sum())(np.array([0.0]))
    array([2.])
=== scan
Args:
    fn: ``(carry, x) -> (carry, y)``; carry a pytree of arrays of fixed shapes.
    init: the initial carry.
    xs: a pytree of arrays sharing a leading axis (or None with ``length``).
    length: the number of steps when xs is None.
    reverse: iterate from the last element.
Returns:
    (final carry, ys stacked along a new leading axis).
Raises:
    TraceError: fn changes the carry's shapes or dtypes (the message names the carry).
Example:
    >>> gc.scan(lambda c, x: (c + x, c * x), 0.0, np.array([1.0, 2.0, 3.0]))
    (array(6.), array([0., 2., 9.]))
=== cond
Args:
    pred: a bool scalar (traced or Python).
    true_fn: called with operands when pred is true.
    false_fn: called with operands otherwise; both return the same structure, shapes
        and dtypes.
    *operands: arguments of the branches.
Returns:
    The taken branch's result (only that branch runs).
Raises:
    ShapeError: the branches return different structures, shapes or dtypes.
Example:
    >>> f = gc.compile(lambda x: gc.cond(x.sum() > 0, lambda v: v * 2.0, lambda v: -v, x))
    >>> f(np.array([1.0, 2.0])), f(np.array([-1.0, -2.0]))
    (array([2., 4.]), array([1., 2.]))
=== while_loop
Args:
    cond_fn: vars -> bool scalar.
    body_fn: vars -> new vars of the same structure, shapes and dtypes.
    init: the initial vars (a pytree of arrays).
    max_iterations: stop after at most this many iterations (None: no limit).
Returns:
    The final vars.
Raises:
    ShapeError: body_fn changes the structure, shapes or dtypes.
Example:
    >>> gc.compile(lambda x: gc.while_loop(lambda v: v < 100.0, lambda v: v * 3.0, x))(np.float64(1.0))
    array(243.)
=== Variable
Args:
    initial_value: an array_like (its shape and dtype are the variable's).
    name: the variable's name (Saver keys checkpoints by it).
    trainable: whether optimizers update it by default.
    dtype: convert the initial value to this dtype.
Raises:
    DTypeError: an unsupported dtype.
Example:
    >>> v = gc.Variable(np.zeros(2, np.float32), name="v")
    >>> step = gc.compile(lambda x: v.assign_add(x))
    >>> _ = step(np.ones(2, np.float32)); _ = step(np.ones(2, np.float32))
    >>> v.numpy()
    array([2., 2.], dtype=float32)
=== Saver
Args:
    var_list: a list of Variables (keyed by their names) or a dict {name: Variable}.
    max_to_keep: how many of the newest checkpoints to keep (None or 0: all).
Raises:
    CheckpointError: (restore) a missing, truncated or corrupted file, or one that does
        not match the variables; nothing is assigned then.
Example:
    >>> import os, tempfile
    >>> v = gc.Variable(np.array([1.0, 2.0]), name="weights")
    >>> saver = gc.Saver([v])
    >>> path = saver.save(os.path.join(tempfile.mkdtemp(), "model"))
    >>> v.assign(np.zeros(2))
    <graphc.Variable 'weights' float64[2]>
    >>> saver.restore(path)
    >>> v.numpy()
    array([1., 2.])
=== export
Args:
    fn: the function (or a gc.compile result).
    example_args: a tuple of example arguments (arrays, gc.TensorSpecs, scalars).
    path: the shared library to write (e.g. "libmlp.so").
    name: the C symbol prefix (the file name by default).
    header: where to write the C header (next to the library by default).
    fuse: kernel fusion (as gc.compile).
    target: "cpu".
    dynamic: a symbolic leading dimension (the C functions take the sizes first).
    shapes: per-argument symbolic shapes.
    **options: gc.compile options.
Returns:
    An ExportedLibrary describing the library, its header and its C signature.
Raises:
    ExportError: the library cannot be built, linked or checked (e.g. generated code
        calling outside the graphc runtime, or depending on more than libc/libm/libpthread).
    TypeError: an unknown dtype name in a TensorSpec.
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "libaxpy.so")
    >>> lib = gc.export(lambda x, y: 2.0 * x + y, (gc.TensorSpec((3,), "float32"),) * 2, path)
    >>> gc.load_library(path)(np.ones(3, np.float32), np.arange(3, dtype=np.float32))
    array([2., 3., 4.], dtype=float32)
=== load_library
Args:
    path: an exported shared library.
    name: its C symbol prefix (the file name without lib/.so by default).
Returns:
    A Library: call it with numpy arrays to run the native function (``inputs``,
    ``outputs``, ``metadata`` describe it).
Raises:
    FileNotFoundError: no such file.
    ExportError: the file is not a graphc shared library.
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "libtwice.so")
    >>> _ = gc.export(lambda x: x * 2.0, (gc.TensorSpec((2,), "float64"),), path)
    >>> gc.load_library(path)(np.array([1.0, 4.0]))
    array([2., 8.])
=== TensorSpec
Args:
    shape: a tuple of ints (or symbols with gc.export's ``dynamic``/``shapes``).
    dtype: the dtype name (checked when gc.export uses the spec).
Example:
    >>> gc.TensorSpec((2, 3), "float32")
    TensorSpec(shape=(2, 3), dtype='float32')
=== register_pytree_node
Args:
    cls: the class to register.
    flatten_fn: obj -> (children, hashable aux data).
    unflatten_fn: (aux data, children) -> obj.
Returns:
    None.
Raises:
    ValueError: cls is already registered.
Example:
    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> gc.register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    <class 'Pair'>
    >>> gc.compile(lambda p: p.a + p.b)(Pair(np.ones(2), np.ones(2)))
    array([2., 2.])
=== tree_map
Args:
    fn: applied to every leaf.
    tree: a pytree (tuples, lists, dicts, namedtuples, dataclasses, registered classes).
    *rest: pytrees of the same structure whose leaves are passed alongside.
Returns:
    A pytree of tree's structure holding fn's results.
Raises:
    ValueError: a tree in rest has another structure.
Example:
    >>> gc.tree_map(lambda a, b: a + b, {"w": 1, "b": (2, 3)}, {"w": 10, "b": (20, 30)})
    {'b': (22, 33), 'w': 11}
=== device
Args:
    name: a device name ("/cpu:0", "/gpu:0"), or None to clear an outer pin.
Raises:
    DeviceError: a malformed name; at compile time, a device that does not exist
        (unless soft placement is on).
Example:
    >>> with gc.device("/cpu:0"):
    ...     y = gc.compile(lambda x: x + 1.0)(np.zeros(2))
    >>> y
    array([1., 1.])
=== available_devices
Returns:
    A list of device names, "/cpu:0" first, then one per GPU found.
Example:
    >>> gc.available_devices()[0]
    '/cpu:0'
=== cpu_info
Args:
    print_it: also print the model.
Returns:
    The CPUModel: ISA, vector width, FMA, caches and cores that code generation uses.
Example:
    >>> info = gc.cpu_info()
    >>> info.vector_bits in (128, 256, 512)
    True
=== profile
Args:
    path: a file to write the trace-event JSON to when the block ends (None: keep it
        in memory).
Returns:
    A context manager yielding the Recorder (``.trace()`` gives the trace dict, for
    chrome://tracing or Perfetto).
Example:
    >>> f = gc.compile(lambda x: x + 1.0)
    >>> with gc.profile() as rec:
    ...     _ = f(np.zeros(3))
    >>> "traceEvents" in rec.trace()
    True
=== Graph
Args:
    name: the graph's name.
Example:
    >>> g = gc.trace(lambda x: x + 1.0, np.zeros(2))
    >>> isinstance(g, gc.Graph), [n.op for n in g.nodes]
    (True, ['param', 'constant', 'add'])
=== Node
Args:
    op: the registered op name.
    inputs: the input Nodes.
    attrs: the op's attributes (names starting with _ are not printed).
    type: the result's TensorType.
    loc: the user's source line.
    device: the device it is placed on, or None.
Example:
    >>> g = gc.trace(lambda x: gc.exp(x), np.zeros(2))
    >>> node = g.outputs[0]
    >>> node.op, node.type
    ('exp', TensorType(shape=(2,), dtype='float64'))
=== Tensor
Args:
    node: the Node computing the value.
    trace: the Trace it belongs to.
Example:
    >>> gc.compile(lambda x: type(x).__name__ == "Tensor" and x.shape == (2,))(np.zeros(2))
    array(True)
=== TensorType
The static type of a value: a shape (ints, or symbols for symbolic dimensions) and a
dtype name.

Args:
    shape: a tuple of ints or symbol names.
    dtype: the dtype name.
Example:
    >>> gc.trace(lambda x: x.sum(axis=0), np.zeros((2, 3), np.float32)).outputs[0].type
    TensorType(shape=(3,), dtype='float32')
=== GraphcError
Example:
    >>> issubclass(gc.ShapeError, gc.GraphcError)
    True
=== ShapeError
@ERR
Example:
    >>> gc.add(np.ones(3), np.ones(4))
    Traceback (most recent call last):
        ...
    graphc.errors.ShapeError: add: shapes (3,) and (4,) cannot be broadcast together (operands...
=== DTypeError
@ERR
Example:
    >>> gc.bitwise_and(np.ones(2), np.ones(2))
    Traceback (most recent call last):
        ...
    graphc.errors.DTypeError: bitwise_and: graphc supports integer operands only, got float64...
=== TraceError
Example:
    >>> gc.compile(lambda x: 1.0 if x.sum() > 0 else 0.0)(np.ones(2))
    Traceback (most recent call last):
        ...
    graphc.errors.TraceError: the truth value of a traced Tensor is not known at trace time; u...
=== NumpyOnTracedValueError
Example:
    >>> gc.compile(lambda x: np.sin(x))(np.ones(2))
    Traceback (most recent call last):
        ...
    graphc.numpy_interop.NumpyOnTracedValueError: numpy.sin was called on a traced Tensor insi...
=== CompileError
Example:
    >>> issubclass(gc.CompileError, gc.GraphcError)
    True
=== UnknownOpError
Example:
    >>> from graphc.ops.registry import get_op
    >>> get_op("no_such_op")
    Traceback (most recent call last):
        ...
    graphc.errors.UnknownOpError: unknown op 'no_such_op' (known: abs, add, arccos, arccosh, a...
=== VerificationError
Example:
    >>> issubclass(gc.VerificationError, gc.GraphcError)
    True
=== DeviceError
Example:
    >>> gc.device("gpu0")
    Traceback (most recent call last):
        ...
    graphc.errors.DeviceError: malformed device name 'gpu0' (expected e.g. '/cpu:0' or '/gpu:0...
=== ExportError
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "libfake.so")
    >>> with open(path, "w") as f:
    ...     _ = f.write("not a library")
    >>> gc.load_library(path)
    Traceback (most recent call last):
        ...
    graphc.errors.ExportError: cannot load ...libfake.so: not an ELF shared library...
=== CheckpointError
Example:
    >>> gc.Saver([gc.Variable(np.zeros(2), name="w")]).restore("/nonexistent/model")
    Traceback (most recent call last):
        ...
    graphc.errors.CheckpointError: no checkpoint at '/nonexistent/model.npz'
=== IndexingError
Example:
    >>> gc.take(np.arange(3), np.array([5]))
    Traceback (most recent call last):
        ...
    graphc.errors.IndexingError: take: index out of bounds for axis 0 with size 3...
=== InvalidValueError
Example:
    >>> gc.power(np.array([2]), -1)
    Traceback (most recent call last):
        ...
    graphc.errors.InvalidValueError: power: Integers to negative integer powers are not allowe...
=== ScalarOverflowError
Example:
    >>> gc.add(np.array([1], np.int32), 2 ** 40)
    Traceback (most recent call last):
        ...
    graphc.errors.ScalarOverflowError: Python integer 1099511627776 out of bounds for int32...
=== ArgumentError
Example:
    >>> gc.sum(np.ones(3), axis=1.5)
    Traceback (most recent call last):
        ...
    graphc.errors.ArgumentError: axis must be an integer, got float 1.5...
=== OutOfMemoryError
Example:
    >>> issubclass(gc.OutOfMemoryError, MemoryError)
    True
"""


def entries() -> dict:
    return {name: entry.replace("@ERR", _ERR) for name, entry in parse_table(TABLE).items()}
