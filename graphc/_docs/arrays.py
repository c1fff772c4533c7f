"""Reference sections of reductions, scans, shape, creation, indexing, sorting and
linear-algebra functions, and of the elementwise functions outside the templates."""
from __future__ import annotations

from . import parse_table

_X = "x: array_like (ndarray, Tensor or Python number) of any shape and number dtype."
_AXIS = ("axis: None (every axis), an int or a tuple of ints; negative values count\n"
         "        from the end.")
_KEEP = "keepdims: keep the reduced axes with size 1 (so the result broadcasts against x)."
_AXIS_ERR = "ShapeError: an axis is out of range for x's rank (the message names it)."

TABLE = rf"""
=== sum
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    The sum over ``axis``: x's dtype for floats and 64-bit integers, int64 for
    int32/bool (numpy's rule); shape x.shape without the reduced axes.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.sum(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([4., 6.])
    >>> gc.sum(np.array([[1, 2], [3, 4]], np.int32))
    array(10)
=== mean
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    The sum over ``axis`` divided by the count: float (float64 for integer and bool
    inputs); NaN for an empty reduction, as numpy.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.mean(np.array([[1.0, 2.0], [3.0, 5.0]]), axis=1, keepdims=True)
    array([[1.5],
           [4. ]])
=== max
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    The largest element over ``axis`` (NaN if any is NaN), x's dtype.
Raises:
    {_AXIS_ERR} An empty reduction raises it too (max/min have no identity).
Example:
    >>> gc.max(np.array([[1.0, 7.0], [3.0, 4.0]]), axis=1)
    array([7., 4.])
=== min
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    The smallest element over ``axis`` (NaN if any is NaN), x's dtype.
Raises:
    {_AXIS_ERR} An empty reduction raises it too (max/min have no identity).
Example:
    >>> gc.min(np.array([[1.0, 7.0], [3.0, 4.0]]), axis=0)
    array([1., 4.])
=== prod
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    The product over ``axis`` (1 for an empty reduction); dtype as for ``sum``.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.prod(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2., 12.])
=== argmax
Args:
    {_X}
    axis: None (the flattened array) or an int.
    {_KEEP}
Returns:
    int64 positions of the first largest element along ``axis`` (a NaN counts as
    largest, as numpy).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.argmax(np.array([[1.0, 7.0, 7.0], [9.0, 4.0, 0.0]]), axis=1)
    array([1, 0])
=== argmin
Args:
    {_X}
    axis: None (the flattened array) or an int.
    {_KEEP}
Returns:
    int64 positions of the first smallest element along ``axis``.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.argmin(np.array([[1.0, 7.0, 0.0], [9.0, 4.0, 4.0]]), axis=1)
    array([2, 1])
=== var
Args:
    {_X}
    {_AXIS}
    ddof: the divisor is N - ddof (0: the biased variance, 1: the unbiased one).
    {_KEEP}
Returns:
    The mean of squared deviations over ``axis``, divided by N - ddof; float
    (float64 for integers).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.var(np.array([1.0, 2.0, 3.0, 4.0])), gc.var(np.array([1.0, 2.0, 3.0, 4.0]), ddof=1)
    (array(1.25), array(1.66666667))
=== std
Args:
    {_X}
    {_AXIS}
    ddof: the divisor of the variance is N - ddof.
    {_KEEP}
Returns:
    sqrt(var(x, axis, ddof)); float (float64 for integers).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.std(np.array([[1.0, 3.0], [2.0, 2.0]]), axis=1)
    array([1., 0.])
=== logsumexp
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    log(sum(exp(x))) over ``axis``, computed as max + log(sum(exp(x - max))) so large
    inputs do not overflow; float.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.logsumexp(np.array([1000.0, 1000.0]))
    array(1000.69314718)
=== any
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    bool: whether some element along ``axis`` is nonzero (False for an empty axis).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.any(np.array([[0, 0], [0, 3]]), axis=1)
    array([False,  True])
=== all
Args:
    {_X}
    {_AXIS}
    {_KEEP}
Returns:
    bool: whether every element along ``axis`` is nonzero (True for an empty axis).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.all(np.array([[1, 2], [0, 3]]), axis=1)
    array([ True, False])
=== cumsum
Args:
    {_X}
    axis: an int, or None to scan the flattened array.
Returns:
    Running sums along ``axis`` (x's shape, or 1-D for None); dtype as for ``sum``.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.cumsum(np.array([[1, 2], [3, 4]]), axis=1)
    array([[1, 3],
           [3, 7]])
=== cumprod
Args:
    {_X}
    axis: an int, or None to scan the flattened array.
Returns:
    Running products along ``axis`` (x's shape, or 1-D for None).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.cumprod(np.array([1.0, 2.0, 3.0, 4.0]))
    array([ 1.,  2.,  6., 24.])
=== reshape
Args:
    {_X}
    shape: a tuple of ints (one may be -1: inferred) whose product is x.size.
Returns:
    x's elements in row-major order with the new shape; same dtype.
Raises:
    ShapeError: the sizes differ, or more than one -1.
    ArgumentError: a non-integer entry.
Example:
    >>> gc.reshape(np.arange(6), (2, -1))
    array([[0, 1, 2],
           [3, 4, 5]])
    >>> gc.reshape(np.arange(6), (4, 2))
    Traceback (most recent call last):
        ...
    graphc.errors.ShapeError: reshape: cannot reshape array of size 6 into shape (4, 2) (opera...
=== transpose
Args:
    {_X}
    axes: a permutation of range(x.ndim); None reverses the axes.
Returns:
    x with its axes permuted (shape permuted the same way).
Raises:
    ShapeError: ``axes`` is not a permutation of x's axes.
Example:
    >>> gc.transpose(np.zeros((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
=== expand_dims
Args:
    {_X}
    axis: an int or a tuple of ints: positions of the new size-1 axes in the result.
Returns:
    x with size-1 axes inserted.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.expand_dims(np.array([1.0, 2.0]), 0)
    array([[1., 2.]])
=== squeeze
Args:
    {_X}
    axis: None (every size-1 axis), an int or a tuple of ints.
Returns:
    x without the given size-1 axes.
Raises:
    ShapeError: an axis named is not of size 1, or out of range.
Example:
    >>> gc.squeeze(np.zeros((1, 3, 1))).shape
    (3,)
=== broadcast_to
Args:
    {_X}
    shape: the target shape (a tuple of ints) x broadcasts to by numpy's rules.
Returns:
    x repeated along the broadcast axes (a view in compiled code, no copy).
Raises:
    ShapeError: x does not broadcast to ``shape``.
Example:
    >>> gc.broadcast_to(np.array([1, 2]), (2, 2))
    array([[1, 2],
           [1, 2]])
=== concatenate
Args:
    xs: a sequence of array_likes with equal shapes except along ``axis``; dtypes promote.
    axis: the int axis to join along.
Returns:
    One array whose ``axis`` is the sum of the parts' sizes.
Raises:
    ShapeError: the other dimensions differ, or the axis is out of range.
Example:
    >>> gc.concatenate([np.array([1, 2]), np.array([3])])
    array([1, 2, 3])
=== stack
Args:
    xs: a sequence of array_likes of one shape.
    axis: where the new axis goes in the result.
Returns:
    The arrays joined along a new axis of size len(xs).
Raises:
    ShapeError: the shapes differ.
Example:
    >>> gc.stack([np.array([1, 2]), np.array([3, 4])], axis=1)
    array([[1, 3],
           [2, 4]])
=== split
Args:
    {_X}
    indices_or_sections: an int N (N equal parts) or a list of split points.
    axis: the int axis to split.
Returns:
    A list of arrays (views of x's parts).
Raises:
    ShapeError: N does not divide the axis, or the axis is out of range.
Example:
    >>> gc.split(np.arange(6), 3)
    [array([0, 1]), array([2, 3]), array([4, 5])]
    >>> gc.split(np.arange(6), [1, 4])
    [array([0]), array([1, 2, 3]), array([4, 5])]
=== unstack
Args:
    {_X}
    axis: the int axis to split into size-1 parts and drop.
Returns:
    A list of x.shape[axis] arrays with that axis removed (tf.unstack).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.unstack(np.array([[1, 2], [3, 4]]), axis=1)
    [array([1, 3]), array([2, 4])]
=== tile
Args:
    {_X}
    reps: an int or a tuple of ints: repetitions per axis (numpy's rules when the
        lengths differ).
Returns:
    x repeated ``reps`` times along each axis.
Raises:
    ValueError: a negative repetition count.
Example:
    >>> gc.tile(np.array([1, 2]), (2, 2))
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]])
=== repeat
Args:
    {_X}
    repeats: a non-negative int: how often each element is repeated.
    axis: the int axis to repeat along; None repeats the flattened array.
Returns:
    x with every element repeated ``repeats`` times along ``axis``.
Raises:
    ValueError: ``repeats`` is negative.
    ShapeError: ``repeats`` is not one int (graphc takes a single count).
Example:
    >>> gc.repeat(np.array([[1, 2], [3, 4]]), 2, axis=1)
    array([[1, 1, 2, 2],
           [3, 3, 4, 4]])
=== pad
Args:
    {_X}
    pad_width: numpy's pad widths: an int, (before, after), or one pair per axis.
    mode: "constant", "edge", "reflect" or "symmetric".
    constant_values: the fill value of mode "constant".
Returns:
    x padded; each axis grows by before + after.
Raises:
    ValueError: an unknown mode.
    ShapeError: a pad_width that does not fit x's rank, or a negative width.
Example:
    >>> gc.pad(np.array([1, 2, 3]), (1, 2), mode="reflect")
    array([2, 1, 2, 3, 2, 1])
    >>> gc.pad(np.array([[1, 2]]), 1, constant_values=9)
    array([[9, 9, 9, 9],
           [9, 1, 2, 9],
           [9, 9, 9, 9]])
=== flip
Args:
    {_X}
    axis: None (every axis), an int or a tuple of ints.
Returns:
    x with the order of elements reversed along ``axis``.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.flip(np.array([[1, 2], [3, 4]]), axis=1)
    array([[2, 1],
           [4, 3]])
=== roll
Args:
    {_X}
    shift: an int or a tuple of ints (one per axis).
    axis: None (the flattened array), an int or a tuple of ints.
Returns:
    x with its elements shifted cyclically by ``shift`` along ``axis``.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.roll(np.array([1, 2, 3, 4]), 1)
    array([4, 1, 2, 3])
=== zeros
Args:
    shape: an int or a tuple of ints.
    dtype: the dtype name (float32 by default, as TensorFlow; numpy uses float64).
Returns:
    An array of zeros (a constant inside a trace).
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.zeros((2, 2))
    array([[0., 0.],
           [0., 0.]], dtype=float32)
=== ones
Args:
    shape: an int or a tuple of ints.
    dtype: the dtype name (float32 by default).
Returns:
    An array of ones.
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.ones(3, dtype="int32")
    array([1, 1, 1], dtype=int32)
=== full
Args:
    shape: an int or a tuple of ints.
    fill_value: a Python number, numpy scalar or 0-d array (a traced scalar inside a
        trace).
    dtype: the dtype name; None takes numpy's dtype of ``fill_value``.
Returns:
    An array of ``shape`` filled with ``fill_value``.
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.full((2, 3), 7.5)
    array([[7.5, 7.5, 7.5],
           [7.5, 7.5, 7.5]])
=== arange
Args:
    start: the first value (or the stop when ``stop`` is None).
    stop: the end (excluded).
    step: the spacing (not 0).
    dtype: the dtype name; None: int64 for integer arguments, float64 otherwise (numpy).
Returns:
    A 1-D array of evenly spaced values in [start, stop).
Raises:
    ZeroDivisionError: step is 0.
Example:
    >>> gc.arange(5)
    array([0, 1, 2, 3, 4])
    >>> gc.arange(1.0, 2.0, 0.25)
    array([1.  , 1.25, 1.5 , 1.75])
=== eye
Args:
    N: rows.
    M: columns (N if None).
    k: the diagonal (0 main, > 0 above, < 0 below).
    dtype: the dtype name (float32 by default).
Returns:
    An (N, M) array with ones on the k-th diagonal, zeros elsewhere.
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
=== tri
Args:
    N: rows.
    M: columns (N if None).
    k: the diagonal at and below which the ones are.
    dtype: the dtype name (float32 by default).
Returns:
    An (N, M) lower-triangular array of ones.
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.tri(3)
    array([[1., 0., 0.],
           [1., 1., 0.],
           [1., 1., 1.]], dtype=float32)
=== tril
Args:
    x: array_like with at least 2 dimensions (the last two are the matrix).
    k: the diagonal above which elements are zeroed.
Returns:
    x with the elements above the k-th diagonal set to zero.
Raises:
    ShapeError: x has fewer than 2 dimensions.
Example:
    >>> gc.tril(np.ones((3, 3), np.int32))
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]], dtype=int32)
=== triu
Args:
    x: array_like with at least 2 dimensions (the last two are the matrix).
    k: the diagonal below which elements are zeroed.
Returns:
    x with the elements below the k-th diagonal set to zero.
Raises:
    ShapeError: x has fewer than 2 dimensions.
Example:
    >>> gc.triu(np.ones((3, 3), np.int32), k=1)
    array([[0, 1, 1],
           [0, 0, 1],
           [0, 0, 0]], dtype=int32)
=== linspace
Args:
    start: the first value (a Python number).
    stop: the last value (included if ``endpoint``).
    num: the number of values.
    endpoint: include ``stop``.
    dtype: the dtype name (float32 by default).
Returns:
    A 1-D constant array of ``num`` evenly spaced values.
Raises:
    ValueError: a negative ``num``.
Example:
    >>> gc.linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
=== meshgrid
Args:
    *xs: 1-D array_likes.
    indexing: "xy" (Cartesian: the first two outputs' axes swapped, numpy's default)
        or "ij" (matrix).
Returns:
    A list of len(xs) arrays, each of the grid's shape.
Raises:
    ShapeError: an input is not 1-D.
Example:
    >>> gc.meshgrid(np.array([1, 2, 3]), np.array([10, 20]))
    [array([[1, 2, 3],
           [1, 2, 3]]), array([[10, 10, 10],
           [20, 20, 20]])]
=== diag
Args:
    v: a 1-D array_like (builds a matrix) or a 2-D one (extracts a diagonal).
    k: the diagonal.
Returns:
    A 2-D matrix with v on its k-th diagonal, or the 1-D k-th diagonal of v.
Raises:
    ShapeError: v is neither 1-D nor 2-D.
Example:
    >>> gc.diag(np.array([1, 2]))
    array([[1, 0],
           [0, 2]])
    >>> gc.diag(np.array([[1, 2], [3, 4]]))
    array([1, 4])
=== matmul
Args:
    a: array_like, 1-D or more (a stack of matrices in the last two axes).
    b: array_like, 1-D or more; the batch axes broadcast, a's last axis must equal b's
        second to last; dtypes promote.
Returns:
    The matrix product (the ``@`` operator), numpy's shape rules (1-D operands are
    promoted and the added axis removed).
Raises:
    ShapeError: the inner dimensions differ (both shapes are named) or a 0-d operand.
Example:
    >>> gc.matmul(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0]))
    array([3., 7.])
    >>> gc.matmul(np.ones((2, 3)), np.ones((2, 3)))
    Traceback (most recent call last):
        ...
    graphc.errors.ShapeError: matmul: matmul: inner dimensions differ: (2, 3) @ (2, 3) (3 != 2...
=== einsum
Args:
    subscripts: numpy's subscripts, e.g. "ij,jk->ik" (explicit or implicit output; no
        ellipsis).
    *operands: the array_likes, one per input term.
Returns:
    numpy.einsum's result; contractions are lowered to (batched) matmuls.
Raises:
    ShapeError: a label's sizes disagree, or the number of operands is wrong.
Example:
    >>> gc.einsum("ij,j->i", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 10.0]))
    array([21., 43.])
=== matrix_inverse
Args:
    a: float array_like of shape (..., n, n).
Returns:
    The inverse of each square matrix (Gauss-Jordan with partial pivoting); a
    singular matrix gives inf/NaN entries, as in TF.
Raises:
    ShapeError: the last two dimensions are not square. (Integer matrices are
        inverted in float64.)
Example:
    >>> gc.matrix_inverse(np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
=== take
Args:
    x: array_like.
    indices: an int array_like (numpy's negative indices allowed).
    axis: the int axis to index; None indexes the flattened array.
Returns:
    x's elements at ``indices`` along ``axis``: shape x.shape[:axis] + indices.shape +
    x.shape[axis+1:]. Out-of-range traced indices clamp.
Raises:
    IndexingError: a constant index is out of bounds (numpy's IndexError).
Example:
    >>> gc.take(np.array([10, 20, 30]), np.array([2, 0, -1]))
    array([30, 10, 30])
=== take_along_axis
Args:
    arr: array_like.
    indices: an int array of arr's rank; along ``axis`` it picks positions, the other
        axes broadcast.
    axis: the int axis.
Returns:
    arr's elements picked along ``axis`` (numpy.take_along_axis).
Raises:
    ShapeError: indices' rank differs from arr's.
Example:
    >>> gc.take_along_axis(np.array([[3, 1], [5, 9]]), np.array([[1], [0]]), axis=1)
    array([[1],
           [5]])
=== gather
Args:
    params: array_like.
    indices: an int array_like.
    axis: the int axis of params to index.
Returns:
    tf.gather's result: params.shape[:axis] + indices.shape + params.shape[axis+1:];
    out-of-range indices clamp.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.gather(np.array([[1, 2], [3, 4], [5, 6]]), np.array([2, 0]))
    array([[5, 6],
           [1, 2]])
=== gather_nd
Args:
    params: array_like.
    indices: an int array whose last axis (length k) indexes params' first k axes.
Returns:
    indices.shape[:-1] + params.shape[k:] (tf.gather_nd); out-of-range indices clamp.
Raises:
    ShapeError: k is larger than params' rank.
Example:
    >>> gc.gather_nd(np.array([[1, 2], [3, 4]]), np.array([[1, 0], [0, 1]]))
    array([3, 2])
=== scatter_add
Args:
    x: array_like.
    indices: an int array_like of positions along ``axis``.
    updates: array_like of shape x.shape[:axis] + indices.shape + x.shape[axis+1:].
    axis: the int axis.
Returns:
    x with ``updates`` added at ``indices`` (duplicates accumulate).
Raises:
    ShapeError: updates has the wrong shape.
Example:
    >>> gc.scatter_add(np.zeros(4), np.array([1, 1, 3]), np.array([1.0, 2.0, 5.0]))
    array([0., 3., 0., 5.])
=== dynamic_slice
Args:
    x: array_like.
    start_indices: one int (Python or traced) per axis.
    slice_sizes: the static block size per axis.
Returns:
    The block of ``slice_sizes`` at ``start_indices``; starts clamp so the block fits
    (jax.lax.dynamic_slice).
Raises:
    ShapeError: the number of starts or sizes differs from x's rank, or a size exceeds
        the axis.
Example:
    >>> gc.dynamic_slice(np.arange(10), (8,), (3,))
    array([7, 8, 9])
=== dynamic_update_slice
Args:
    x: array_like.
    update: an array_like block of x's rank and dtype.
    start_indices: one int (Python or traced) per axis; clamped so the block fits.
Returns:
    x with the block at ``start_indices`` replaced by ``update``.
Raises:
    ShapeError: the update is larger than x or of another rank.
Example:
    >>> gc.dynamic_update_slice(np.zeros(5), np.array([1.0, 2.0]), (1,))
    array([0., 1., 2., 0., 0.])
=== at
Args:
    x: an ndarray or a Tensor.
Returns:
    An indexable helper: ``gc.at(x)[key].set(v)`` / ``.add(v)`` / ``.multiply(v)`` /
    ``.min(v)`` / ``.max(v)`` return a new array (x is unchanged), as JAX's ``x.at``.
Raises:
    IndexingError: the key is out of bounds.
Example:
    >>> x = np.zeros(4)
    >>> gc.at(x)[1:3].set(5.0)
    array([0., 5., 5., 0.])
    >>> gc.at(x)[np.array([0, 0])].add(1.0)
    array([2., 0., 0., 0.])
=== sort
Args:
    {_X}
    axis: the int axis; None sorts the flattened array.
Returns:
    x sorted ascending along ``axis`` (stable; NaN last).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.sort(np.array([3.0, np.nan, 1.0, 2.0]))
    array([ 1.,  2.,  3., nan])
=== argsort
Args:
    {_X}
    axis: the int axis; None sorts the flattened array.
Returns:
    int64 positions that sort x along ``axis`` (stable, NaN last).
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.argsort(np.array([3.0, 1.0, 2.0, 1.0]))
    array([1, 3, 2, 0])
=== top_k
Args:
    x: array_like with at least one dimension.
    k: how many of the last axis' largest entries to return.
    sorted: return them in descending order.
Returns:
    (values, integer indices) of shape x.shape[:-1] + (k,) (tf.nn.top_k); ties
    keep the lower index first.
Raises:
    ShapeError: k is not in [0, the last dimension].
Example:
    >>> gc.top_k(np.array([1.0, 9.0, 3.0, 7.0]), k=2)
    (array([9., 7.]), array([1, 3]))
=== round
Args:
    {_X}
    decimals: round to this many decimal places (negative: to tens, hundreds...).
Returns:
    x rounded half to even (numpy.round), x's dtype; integers unchanged for decimals 0.
Raises:
    DTypeError: a non-number dtype.
Example:
    >>> gc.round(np.array([0.5, 1.5, 2.675]), 0), gc.round(np.array([1.234]), 2)
    (array([0., 2., 3.]), array([1.23]))
=== clip
Args:
    {_X}
    a_min: the lower bound (array_like, broadcasting) or None.
    a_max: the upper bound or None.
Returns:
    min(max(x, a_min), a_max) with the broadcast shape; the gradient flows where x is
    within the bounds.
Raises:
    ValueError: both bounds are None.
Example:
    >>> gc.clip(np.array([-2.0, 0.5, 3.0]), -1.0, 1.0)
    array([-1. ,  0.5,  1. ])
=== nan_to_num
Args:
    {_X}
    nan: the value for NaN.
    posinf: the value for +inf (None: the dtype's largest finite value).
    neginf: the value for -inf (None: the dtype's most negative finite value).
Returns:
    x with NaN and infinities replaced (integers unchanged).
Raises:
    DTypeError: a non-number dtype.
Example:
    >>> gc.nan_to_num(np.array([np.nan, np.inf, -np.inf, 1.0], np.float32))
    array([ 0.0000000e+00,  3.4028235e+38, -3.4028235e+38,  1.0000000e+00],
          dtype=float32)
=== reciprocal
Args:
    x: a float array_like of any shape.
Returns:
    1 / x elementwise (x's shape and dtype).
Raises:
    DTypeError: integer x (numpy's integer reciprocal truncates to 0; cast first).
Example:
    >>> gc.reciprocal(np.array([2.0, -4.0, 0.0]))
    array([ 0.5 , -0.25,   inf])
=== bitwise_not
Args:
    x: an integer or bool array_like.
Returns:
    ~x: the bitwise complement of integers (x ^ -1), logical not of bools.
Raises:
    DTypeError: float x.
Example:
    >>> gc.bitwise_not(np.array([0, 5, -1])), gc.bitwise_not(np.array([True, False]))
    (array([-1, -6,  0]), array([False,  True]))
=== where
Args:
    condition: array_like, any dtype (nonzero is true).
    x: the values where condition is true.
    y: the values where it is false; the three shapes broadcast, x and y promote.
Returns:
    An array of the broadcast shape taking x where condition holds, else y; gradients
    flow to the chosen operand only.
Raises:
    ShapeError: the shapes do not broadcast.
Example:
    >>> gc.where(np.array([True, False, True]), np.array([1.0, 2.0, 3.0]), 0.0)
    array([1., 0., 3.])
=== cast
Args:
    {_X}
    dtype: the target dtype name (or numpy dtype).
Returns:
    x converted to ``dtype`` (float -> int truncates toward zero, as C and numpy; bool
    is x != 0).
Raises:
    TypeError: an unknown dtype name (DTypeError: a numpy dtype graphc does not support,
        such as complex64).
Example:
    >>> gc.cast(np.array([1.7, -1.7, 0.0]), "int32")
    array([ 1, -1,  0], dtype=int32)
=== stop_gradient
Args:
    x: array_like.
Returns:
    x unchanged, but treated as a constant by gc.grad and friends.
Raises:
    DTypeError: a non-number dtype.
Example:
    >>> gc.grad(lambda v: (v * gc.stop_gradient(v)).sum())(np.array([3.0]))
    array([3.])
=== softmax
Args:
    x: a float array_like (logits).
    axis: the int axis to normalize over.
Returns:
    exp(x - max) / sum(exp(x - max)) along ``axis`` (rows sum to 1), x's shape.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.softmax(np.array([[1.0, 1.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
=== log_softmax
Args:
    x: a float array_like (logits).
    axis: the int axis to normalize over.
Returns:
    x - max - log(sum(exp(x - max))) along ``axis``: the log of softmax, computed
    without overflow.
Raises:
    {_AXIS_ERR}
Example:
    >>> gc.log_softmax(np.array([0.0, 0.0]))
    array([-0.69314718, -0.69314718])
=== one_hot
Args:
    indices: an int array_like of any shape.
    depth: the number of classes (the new axis' size).
    dtype: the result dtype (float32 by default).
    on_value: the value at the index.
    off_value: the value elsewhere.
    axis: where the new axis goes (-1: last).
Returns:
    An array with a new axis of size ``depth``; out-of-range indices give a row of
    off_value (tf.one_hot).
Raises:
    ArgumentError: a non-integer depth.
    DTypeError: indices of a non-number dtype.
Example:
    >>> gc.one_hot(np.array([0, 2, 5]), 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
"""


def entries() -> dict:
    return parse_table(TABLE)
