"""Reference sections of gc.nn (activations, losses, convolution, pooling,
normalization) and gc.optim (optimizers, schedules, clipping, regularizers)."""
from __future__ import annotations

from . import parse_table

_NHWC = "float32/float64 array_like of shape (N, H, W, C) (NHWC, as TensorFlow)."
_WINDOW = ("ksize: the window: an int, (h, w) or TF's [1, h, w, 1].\n"
           "    strides: the window step, in the same forms.\n"
           "    padding: \"VALID\" (windows inside the input) or \"SAME\" (output size\n"
           "        ceil(H / stride), TF's padding).")
_OPT_RAISES = ("Raises:\n"
               "    ValueError: minimize finds no trainable Variable the loss reads.")

TABLE = rf"""
=== nn.avg_pool
Args:
    value: {_NHWC}
    {_WINDOW}
Returns:
    (N, OH, OW, C): the mean of each window's cells inside the input (padding is not
    counted).
Raises:
    ShapeError: value is not 4-D.
Example:
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> gc.nn.avg_pool(x, 2, 2)[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
=== nn.max_pool
Args:
    value: {_NHWC}
    {_WINDOW}
Returns:
    (N, OH, OW, C): the maximum of each window (its gradient goes to the maximum).
Raises:
    ShapeError: value is not 4-D.
Example:
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> gc.nn.max_pool(x, 2, 2)[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
=== nn.conv2d
Args:
    x: {_NHWC}
    filters: (KH, KW, C, O) (HWIO) array_like of x's dtype.
    strides: an int, (h, w) or TF's [1, h, w, 1].
    padding: "SAME", "VALID" or explicit [[0, 0], [top, bottom], [left, right], [0, 0]].
    dilations: an int, (h, w) or [1, h, w, 1].
Returns:
    (N, OH, OW, O): the cross-correlation (TF's conv2d), lowered to a GEMM.
Raises:
    ShapeError: x's channels differ from the filters' C, or non-4-D operands.
Example:
    >>> x = np.ones((1, 3, 3, 1))
    >>> w = np.ones((2, 2, 1, 1))
    >>> gc.nn.conv2d(x, w, padding="VALID")[0, :, :, 0]
    array([[4., 4.],
           [4., 4.]])
=== nn.conv2d_transpose
Args:
    x: (N, H, W, in_channels) array_like.
    filters: (KH, KW, out_channels, in_channels).
    output_shape: (N, OH, OW, out_channels): the input shape of the conv2d being
        transposed.
    strides: an int, (h, w) or [1, h, w, 1].
    padding: "SAME" or "VALID".
Returns:
    An array of ``output_shape`` (tf.nn.conv2d_transpose: conv2d's input gradient).
Raises:
    ShapeError: conv2d of ``output_shape`` with these filters would not give x's shape.
Example:
    >>> y = gc.nn.conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), (1, 4, 4, 1), strides=2)
    >>> y[0, :, :, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
=== nn.extract_patches
Args:
    x: {_NHWC}
    ksize: the patch size: an int or (h, w).
    strides: the step: an int or (h, w).
    padding: "VALID" or "SAME" (zeros outside).
    dilations: an int or (h, w).
Returns:
    (N, OH, OW, KH, KW, C): every patch (what conv2d multiplies with the filters).
Raises:
    ShapeError: x is not 4-D.
Example:
    >>> gc.nn.extract_patches(np.arange(9.0).reshape(1, 3, 3, 1), 2).shape
    (1, 2, 2, 2, 2, 1)
=== nn.bias_add
Args:
    value: array_like whose last axis is the channels.
    bias: a 1-D array_like of the channel count.
Returns:
    value + bias broadcast along the last axis.
Raises:
    ShapeError: bias is not 1-D of the last dimension's size.
Example:
    >>> gc.nn.bias_add(np.zeros((2, 3)), np.array([1.0, 2.0, 3.0]))
    array([[1., 2., 3.],
           [1., 2., 3.]])
=== nn.batch_norm
Args:
    x: a float array_like.
    scale: gamma, per channel (last axis) or broadcastable to x.
    offset: beta, likewise.
    mean: the mean, likewise (``moments(x, axes)`` in training).
    variance: the variance, likewise.
    eps: added to the variance.
Returns:
    (x - mean) / sqrt(variance + eps) * scale + offset, x's shape.
Raises:
    ShapeError: an operand does not broadcast against x.
Example:
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> mean, var = gc.nn.moments(x, axes=0)
    >>> gc.nn.batch_norm(x, 1.0, 0.0, mean, var, eps=0.0)
    array([[-1., -1.],
           [ 1.,  1.]])
=== nn.batch_normalization
Args:
    x: a float array_like.
    mean: broadcastable to x.
    variance: broadcastable to x.
    offset: beta (None: 0).
    scale: gamma (None: 1).
    variance_epsilon: added to the variance.
Returns:
    (x - mean) / sqrt(variance + variance_epsilon) * scale + offset.
Raises:
    ShapeError: an operand does not broadcast against x.
Example:
    >>> gc.nn.batch_normalization(np.array([1.0, 3.0]), 2.0, 1.0, None, None, 0.0)
    array([-1.,  1.])
=== nn.moments
Args:
    x: a float array_like.
    axes: the axes to reduce (an int or a list).
    keepdims: keep them with size 1.
Returns:
    (mean, variance) over ``axes``; the variance is the biased one (divided by n).
Raises:
    ShapeError: an axis is out of range.
Example:
    >>> gc.nn.moments(np.array([[1.0, 2.0], [3.0, 6.0]]), axes=0)
    (array([2., 4.]), array([1., 4.]))
=== nn.dropout
Args:
    x: a float array_like.
    rate: the probability of zeroing an element (or give keep_prob).
    training: a Python bool (False returns x) or a traced bool scalar.
    seed: an int for a reproducible mask (with gc.random's counter).
    keep_prob: 1 - rate (TF 1.x's argument).
    noise_shape: a shape broadcasting against x: one mask value per cell of it.
    draw: draw(shape, dtype) supplying uniform [0, 1) values instead of gc.random.
Returns:
    x with elements zeroed with probability ``rate`` and the others scaled by
    1 / (1 - rate).
Raises:
    ValueError: neither or both of rate and keep_prob, or a rate outside [0, 1).
Example:
    >>> gc.nn.dropout(np.ones(4), rate=0.5, training=False)
    array([1., 1., 1., 1.])
    >>> y = gc.compile(lambda x: gc.nn.dropout(x, rate=0.5, seed=1))(np.ones(1000))
    >>> sorted(set(y.tolist())), bool(300 < (y > 0).sum() < 700)
    ([0.0, 2.0], True)
=== nn.elu
Args:
    x: a float array_like.
    alpha: the negative saturation value.
Returns:
    x where x > 0, else alpha * (exp(x) - 1).
Raises:
    DTypeError: a non-float x that does not promote.
Example:
    >>> gc.nn.elu(np.array([-1.0, 0.0, 2.0]))
    array([-0.63212056,  0.        ,  2.        ])
=== nn.selu
Args:
    x: a float array_like.
Returns:
    scale * elu(x, alpha) with scale ~1.0507 and alpha ~1.6733.
Raises:
    DTypeError: a non-number x.
Example:
    >>> gc.nn.selu(np.array([-1.0, 0.0, 1.0]))
    array([-1.11133074,  0.        ,  1.05070099])
=== nn.leaky_relu
Args:
    x: a float array_like.
    alpha: the slope for x < 0.
Returns:
    x where x > 0, else alpha * x.
Raises:
    DTypeError: a non-number x.
Example:
    >>> gc.nn.leaky_relu(np.array([-1.0, 0.0, 2.0]))
    array([-0.2,  0. ,  2. ])
=== nn.softplus
Args:
    x: a float array_like.
Returns:
    log(1 + exp(x)), computed without overflow.
Raises:
    DTypeError: a non-number x.
Example:
    >>> gc.nn.softplus(np.array([-1000.0, 0.0, 1000.0]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+03])
=== nn.embedding_lookup
Args:
    params: (vocabulary, ...) array_like.
    ids: an int array_like of any shape.
Returns:
    ids.shape + params.shape[1:]: the rows of params (out-of-range ids clamp).
Raises:
    DTypeError: non-integer ids.
Example:
    >>> gc.nn.embedding_lookup(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), np.array([2, 0]))
    array([[4., 5.],
           [0., 1.]])
=== nn.in_top_k
Args:
    predictions: (batch, classes) float scores.
    targets: (batch,) int class indices.
    k: how many top classes count.
Returns:
    A (batch,) bool array: whether each target's score is among the top k (ties count
    in its favour; a non-finite score or an out-of-range target gives False).
Raises:
    ShapeError: the batch sizes differ.
Example:
    >>> gc.nn.in_top_k(np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]]), np.array([1, 2]), 1)
    array([ True, False])
=== nn.l2_loss
Args:
    x: a float array_like.
Returns:
    A scalar: sum(x ** 2) / 2.
Raises:
    DTypeError: a non-number x.
Example:
    >>> gc.nn.l2_loss(np.array([1.0, 2.0]))
    array(2.5)
=== nn.local_response_normalization
Args:
    input: {_NHWC}
    depth_radius: the half-width r of the channel window.
    bias: added to the weighted sum.
    alpha: the sum's weight.
    beta: the exponent.
Returns:
    x / (bias + alpha * sum of x^2 over channels d-r..d+r) ** beta, x's shape (tf.nn.lrn).
Raises:
    ShapeError: input is not 4-D.
Example:
    >>> gc.nn.local_response_normalization(np.ones((1, 1, 1, 3)), depth_radius=1)[0, 0, 0]
    array([0.57735027, 0.5       , 0.57735027])
=== nn.sigmoid_cross_entropy
Args:
    logits: a float array_like.
    labels: probabilities in [0, 1] of logits' shape.
Returns:
    The elementwise loss max(x, 0) - x * z + log(1 + exp(-|x|)); its gradient is
    sigmoid(x) - z.
Raises:
    ShapeError: the shapes differ.
Example:
    >>> gc.nn.sigmoid_cross_entropy(np.array([0.0, 100.0]), np.array([1.0, 1.0]))
    array([0.69314718, 0.        ])
=== nn.softmax_cross_entropy
Args:
    logits: float (..., classes).
    labels: a probability distribution per example, logits' shape.
Returns:
    (...,): -sum(labels * log_softmax(logits)) over the last axis.
Raises:
    ShapeError: the shapes differ.
Example:
    >>> gc.nn.softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))
    array([0.69314718])
=== nn.sparse_softmax_cross_entropy
Args:
    logits: float (..., classes).
    labels: int (...) class indices.
Returns:
    (...,): -log_softmax(logits)[label] per example (out-of-range labels select no
    class: the loss is logsumexp(logits)).
Raises:
    ShapeError: labels' shape is not logits' without the last axis.
    DTypeError: float labels.
Example:
    >>> gc.nn.sparse_softmax_cross_entropy(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([0, 0]))
    array([6.93147181e-01, 4.53988992e-05])
=== optim.clip_by_norm
Args:
    t: a float array_like.
    clip_norm: the maximum L2 norm.
    axes: restrict the norm to these axes (e.g. 1: each row); None: the whole t.
Returns:
    t * clip_norm / max(||t||_2, clip_norm) (t unchanged when its norm is small).
Raises:
    ShapeError: an axis is out of range.
Example:
    >>> gc.optim.clip_by_norm(np.array([3.0, 4.0]), 1.0)
    array([0.6, 0.8])
=== optim.clip_by_value
Args:
    t: array_like.
    clip_value_min: the lower bound.
    clip_value_max: the upper bound.
Returns:
    min(max(t, lo), hi) elementwise.
Raises:
    ShapeError: the bounds do not broadcast against t.
Example:
    >>> gc.optim.clip_by_value(np.array([-2.0, 0.5, 3.0]), -1.0, 1.0)
    array([-1. ,  0.5,  1. ])
=== optim.clip_by_global_norm
Args:
    t_list: a list of float arrays (None entries are passed through).
    clip_norm: the maximum global norm.
    use_norm: a precomputed global norm (None: computed).
Returns:
    (the list scaled by clip_norm / max(global_norm, clip_norm), global_norm).
Raises:
    TypeError: clip_norm is not a scalar.
Example:
    >>> gc.optim.clip_by_global_norm([np.array([3.0]), np.array([4.0])], 1.0)
    ([array([0.6]), array([0.8])], array(5.))
=== optim.global_norm
Args:
    t_list: a list of float arrays (None entries ignored).
Returns:
    sqrt(sum of the squares of every element), a scalar.
Raises:
    DTypeError: an entry of a non-number dtype.
Example:
    >>> gc.optim.global_norm([np.array([3.0]), np.array([4.0])])
    array(5.)
=== optim.l1_regularizer
Args:
    scale: the weight (a Python float; 0 disables it).
Returns:
    A function weights -> scale * sum(|weights|).
Raises:
    ValueError: a negative scale.
Example:
    >>> gc.optim.l1_regularizer(0.1)(np.array([1.0, -2.0]))
    array(0.3)
=== optim.l2_regularizer
Args:
    scale: the weight (a Python float; 0 disables it).
Returns:
    A function weights -> scale * sum(weights ** 2) / 2.
Raises:
    ValueError: a negative scale.
Example:
    >>> gc.optim.l2_regularizer(0.1)(np.array([1.0, -2.0]))
    array(0.25)
=== optim.apply_regularization
Args:
    regularizer: a function weights -> scalar (l1_regularizer, l2_regularizer).
    weights_list: the weights (arrays or Variables).
Returns:
    The sum of regularizer(w) over weights_list (add it to the loss).
Raises:
    ValueError: an empty weights_list.
Example:
    >>> gc.optim.apply_regularization(gc.optim.l2_regularizer(1.0), [np.array([1.0]), np.array([2.0])])
    array(2.5)
=== optim.get_or_create_global_step
Returns:
    The process-wide int64 non-trainable Variable named global_step (minimize with
    global_step= advances it).
Example:
    >>> step = gc.optim.get_or_create_global_step()
    >>> step.numpy().dtype, step is gc.optim.get_or_create_global_step()
    (dtype('int64'), True)
=== optim.get_global_step
Returns:
    The global step Variable if get_or_create_global_step made one, else None.
Example:
    >>> gc.optim.get_global_step() is None or gc.optim.get_global_step().name == "global_step"
    True
=== optim.exponential_decay
Args:
    learning_rate: the initial rate.
    global_step: the step (a Variable, or an int outside a trace).
    decay_steps: steps per decay period.
    decay_rate: the factor per period.
    staircase: decay in whole periods (floored exponent).
Returns:
    learning_rate * decay_rate ** (step / decay_steps): a Tensor inside a trace, an
    ExponentialDecay schedule (evaluated by the optimizer in each step) outside.
Raises:
    ValueError: decay_steps <= 0.
Example:
    >>> float(gc.optim.exponential_decay(0.1, 20, 10, 0.5)())
    0.025
=== optim.ExponentialDecay
Args:
    learning_rate: the initial rate.
    global_step: the step Variable (or an int).
    decay_steps: steps per decay period.
    decay_rate: the factor per period.
    staircase: floored exponent.
Raises:
    ValueError: decay_steps <= 0.
Example:
    >>> schedule = gc.optim.ExponentialDecay(1.0, 15, 10, 0.5, staircase=True)
    >>> float(schedule())
    0.5
=== optim.Optimizer
Args:
    learning_rate: a Python float, a scalar Tensor, a Variable or a schedule (a
        callable evaluated in each traced step).
    name: the prefix of the slot Variables' names.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.GradientDescent(0.25)
    >>> isinstance(opt, gc.optim.Optimizer)
    True
=== optim.GradientDescent
Args:
    learning_rate: the step size (float, Tensor, Variable or schedule).
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.GradientDescent(0.25)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.5, -1. ])
=== optim.Momentum
Args:
    learning_rate: the step size.
    momentum: the decay of the accumulated gradient.
    use_nesterov: Nesterov's update.
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.Momentum(0.25, momentum=0.9)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.5, -1. ])
=== optim.AdaGrad
Args:
    learning_rate: the step size.
    initial_accumulator_value: the squared-gradient accumulator's start (TF's 0.1).
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.AdaGrad(0.5)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.5061352 , -1.50155521])
=== optim.RMSProp
Args:
    learning_rate: the step size.
    decay: the mean square's decay.
    momentum: the update's momentum.
    epsilon: added under the square root.
    centered: divide by the variance estimate (tracks the mean gradient too).
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.RMSProp(0.1)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.8245884 , -1.74701779])
=== optim.Adam
Args:
    learning_rate: the step size.
    beta1: the first moment's decay.
    beta2: the second moment's decay.
    epsilon: added to sqrt(v) (outside the bias correction, as TF 1.x).
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.Adam(0.1)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.90000002, -1.90000001])
=== optim.Ftrl
Args:
    learning_rate: the step size.
    learning_rate_power: p of the per-coordinate rate accum^p (-0.5).
    initial_accumulator_value: the accumulator's start.
    l1_regularization_strength: l1 (sparsity).
    l2_regularization_strength: l2.
    l2_shrinkage_regularization_strength: l2 shrinkage of the gradient.
    name: the optimizer's name.
{_OPT_RAISES}
Example:
    >>> opt = gc.optim.Ftrl(0.5)
    >>> w = gc.Variable(np.array([1.0, -2.0]), name="w")
    >>> step = gc.compile(lambda: opt.minimize((w * w).sum()))
    >>> _ = step()
    >>> w.numpy()
    array([ 0.34996144, -1.34393313])
"""


def entries() -> dict:
    return parse_table(TABLE)
