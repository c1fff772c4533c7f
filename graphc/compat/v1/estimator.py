"""tf.estimator.DNNClassifier with numpy input functions (chapter 10's high-level API).

    feature_cols = [tf.feature_column.numeric_column("X", shape=[28 * 28])]
    dnn_clf = tf.estimator.DNNClassifier(hidden_units=[300, 100], n_classes=10,
                                         feature_columns=feature_cols)
    input_fn = tf.estimator.inputs.numpy_input_fn(x={"X": X_train}, y=y_train,
                                                  num_epochs=40, batch_size=50, shuffle=True)
    dnn_clf.train(input_fn=input_fn)
    dnn_clf.evaluate(input_fn=test_input_fn)   # {"accuracy", "average_loss", "loss", "global_step"}
    list(dnn_clf.predict(input_fn=test_input_fn))

The model is TF 1.x's: the numeric columns concatenated in key order, ``dnn/hiddenlayer_i``
dense layers (ReLU, Glorot-uniform kernels), ``dnn/logits``, Adagrad with learning rate
0.05, the loss summed over the batch (TF 1.x's loss_reduction SUM); two classes use
the binary head (one logit, sigmoid cross entropy). Differences, all on the input side:
the graph and session live in the estimator object (no model_dir checkpoints between
calls), and input functions must come from ``numpy_input_fn`` (batches are fed from
numpy; shuffling draws one permutation per epoch instead of TF's shuffle queue).
"""
from __future__ import annotations

import types

import numpy as np

from . import dtypes, layers, nn, train
from .array_ops import concat, placeholder, reshape
from .graph import Graph
from .math_ops import argmax, cast, equal, reduce_mean, reduce_sum, sigmoid
from .session import Session
from .variables import global_variables_initializer, variable_scope


class NumericColumn:
    def __init__(self, key, shape=(1,), default_value=None, dtype=dtypes.float32, normalizer_fn=None):
        self.key = key
        self.shape = tuple(int(d) for d in shape) if isinstance(shape, (list, tuple)) else (int(shape),)
        self.dtype = dtypes.as_dtype(dtype)
        self.normalizer_fn = normalizer_fn


def numeric_column(key, shape=(1,), default_value=None, dtype=dtypes.float32, normalizer_fn=None):
    """tf.feature_column.numeric_column: a dense float feature of the given shape."""
    return NumericColumn(key, shape, default_value, dtype, normalizer_fn)


class _NumpyInput:
    """What numpy_input_fn returns: the arrays and how to batch them."""

    def __init__(self, x, y, batch_size, num_epochs, shuffle):
        if shuffle is None:
            raise ValueError("shuffle must be provided explicitly as a bool (TF's numpy_input_fn)")
        self.x = {k: np.asarray(v) for k, v in (x.items() if isinstance(x, dict) else {"__x": x}.items())}
        self.y = None if y is None else np.asarray(y)
        sizes = {len(v) for v in self.x.values()} | ({len(self.y)} if self.y is not None else set())
        if len(sizes) != 1:
            raise ValueError(f"numpy_input_fn: features and labels have different lengths {sorted(sizes)}")
        self.n = sizes.pop()
        self.batch_size, self.num_epochs, self.shuffle = int(batch_size), num_epochs, bool(shuffle)
        self.rng = np.random.default_rng(0)

    def batches(self):
        """(features dict, labels) per batch, num_epochs times (forever if None)."""
        epoch = 0
        while self.num_epochs is None or epoch < self.num_epochs:
            order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            for start in range(0, self.n, self.batch_size):
                idx = order[start:start + self.batch_size]
                yield {k: v[idx] for k, v in self.x.items()}, (None if self.y is None else self.y[idx])
            epoch += 1

    def __call__(self):
        raise NotImplementedError("graphc's estimators read numpy_input_fn inputs directly; calling the input "
                                  "function to get tensors is not supported")


def numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None, queue_capacity=1000, num_threads=1):
    """tf.estimator.inputs.numpy_input_fn: batches of a dict of arrays (and labels)."""
    return _NumpyInput(x, y, batch_size, num_epochs, shuffle)


def _optimizer(optimizer):
    if not isinstance(optimizer, str):
        return optimizer() if callable(optimizer) and not isinstance(optimizer, train.Optimizer) else optimizer
    makers = {"Adagrad": lambda: train.AdagradOptimizer(0.05), "Adam": lambda: train.AdamOptimizer(0.05),
              "Ftrl": lambda: train.FtrlOptimizer(0.05), "RMSProp": lambda: train.RMSPropOptimizer(0.05),
              "SGD": lambda: train.GradientDescentOptimizer(0.05)}
    if optimizer not in makers:
        raise ValueError(f"Unsupported optimizer name: {optimizer}. Supported names are: {sorted(makers)}")
    return makers[optimizer]()


class DNNClassifier:
    """A feed-forward classifier (see the module docstring)."""

    def __init__(self, hidden_units, feature_columns, model_dir=None, n_classes=2, weight_column=None,
                 label_vocabulary=None, optimizer="Adagrad", activation_fn=nn.relu, dropout=None,
                 input_layer_partitioner=None, config=None, warm_start_from=None, loss_reduction="sum",
                 batch_norm=False):
        if weight_column is not None or label_vocabulary is not None or batch_norm:
            raise NotImplementedError("DNNClassifier: weight_column, label_vocabulary and batch_norm are not "
                                      "supported")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be > 1: {n_classes}")
        self._hidden_units = [int(u) for u in hidden_units]
        self._columns = sorted(feature_columns, key=lambda c: c.key)
        self._n_classes = int(n_classes)
        self._optimizer_spec = optimizer
        self._activation = activation_fn
        self._dropout = dropout
        self.model_dir = model_dir
        if loss_reduction not in ("sum", "weighted_mean", "weighted_sum_over_batch_size", "sum_over_batch_size"):
            raise ValueError(f"DNNClassifier: unsupported loss_reduction {loss_reduction!r}")
        self._mean_loss = loss_reduction != "sum"
        self._graph = None

    # -- graph ------------------------------------------------------------------------------------
    def _build(self):
        self._graph = Graph()
        with self._graph.as_default():
            self._inputs = {c.key: placeholder(c.dtype, (None,) + c.shape, name=c.key) for c in self._columns}
            self._labels = placeholder(dtypes.int64, (None,), name="labels")
            self._training = placeholder(dtypes.bool, (), name="training")
            flat = [reshape(self._inputs[c.key], [-1, int(np.prod(c.shape))]) for c in self._columns]
            net = flat[0] if len(flat) == 1 else concat(flat, 1)
            with variable_scope("dnn"):
                for i, units in enumerate(self._hidden_units):
                    net = layers.dense(net, units, activation=self._activation, name=f"hiddenlayer_{i}")
                    if self._dropout is not None:
                        net = layers.dropout(net, rate=self._dropout, training=self._training)
                binary = self._n_classes == 2
                logits = layers.dense(net, 1 if binary else self._n_classes, name="logits")
            labels32 = cast(self._labels, dtypes.int32)
            if binary:
                per_example = reduce_sum(nn.sigmoid_cross_entropy_with_logits(
                    labels=cast(reshape(self._labels, [-1, 1]), dtypes.float32), logits=logits), axis=1)
                p = sigmoid(logits)
                probabilities = concat([1.0 - p, p], 1)
            else:
                per_example = nn.sparse_softmax_cross_entropy_with_logits(labels=labels32, logits=logits)
                probabilities = nn.softmax(logits)
            self._logits, self._probabilities = logits, probabilities
            self._class_ids = argmax(probabilities, 1)
            self._loss = reduce_mean(per_example) if self._mean_loss else reduce_sum(per_example)  # TF 1.x: SUM
            self._average_loss = reduce_mean(per_example)
            self._accuracy = reduce_mean(cast(equal(self._class_ids, self._labels), dtypes.float32))
            self._global_step = train.get_or_create_global_step()
            self._train_op = _optimizer(self._optimizer_spec).minimize(self._loss, global_step=self._global_step)
            self._session = Session(graph=self._graph)
            self._session.run(global_variables_initializer())

    def _feed(self, features, labels, training):
        feed = {self._inputs[c.key]: np.asarray(features[c.key], np.float32).reshape((-1,) + c.shape)
                for c in self._columns}
        feed[self._training] = training
        if labels is not None:
            feed[self._labels] = np.asarray(labels).reshape(-1).astype(np.int64)
        return feed

    @staticmethod
    def _check(input_fn):
        if not isinstance(input_fn, _NumpyInput):
            raise NotImplementedError("graphc's DNNClassifier takes input functions made by "
                                      "tf.estimator.inputs.numpy_input_fn")
        return input_fn

    def _features(self, features):
        if "__x" in features and len(self._columns) == 1:
            return {self._columns[0].key: features["__x"]}
        return features

    # -- API ----------------------------------------------------------------------------------------
    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Run training steps over the input's batches (at most ``steps`` more, or until
        the global step reaches ``max_steps``); returns self."""
        data = self._check(input_fn)
        if data.y is None:
            raise ValueError("train needs labels (numpy_input_fn(..., y=...))")
        if self._graph is None:
            self._build()
        done = 0
        for features, labels in data.batches():
            if steps is not None and done >= steps:
                break
            if max_steps is not None and self.get_global_step() >= max_steps:
                break
            self._session.run(self._train_op, self._feed(self._features(features), labels, True))
            done += 1
        return self

    def get_global_step(self):
        return int(self._session.run(self._global_step)) if self._graph is not None else 0

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        """{"accuracy", "average_loss", "loss" (mean of the batches' summed losses), "global_step"}."""
        data = self._check(input_fn)
        if self._graph is None:
            raise ValueError("Could not find trained model: train it first")
        correct = total = 0
        example_loss, batch_losses = 0.0, []
        for i, (features, labels) in enumerate(data.batches()):
            if steps is not None and i >= steps:
                break
            acc, loss, average = self._session.run([self._accuracy, self._loss, self._average_loss],
                                                   self._feed(self._features(features), labels, False))
            n = len(labels)
            correct += acc * n
            total += n
            example_loss += average * n
            batch_losses.append(loss)
        return {"accuracy": np.float32(correct / total), "average_loss": np.float32(example_loss / total),
                "loss": np.float32(np.mean(batch_losses)), "global_step": self.get_global_step()}

    def predict(self, input_fn, predict_keys=None, hooks=None, checkpoint_path=None, yield_single_examples=True):
        """One dict per example: logits, probabilities, class_ids, classes (bytes)."""
        data = self._check(input_fn)
        if self._graph is None:
            raise ValueError("Could not find trained model: train it first")
        for features, _ in data.batches():
            logits, probs, ids = self._session.run([self._logits, self._probabilities, self._class_ids],
                                                   self._feed(self._features(features), None, False))
            for row in range(len(ids)):
                out = {"logits": logits[row], "probabilities": probs[row], "class_ids": np.array([ids[row]]),
                       "classes": np.array([str(ids[row]).encode()])}
                if predict_keys is not None:
                    out = {k: v for k, v in out.items() if k in predict_keys}
                yield out


# -- tf.contrib.learn (the book's first edition) ---------------------------------------------------


def infer_real_valued_columns_from_input(x):
    """One numeric column (key "") with the shape of an example of x."""
    return [NumericColumn("", np.asarray(x).shape[1:] or (1,))]


class LearnDNNClassifier:
    """tf.contrib.learn.DNNClassifier, scikit-learn style (as SKCompat wraps it): fit(x, y,
    batch_size, steps), evaluate(x, y), predict(x) -> {"classes", "probabilities", "logits"}.
    The loss is the batch mean (contrib.learn's), Adagrad 0.05 as the estimator's."""

    def __init__(self, hidden_units, feature_columns, model_dir=None, n_classes=2, optimizer="Adagrad",
                 activation_fn=nn.relu, dropout=None, **kwargs):
        self._est = DNNClassifier(hidden_units, feature_columns, model_dir, n_classes, optimizer=optimizer,
                                  activation_fn=activation_fn, dropout=dropout, loss_reduction="weighted_mean")
        self._key = feature_columns[0].key if len(feature_columns) == 1 else None

    def _x(self, x):
        return x if isinstance(x, dict) else {self._key: x}

    def fit(self, x, y, batch_size=None, steps=None, max_steps=None, monitors=None):
        self._est.train(numpy_input_fn(self._x(x), y, batch_size=batch_size or 128, num_epochs=None, shuffle=True),
                        steps=steps, max_steps=max_steps)
        return self

    def evaluate(self, x=None, y=None, batch_size=None, steps=None, metrics=None, name=None):
        return self._est.evaluate(numpy_input_fn(self._x(x), y, batch_size=batch_size or 128, shuffle=False))

    def predict(self, x, batch_size=None, outputs=None):
        rows = list(self._est.predict(numpy_input_fn(self._x(x), None, batch_size=batch_size or 128,
                                                     shuffle=False)))
        return {"classes": np.array([r["class_ids"][0] for r in rows]),
                "probabilities": np.stack([r["probabilities"] for r in rows]),
                "logits": np.stack([r["logits"] for r in rows])}


def SKCompat(estimator_):  # noqa: N802  (TF's name)
    """tf.contrib.learn.SKCompat: graphc's LearnDNNClassifier already has the scikit-learn API."""
    return estimator_


estimator = types.SimpleNamespace(DNNClassifier=DNNClassifier,
                                  inputs=types.SimpleNamespace(numpy_input_fn=numpy_input_fn))
feature_column = types.SimpleNamespace(numeric_column=numeric_column)
learn = types.SimpleNamespace(DNNClassifier=LearnDNNClassifier, SKCompat=SKCompat,
                              infer_real_valued_columns_from_input=infer_real_valued_columns_from_input)
