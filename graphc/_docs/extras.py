"""Reference sections of gc.data (input pipelines), gc.init (initializers), gc.layers,
gc.random and gc.rnn."""
from __future__ import annotations

from . import parse_table

_INIT_ARGS = ("shape: the weight shape: (fan_in, fan_out), or a conv filter (H, W, in, out)\n"
              "        whose fans are multiplied by H * W.\n"
              "    seed: an int for a reproducible draw (None: fresh randomness).\n"
              "    dtype: the result's dtype name.")
_RANDOM_ARGS = ("shape: an int or a tuple of ints.\n"
                "    dtype: a float dtype name.\n"
                "    seed: the op's seed (with gc.random.set_seed's global seed and the call\n"
                "        counter: a compiled function draws new values on every call).")
_CELL_ARGS = ("num_units: the state (and output) size.\n"
              "    name: the Variables' name prefix.\n"
              "    seed: the initializer's seed.\n"
              "    kernel_initializer: a gc.init function (Glorot uniform by default).")
_CELL_RAISES = ("Raises:\n"
                "    ShapeError: the input is not (batch, features), or its feature size changes\n"
                "        between calls.")
_LAYER_RAISES = ("Raises:\n"
                 "    ShapeError: the input's shape does not fit the layer (or changes its feature\n"
                 "        size between calls).")

TABLE = r"""
=== data.Dataset
Example:
    >>> ds = gc.data.Dataset.from_tensor_slices(np.arange(6)).map(lambda x: x * 10).batch(4)
    >>> [b.tolist() for b in ds]
    [[0, 10, 20, 30], [40, 50]]
=== data.Iterator
Args:
    dataset: the Dataset to iterate (``iter(dataset)`` makes one).
Raises:
    DataFormatError: a record cannot be decoded (raised at its element).
Example:
    >>> it = iter(gc.data.Dataset.range(3))
    >>> next(it), next(it)
    (array(0), array(1))
    >>> it.close()
=== data.TextLineDataset
Args:
    filenames: a path or a list of paths.
    compression_type: None, "" or "GZIP".
    buffer_size: the read buffer in bytes (None: default).
    num_parallel_reads: files read concurrently (None: one at a time, in order).
Raises:
    FileNotFoundError: (when iterated) a file does not exist.
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("first\nsecond\n")
    >>> [bytes(line) for line in gc.data.TextLineDataset(path)]
    [b'first', b'second']
=== data.FixedLengthRecordDataset
Args:
    filenames: a path or a list of paths.
    record_bytes: the size of each record.
    header_bytes: bytes skipped at the start of each file.
    footer_bytes: bytes skipped at the end of each file.
    buffer_size: the read buffer in bytes.
    compression_type: None, "" or "GZIP".
    num_parallel_reads: files read concurrently.
Raises:
    DataFormatError: a file's body is not a whole number of records.
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.bin")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([1, 2, 3, 4, 5, 6]))
    >>> [gc.data.decode_raw(r, "uint8").tolist() for r in gc.data.FixedLengthRecordDataset(path, 3)]
    [[1, 2, 3], [4, 5, 6]]
=== data.CsvDataset
Args:
    filenames: a path or a list of paths.
    record_defaults: one default per column (its type gives the column's dtype; an
        empty list marks a required column).
    compression_type: None, "" or "GZIP".
    buffer_size: the read buffer in bytes.
    header: skip each file's first line.
    field_delim: the delimiter.
    use_quote_delim: treat double quotes as quoting.
    na_value: the string that means missing (the default is used).
    select_cols: the column indices to keep.
Raises:
    DataFormatError: (when iterated) a malformed row, naming file, line and column.
Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("1,2.5\n3,\n")
    >>> [tuple(v.item() for v in row) for row in gc.data.CsvDataset(path, [0, 0.0])]
    [(1, 2.5), (3, 0.0)]
=== data.decode_csv
Args:
    records: a CSV line (bytes or str) or an array of lines.
    record_defaults: one default per column (its type gives the dtype; [] = required).
    field_delim: the delimiter.
    use_quote_delim: treat double quotes as quoting.
    na_value: the string that means missing.
    select_cols: the column indices to keep.
Returns:
    A list with one numpy array per column, shaped like ``records`` (strings: object
    arrays of bytes).
Raises:
    DataFormatError: a malformed row (names its line or index and the column).
Example:
    >>> gc.data.decode_csv(np.array([b"1,x", b"2,"]), [0, "none"])
    [array([1, 2], dtype=int32), array([b'x', b'none'], dtype=object)]
    >>> gc.data.decode_csv(b"1,abc", [0, 0.0])
    Traceback (most recent call last):
        ...
    graphc.data.readers.DataFormatError: decode_csv: record, column 2: cannot convert 'abc' to...
=== data.decode_raw
Args:
    data: bytes, or an array of equal-length bytes.
    out_type: the dtype to read (name or numpy dtype).
    little_endian: the byte order.
    fixed_length: read this many bytes per record (None: all).
Returns:
    A numpy array whose last axis holds len(bytes) / itemsize values.
Raises:
    DataFormatError: the length is not a multiple of the dtype's size.
Example:
    >>> gc.data.decode_raw(b"\x01\x00\x02\x00", "int16")
    array([1, 2], dtype=int16)
=== data.DataFormatError
Example:
    >>> gc.data.decode_csv(b"1,2,3", [0, 0])
    Traceback (most recent call last):
        ...
    graphc.data.readers.DataFormatError: decode_csv: record: expected 2 fields, found 3: b'1,2...
=== data.Line
Args:
    value: the line's bytes.
    filename: the file it came from.
    line: its 1-based line number.
Example:
    >>> line = gc.data.Line(b"abc", "f.txt", 3)
    >>> bytes(line), line.filename, line.line
    (b'abc', 'f.txt', 3)
=== data.Spec
Args:
    shape: the static shape (None entries vary between elements).
    dtype: the numpy dtype.
Example:
    >>> gc.data.Dataset.from_tensor_slices(np.zeros((4, 3), np.float32)).batch(2).element_spec
    Spec(shape=(None, 3), dtype=float32)
=== data.experimental
The ``tf.data.experimental`` names graphc provides: ``AUTOTUNE`` (let prefetch and
parallel map pick their depth) and ``CsvDataset``.

Example:
    >>> gc.data.experimental.AUTOTUNE == gc.data.AUTOTUNE
    True
=== init.glorot_uniform
Args:
    @INIT
Returns:
    A numpy array drawn from Uniform(-r, r), r = sqrt(6 / (fan_in + fan_out)).
Example:
    >>> w = gc.init.glorot_uniform((300, 100), seed=0)
    >>> w.shape, w.dtype, bool(np.abs(w).max() <= np.sqrt(6 / 400))
    ((300, 100), dtype('float32'), True)
=== init.glorot_normal
Args:
    @INIT
Returns:
    A numpy array drawn from Normal(0, sqrt(2 / (fan_in + fan_out))).
Example:
    >>> w = gc.init.glorot_normal((400, 400), seed=0)
    >>> w.dtype, bool(abs(w.std() - 0.05) < 0.002)
    (dtype('float32'), True)
=== init.he_normal
Args:
    @INIT
Returns:
    A numpy array from a truncated normal with variance 2 / fan_in.
Example:
    >>> w = gc.init.he_normal((3, 3, 16, 32), seed=0)
    >>> w.shape, bool(abs(w.var() * 3 * 3 * 16 / 2 - 1) < 0.1)
    ((3, 3, 16, 32), True)
=== init.he_uniform
Args:
    @INIT
Returns:
    A numpy array drawn from Uniform(-r, r), r = sqrt(6 / fan_in).
Example:
    >>> w = gc.init.he_uniform((24, 8), seed=0)
    >>> bool(np.abs(w).max() <= 0.5)
    True
=== init.truncated_normal
Args:
    shape: the array's shape.
    stddev: the normal's standard deviation (before truncation).
    seed: an int for a reproducible draw.
    mean: the normal's mean.
    dtype: the result's dtype name.
Returns:
    A numpy array of Normal(mean, stddev) draws, those beyond 2 stddev redrawn.
Example:
    >>> w = gc.init.truncated_normal((1000,), stddev=0.1, seed=0)
    >>> bool(np.abs(w).max() <= 0.2)
    True
=== init.zeros
Args:
    shape: the array's shape.
    dtype: the dtype name.
Returns:
    A numpy array of zeros (for biases).
Raises:
    TypeError: an unknown dtype.
Example:
    >>> gc.init.zeros(3)
    array([0., 0., 0.], dtype=float32)
=== layers.Layer
Args:
    name: the Variables' name prefix.
    seed: the initializers' seed.
Example:
    >>> layer = gc.layers.Dense(2)
    >>> isinstance(layer, gc.layers.Layer), layer.trainable_variables
    (True, [])
=== layers.Dense
Args:
    units: the output size.
    activation: a function applied to the result (None: linear).
    use_bias: add a bias.
    kernel_initializer: a gc.init function (Glorot uniform by default).
    bias_initializer: a gc.init function (zeros by default).
    name: the Variables' name prefix.
    seed: the initializers' seed.
@LAYER
Example:
    >>> dense = gc.layers.Dense(3, activation=gc.relu, seed=0)
    >>> y = gc.compile(lambda x: dense(x))(np.ones((2, 4), np.float32))
    >>> y.shape, [v.shape for v in dense.trainable_variables]
    ((2, 3), [(4, 3), (3,)])
=== layers.Conv2D
Args:
    filters: the output channels.
    kernel_size: an int or (h, w).
    strides: an int or (h, w).
    padding: "SAME" or "VALID".
    dilation_rate: an int or (h, w).
    activation: a function applied to the result (None: linear).
    use_bias: add a bias.
    kernel_initializer: a gc.init function.
    name: the Variables' name prefix.
    seed: the initializer's seed.
@LAYER
Example:
    >>> conv = gc.layers.Conv2D(4, 3, seed=0)
    >>> gc.compile(lambda x: conv(x))(np.ones((1, 5, 5, 2), np.float32)).shape
    (1, 5, 5, 4)
=== layers.MaxPool2D
Args:
    pool_size: an int or (h, w).
    strides: an int or (h, w) (None: pool_size).
    padding: "VALID" or "SAME".
    name: the layer's name.
@LAYER
Example:
    >>> gc.layers.MaxPool2D(2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
=== layers.AvgPool2D
Args:
    pool_size: an int or (h, w).
    strides: an int or (h, w) (None: pool_size).
    padding: "VALID" or "SAME".
    name: the layer's name.
@LAYER
Example:
    >>> gc.layers.AvgPool2D(2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
=== layers.Flatten
Args:
    name: the layer's name.
    seed: unused (the Layer interface).
@LAYER
Example:
    >>> gc.layers.Flatten()(np.zeros((2, 3, 4))).shape
    (2, 12)
=== layers.Dropout
Args:
    rate: the probability of zeroing an element.
    seed: the mask's seed.
    noise_shape: a shape broadcasting against the input (one mask value per cell).
    name: the layer's name.
@LAYER
Example:
    >>> gc.layers.Dropout(0.5)(np.ones(3), training=False)
    array([1., 1., 1.])
=== layers.BatchNorm
Args:
    momentum: the moving averages' decay.
    epsilon: added to the variance.
    center: learn an offset (beta).
    scale: learn a scale (gamma).
    name: the Variables' name prefix.
@LAYER
Example:
    >>> bn = gc.layers.BatchNorm()
    >>> y = gc.compile(lambda x: bn(x, training=True))(np.array([[1.0, 2.0], [3.0, 6.0]], np.float32))
    >>> np.round(y, 3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
=== layers.LSTM
Args:
    units: the state size.
    use_peepholes: LSTMCell's peephole connections.
    forget_bias: added to the forget gate.
    return_sequences: return every step's output (batch, time, units).
    return_state: also return the final state.
    kernel_initializer: a gc.init function.
    name: the Variables' name prefix.
    seed: the initializer's seed.
@LAYER
Example:
    >>> lstm = gc.layers.LSTM(4, seed=0)
    >>> gc.compile(lambda x: lstm(x))(np.ones((2, 5, 3), np.float32)).shape
    (2, 4)
=== layers.GRU
Args:
    units: the state size.
    return_sequences: return every step's output (batch, time, units).
    return_state: also return the final state.
    kernel_initializer: a gc.init function.
    name: the Variables' name prefix.
    seed: the initializer's seed.
@LAYER
Example:
    >>> gru = gc.layers.GRU(4, return_sequences=True, seed=0)
    >>> gc.compile(lambda x: gru(x))(np.ones((2, 5, 3), np.float32)).shape
    (2, 5, 4)
=== random.uniform
Args:
    @RANDOM
    minval: the lower bound (included).
    maxval: the upper bound (excluded).
Returns:
    An array of ``shape`` of uniform values in [minval, maxval) (a Tensor inside a
    trace, an ndarray outside).
Raises:
    DTypeError: a non-float dtype.
Example:
    >>> x = gc.random.uniform((1000,), minval=-1.0, maxval=1.0, seed=3)
    >>> x.dtype, bool(x.min() >= -1.0 and x.max() < 1.0)
    (dtype('float32'), True)
=== random.normal
Args:
    @RANDOM
    mean: the mean.
    stddev: the standard deviation.
Returns:
    An array of ``shape`` of normal values.
Raises:
    DTypeError: a non-float dtype.
Example:
    >>> x = gc.random.normal((20000,), mean=1.0, stddev=2.0, seed=0)
    >>> bool(abs(x.mean() - 1.0) < 0.1 and abs(x.std() - 2.0) < 0.1)
    True
=== random.truncated_normal
Args:
    @RANDOM
    mean: the mean.
    stddev: the standard deviation before truncation.
Returns:
    An array of normal values, those beyond 2 stddev redrawn.
Raises:
    DTypeError: a non-float dtype.
Example:
    >>> x = gc.random.truncated_normal((1000,), stddev=0.5, seed=0)
    >>> bool(np.abs(x).max() <= 1.0)
    True
=== random.categorical
Args:
    logits: (batch, classes) float unnormalized log-probabilities.
    num_samples: draws per row.
    seed: the op's seed.
    dtype: the index dtype.
    uniform: uniform(shape) supplying float64 uniforms in [0, 1) (default gc.random's).
Returns:
    (batch, num_samples) class indices drawn from softmax(logits) (tf.multinomial).
Raises:
    ShapeError: logits is not 2-D.
Example:
    >>> gc.random.categorical(np.array([[0.0, -np.inf], [-np.inf, 0.0]]), 3, seed=0)
    array([[0, 0, 0],
           [1, 1, 1]])
=== random.candidate_sample
Args:
    kind: "uniform" or "log_uniform" (TF's candidate samplers).
    true_classes: (batch, num_true) int class ids.
    num_sampled: how many classes to sample.
    unique: sample without replacement.
    range_max: classes are in [0, range_max).
    seed: the op's seed.
    uniform: uniform(shape) supplying float64 uniforms (default gc.random's).
Returns:
    (sampled [num_sampled] int64, true_expected_count [batch, num_true],
    sampled_expected_count [num_sampled]), the counts float32.
Raises:
    ValueError: an unknown kind, or unique with num_sampled > range_max.
Example:
    >>> s, t, e = gc.random.candidate_sample("uniform", np.array([[1]]), 4, True, 10, seed=0)
    >>> s.shape, len(set(s.tolist())), t.tolist()
    ((4,), 4, [[0.4000000059604645]])
=== random.set_seed
Args:
    seed: the global seed (an int).
Returns:
    None.
Raises:
    ValueError: a seed that int() cannot convert.
Example:
    >>> gc.random.set_seed(7)
    >>> gc.random.get_seed()
    7
=== random.get_seed
The global seed set by gc.random.set_seed (part of each random op's key).

Returns:
    The seed (an int).
Example:
    >>> gc.random.set_seed(11)
    >>> gc.random.get_seed()
    11
=== random.counter_variable
Returns:
    The int64 non-trainable Variable of the call counter (each compiled call that draws
    random values reads it once and increments it).
Example:
    >>> v = gc.random.counter_variable()
    >>> v.numpy().dtype, v.trainable
    (dtype('int64'), False)
=== rnn.RNNCell
Args:
    @CELL
@CELLRAISES
Example:
    >>> cell = gc.rnn.BasicRNNCell(3)
    >>> isinstance(cell, gc.rnn.RNNCell), cell.state_size
    (True, 3)
=== rnn.BasicRNNCell
Args:
    @CELL
    activation: the nonlinearity (tanh by default).
@CELLRAISES
Example:
    >>> cell = gc.rnn.BasicRNNCell(3, seed=0)
    >>> out, state = cell(np.ones((2, 4), np.float32), cell.zero_state(2, "float32"))
    >>> out.shape, bool(np.all(out == state))
    ((2, 3), True)
=== rnn.LSTMCell
Args:
    @CELL
    use_peepholes: peephole connections from c to the gates.
    forget_bias: added to the forget gate.
    activation: the nonlinearity (tanh by default).
@CELLRAISES
Example:
    >>> cell = gc.rnn.LSTMCell(3, seed=0)
    >>> out, state = cell(np.ones((2, 4), np.float32), cell.zero_state(2, "float32"))
    >>> out.shape, state.c.shape
    ((2, 3), (2, 3))
=== rnn.BasicLSTMCell
Args:
    @CELL
    forget_bias: added to the forget gate (1.0).
    activation: the nonlinearity (tanh by default).
@CELLRAISES
Example:
    >>> cell = gc.rnn.BasicLSTMCell(2, seed=0)
    >>> cell.zero_state(1, "float32")
    (array([[0., 0.]], dtype=float32), array([[0., 0.]], dtype=float32))
=== rnn.GRUCell
Args:
    @CELL
    activation: the nonlinearity (tanh by default).
@CELLRAISES
Example:
    >>> cell = gc.rnn.GRUCell(3, seed=0)
    >>> out, state = cell(np.ones((2, 4), np.float32), cell.zero_state(2, "float32"))
    >>> out.shape
    (2, 3)
=== rnn.MultiRNNCell
Args:
    cells: the cells, bottom first.
    name: the name prefix.
@CELLRAISES
Example:
    >>> cell = gc.rnn.MultiRNNCell([gc.rnn.GRUCell(3, seed=0), gc.rnn.GRUCell(2, seed=1)])
    >>> out, state = cell(np.ones((1, 4), np.float32), cell.zero_state(1, "float32"))
    >>> out.shape, len(state)
    ((1, 2), 2)
=== rnn.DropoutWrapper
Args:
    cell: the wrapped cell.
    input_keep_prob: the probability of keeping an input element.
    output_keep_prob: the probability of keeping an output element.
    seed: the masks' seed.
    training: False (or a traced bool) switches dropout off.
@CELLRAISES
Example:
    >>> cell = gc.rnn.DropoutWrapper(gc.rnn.GRUCell(3, seed=0), output_keep_prob=0.5, training=False)
    >>> out, _ = cell(np.ones((1, 4), np.float32), cell.zero_state(1, "float32"))
    >>> out.shape
    (1, 3)
=== rnn.LSTMStateTuple
Args:
    c: the cell state (batch, units).
    h: the hidden state (batch, units).
Example:
    >>> s = gc.rnn.LSTMStateTuple(np.zeros(2), np.ones(2))
    >>> s.h, tuple(s) == (s.c, s.h)
    (array([1., 1.]), True)
=== rnn.dynamic_rnn
Args:
    cell: an RNNCell.
    inputs: (batch, time, features) ((time, batch, features) if time_major).
    sequence_length: (batch,) int valid lengths (padded steps output zeros, the final
        state is each example's last valid one); None: every step is valid.
    initial_state: the starting state (None: zeros, which needs dtype).
    dtype: the state's dtype when initial_state is None.
    time_major: the inputs' layout.
Returns:
    (outputs in the inputs' layout with units features, final state).
Raises:
    ShapeError: inputs is not 3-D.
Example:
    >>> cell = gc.rnn.GRUCell(4, seed=0)
    >>> run = gc.compile(lambda x: gc.rnn.dynamic_rnn(cell, x, dtype="float32"))
    >>> outputs, state = run(np.ones((2, 5, 3), np.float32))
    >>> outputs.shape, state.shape
    ((2, 5, 4), (2, 4))
=== rnn.static_rnn
Args:
    cell: an RNNCell.
    inputs: a list of (batch, features) arrays, one per step.
    initial_state: the starting state (None: zeros of dtype).
    dtype: the state's dtype when initial_state is None.
    sequence_length: (batch,) valid lengths, as dynamic_rnn.
Returns:
    (a list of outputs, one per step, final state); unrolled in the trace.
Raises:
    ShapeError: the steps' shapes differ.
Example:
    >>> cell = gc.rnn.BasicRNNCell(2, seed=0)
    >>> outs, state = gc.rnn.static_rnn(cell, [np.ones((1, 3), np.float32)] * 4)
    >>> len(outs), state.shape
    (4, (1, 2))
"""


def entries() -> dict:
    table = (TABLE.replace("@INIT", _INIT_ARGS).replace("@RANDOM", _RANDOM_ARGS).replace("@CELLRAISES", _CELL_RAISES)
             .replace("@CELL", _CELL_ARGS).replace("@LAYER", _LAYER_RAISES))
    return parse_table(table)
