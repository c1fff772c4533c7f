"""tf.data in graph mode: ``make_one_shot_iterator(dataset).get_next()`` and
``make_initializable_iterator``, over graphc.data pipelines.

``get_next()`` is a host-input op (hostrun.py): each ``Session.run`` that needs it
takes the next element from a Python iterator over the dataset (its prefetching
threads keep working between runs) and feeds it to the compiled program; at the end
it raises ``tf.errors.OutOfRangeError``. The iterator state belongs to the session. An
initializable iterator's dataset may slice graph tensors (placeholders):
``sess.run(it.initializer, feed_dict=...)`` binds their values and starts a new pass.
"""
from __future__ import annotations

import copy
import threading

import numpy as np

from ...data import dataset as _ds
from ...data import structure as _structure
from ...data.dataset import (AUTOTUNE, CsvDataset, Dataset, FixedLengthRecordDataset,  # noqa: F401
                             TextLineDataset)
from . import dtypes as _dtypes
from .errors import FailedPreconditionError, OutOfRangeError
from .graph import Spec, Tensor, get_default_graph
from .hostrun import mark_graph, record_host_input, session_state


def _v1_tensors(ds, out):
    """The graphc.compat.v1 tensors a dataset slices (placeholders), in order."""
    if isinstance(ds, _ds.FromTensorSlices):
        out += [x for x in ds._leaves if isinstance(x, Tensor) and x not in out]
    for child in ([ds._input] if hasattr(ds, "_input") else []) + list(getattr(ds, "_inputs", ())):
        _v1_tensors(child, out)
    return out


def _bind(ds, values):
    """A copy of the dataset with graph tensors replaced by their values in this run."""
    if isinstance(ds, _ds.FromTensorSlices):
        if not any(isinstance(x, Tensor) for x in ds._leaves):
            return ds
        leaves = [values[x] if isinstance(x, Tensor) else x for x in ds._leaves]
        return _ds.FromTensorSlices(_structure.unflatten(ds._structure, leaves))
    new = copy.copy(ds)
    if hasattr(ds, "_input"):
        new._input = _bind(ds._input, values)
    if hasattr(ds, "_inputs"):
        new._inputs = [_bind(d, values) for d in ds._inputs]
    return new


def _tf_specs(dataset):
    leaves, s = _structure.flatten(dataset.element_spec)
    specs = [Spec(x.shape, _dtypes.string if x.dtype is object else _dtypes.as_dtype(x.dtype.name)) for x in leaves]
    return specs, s


class _IteratorState:
    def __init__(self):
        self.lock = threading.Lock()
        self.it = None
        self.initialized = False

    def _on_session_close(self):
        it, self.it = self.it, None
        if it is not None:
            it.close()


class Iterator:
    """A graph-mode iterator over a graphc.data Dataset (tf.data.Iterator)."""

    def __init__(self, dataset, initializable):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"expected a graphc.data Dataset, got {type(dataset).__name__}")
        graph = get_default_graph()
        mark_graph(graph)
        self._dataset = dataset
        self._initializable = initializable
        self._specs, self._structure = _tf_specs(dataset)
        self._tensors = _v1_tensors(dataset, [])
        if self._tensors and not initializable:
            raise ValueError("make_one_shot_iterator: the dataset slices graph tensors (placeholders); use "
                             "make_initializable_iterator and feed them when running its initializer")
        self._name = graph.unique_name("Iterator")
        self._initializer = None

    def _state(self, session):
        return session_state(session, ("iterator", self), _IteratorState)

    @property
    def output_types(self):
        return _structure.unflatten(self._structure, [s.dtype for s in self._specs])

    @property
    def output_shapes(self):
        return _structure.unflatten(self._structure, [s.shape for s in self._specs])

    @property
    def initializer(self):
        if not self._initializable:
            raise ValueError("a one-shot iterator has no initializer")
        if self._initializer is None:
            def run(session, values):
                ds = _bind(self._dataset, dict(zip(self._tensors, values))) if self._tensors else self._dataset
                st = self._state(session)
                with st.lock:
                    old, st.it = st.it, _ds.Iterator(ds)
                    st.initialized = True
                if old is not None:
                    old.close()
                return ()

            self._initializer = record_host_input("MakeIterator", run, list(self._tensors), (),
                                                  name=f"{self._name}/MakeIterator")
        return self._initializer

    def make_initializer(self, dataset, name=None):
        raise NotImplementedError("reinitializable iterators (Iterator.from_structure) are not supported by graphc")

    def get_next(self, name=None):
        def run(session, values):
            st = self._state(session)
            with st.lock:
                if st.it is None:
                    if st.initialized:
                        raise OutOfRangeError(None, None, "End of sequence")
                    if self._initializable:
                        raise FailedPreconditionError(None, None, "GetNext() failed because the iterator has not "
                                                      "been initialized. Ensure that you have run the initializer "
                                                      "operation for this iterator before getting the next element.")
                    st.it, st.initialized = _ds.Iterator(self._dataset), True
                try:
                    element = next(st.it)
                except StopIteration:
                    st.it = None
                    st.initialized = True
                    raise OutOfRangeError(None, None, "End of sequence") from None
            return _structure.flatten(element)[0]

        outs = record_host_input("IteratorGetNext", run, (), self._specs, name=name or f"{self._name}/IteratorGetNext")
        return _structure.unflatten(self._structure, outs)


def make_one_shot_iterator(dataset):
    return Iterator(dataset, initializable=False)


def make_initializable_iterator(dataset, shared_name=None):
    return Iterator(dataset, initializable=True)


class experimental:  # noqa: N801 - tf.data.experimental
    AUTOTUNE = AUTOTUNE
    CsvDataset = CsvDataset
