"""tf.data in graph mode: TF 1.x iterators over graphc.data pipelines.

Four kinds, as in TF 1.x, all one class (``Iterator``):

- one-shot: ``dataset.make_one_shot_iterator()``; starts on its first ``get_next`` run;
- initializable: ``dataset.make_initializable_iterator()``; ``sess.run(it.initializer,
  feed_dict=...)`` binds the placeholders the dataset slices and starts a new pass
  (run it again for every epoch);
- reinitializable: ``Iterator.from_structure(output_types, output_shapes)``; each
  ``it.make_initializer(dataset)`` is an op switching the iterator to a new pass over
  that dataset (training / validation), whose structure must match;
- feedable: ``Iterator.from_string_handle(handle_placeholder, types, shapes)``; each
  run's ``get_next`` reads the iterator named by the fed handle, a value obtained
  from ``sess.run(other_iterator.string_handle())``.

``get_next()`` is a host-input op (hostrun.py): each ``Session.run`` that needs it
takes the next element from a Python iterator over the dataset (its prefetching
threads keep working between runs) and feeds it to the compiled program. The end of
a pass raises ``tf.errors.OutOfRangeError``; reading an initializable or
reinitializable iterator before its initializer ran raises ``FailedPreconditionError``.
Iterator positions belong to the session (a new session starts afresh, as TF's
resource manager does).
"""
from __future__ import annotations

import copy
import itertools
import threading
import weakref

import numpy as np

from ...data import dataset as _ds
from ...data import structure as _structure
from ...data.dataset import (AUTOTUNE, CsvDataset, Dataset, FixedLengthRecordDataset,  # noqa: F401
                             TextLineDataset)
from . import dtypes as _dtypes
from .errors import FailedPreconditionError, InvalidArgumentError, OutOfRangeError
from .graph import Spec, Tensor, get_default_graph
from .hostrun import mark_graph, record_host_input, session_state
from .shapes import TensorShape

_handles: "weakref.WeakValueDictionary[bytes, Iterator]" = weakref.WeakValueDictionary()
_handle_ids = itertools.count()


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


def _specs_of_structure(output_types, output_shapes):
    """Specs and structure from TF-style ``output_types`` / ``output_shapes`` (numpy or
    tf dtypes; shapes as tuples, lists or TensorShapes, None: unknown)."""
    types, s = _structure.flatten(output_types)
    if not types:
        raise ValueError("Iterator.from_structure: output_types has no components")
    try:
        shapes = [None] * len(types) if output_shapes is None else _structure.flatten_up_to(s, output_shapes)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"output_shapes {output_shapes!r} does not match the structure of output_types "
                         f"{output_types!r}: {e}") from None
    return [Spec(_shape_of(sh), _dtypes.string if _is_string(t) else _dtypes.as_dtype(t))
            for t, sh in zip(types, shapes)], s


def _is_string(t):
    return t in (str, bytes, object) or getattr(t, "name", None) == "string"


def _shape_of(sh):
    if sh is None or isinstance(sh, TensorShape):
        return sh
    return _ds._shape_arg(sh)


def _same_structure(a, b) -> bool:
    """Structures (structure.flatten's) that hold the same leaves: tuples and namedtuples
    of one length match, dicts match by their key sets (order is free, as in TF)."""
    if a is None or b is None:
        return a is None and b is None
    (ka, ma, ca), (kb, mb, cb) = a, b
    if (ka == "dict") != (kb == "dict"):
        return False
    if ka == "dict":
        if set(ma) != set(mb):
            return False
        by_key = dict(zip(mb, cb))
        return all(_same_structure(c, by_key[k]) for k, c in zip(ma, ca))
    return len(ca) == len(cb) and all(_same_structure(x, y) for x, y in zip(ca, cb))


def _describe(specs, s, what):
    return repr(_structure.unflatten(s, [getattr(x, what) for x in specs]))


def _check_compatible(expected, expected_s, got, got_s, context, error=None):
    """Raise (TypeError / ValueError as TF, or ``error`` at run time) naming both
    structures unless ``got`` fits ``expected``."""
    def fail(exc, message):
        raise (error(None, None, message) if error is not None else exc(message))

    if not _same_structure(expected_s, got_s):
        fail(TypeError, f"{context}: expected elements structured as {_describe(expected, expected_s, 'dtype')} but "
                        f"the dataset's elements are structured as {_describe(got, got_s, 'dtype')}")
    # compare leaf by leaf in the expected structure's order (dict keys may differ in order)
    got_in_order = _structure.flatten_up_to(expected_s, _structure.unflatten(got_s, got))
    if any(e.dtype != g.dtype for e, g in zip(expected, got_in_order)):
        fail(TypeError, f"{context}: expected output types {_describe(expected, expected_s, 'dtype')} but got a "
                        f"dataset with output types {_describe(got, got_s, 'dtype')}")
    if any(not g.shape.is_compatible_with(e.shape) for e, g in zip(expected, got_in_order)):
        fail(ValueError, f"{context}: expected output shapes compatible with {_describe(expected, expected_s, 'shape')}"
                         f" but got a dataset with output shapes {_describe(got, got_s, 'shape')}")


class _IteratorState:
    """One session's position in an iterator: the graphc.data iterator of the current
    pass (None before the first initialization and after the end of a pass)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.it = None
        self.initialized = False

    def _on_session_close(self):
        it, self.it = self.it, None
        if it is not None:
            it.close()


class Iterator:
    """A graph-mode iterator over graphc.data Datasets (tf.data.Iterator)."""

    def __init__(self, dataset, initializable, *, specs=None, structure=None, shared_name=None):
        graph = get_default_graph()
        mark_graph(graph)
        if dataset is not None:
            if not isinstance(dataset, Dataset):
                raise TypeError(f"expected a graphc.data Dataset, got {type(dataset).__name__}")
            specs, structure = _tf_specs(dataset)
            if _v1_tensors(dataset, []) and not initializable:
                raise ValueError("make_one_shot_iterator: the dataset slices graph tensors (placeholders); use "
                                 "make_initializable_iterator and feed them when running its initializer")
        self._dataset = dataset
        self._initializable = initializable
        self._specs, self._structure = specs, structure
        self._name = graph.unique_name("Iterator")
        self._initializer = None
        self._handle_value = None
        self._shared_name = shared_name

    # -- TF 1.x constructors -----------------------------------------------------------
    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None, output_classes=None):
        """A reinitializable iterator: no dataset yet; ``make_initializer(ds)`` gives the
        op that starts a pass over ``ds`` (any dataset of this structure)."""
        specs, s = _specs_of_structure(output_types, output_shapes)
        return Iterator(None, True, specs=specs, structure=s, shared_name=shared_name)

    @staticmethod
    def from_string_handle(string_handle, output_types, output_shapes=None, output_classes=None):
        """A feedable iterator: each run's ``get_next`` reads the iterator whose
        ``string_handle()`` value is fed to ``string_handle`` (a tf.string placeholder)."""
        specs, s = _specs_of_structure(output_types, output_shapes)
        if not isinstance(string_handle, Tensor) or string_handle.dtype != _dtypes.string:
            raise TypeError(f"Iterator.from_string_handle: string_handle must be a tf.string tensor (a placeholder "
                            f"fed with an iterator's string_handle() value), got {string_handle!r}")
        return _FeedableIterator(string_handle, specs, s)

    # -- accessors (tf.compat.v1.data.get_output_types/shapes) -------------------------
    @property
    def output_types(self):
        return _structure.unflatten(self._structure, [s.dtype for s in self._specs])

    @property
    def output_shapes(self):
        return _structure.unflatten(self._structure, [s.shape for s in self._specs])

    @property
    def output_classes(self):
        return _structure.unflatten(self._structure, [Tensor for _ in self._specs])

    @property
    def element_spec(self):
        return _structure.unflatten(self._structure, list(self._specs))

    # -- initialization ----------------------------------------------------------------
    def _state(self, session):
        return session_state(session, ("iterator", self), _IteratorState)

    @property
    def initializer(self):
        """The op starting a new pass (an initializable iterator's own dataset)."""
        if not self._initializable or self._dataset is None:
            raise ValueError("this iterator has no initializer: a one-shot iterator starts by itself, and one "
                             "made by Iterator.from_structure is initialized by its make_initializer(dataset) ops")
        if self._initializer is None:
            self._initializer = self._make_initializer(self._dataset, f"{self._name}/MakeIterator")
        return self._initializer

    def make_initializer(self, dataset, name=None):
        """The op switching this iterator to a new pass over ``dataset``: a TypeError
        (types, structure) or ValueError (shapes) naming both structures unless the
        dataset's elements fit the iterator's."""
        if not self._initializable:
            raise ValueError("make_initializer: a one-shot iterator cannot be reinitialized; make one with "
                             "tf.data.Iterator.from_structure(output_types, output_shapes)")
        if not isinstance(dataset, Dataset):
            raise TypeError(f"make_initializer: expected a graphc.data Dataset, got {type(dataset).__name__}")
        got, got_s = _tf_specs(dataset)
        _check_compatible(self._specs, self._structure, got, got_s, f"make_initializer of {self._name}")
        return self._make_initializer(dataset, name or get_default_graph().unique_name(f"{self._name}/MakeIterator"))

    def _make_initializer(self, dataset, name):
        tensors = _v1_tensors(dataset, [])

        def run(session, values):
            ds = _bind(dataset, dict(zip(tensors, values))) if tensors else dataset
            st = self._state(session)
            new = _ds.Iterator(ds)
            with st.lock:
                old, st.it = st.it, new
                st.initialized = True
            if old is not None:
                old.close()
            return ()

        return record_host_input("MakeIterator", run, list(tensors), (), name=name)

    # -- reading -----------------------------------------------------------------------
    def _next_flat(self, session, structure=None):
        """The next element's leaves (in ``structure``'s order, default this iterator's)
        from this session's pass."""
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
        return _structure.flatten_up_to(structure if structure is not None else self._structure, element)

    def get_next(self, name=None):
        outs = record_host_input("IteratorGetNext", lambda session, values: self._next_flat(session), (),
                                 self._specs, name=name or f"{self._name}/IteratorGetNext")
        return _structure.unflatten(self._structure, outs)

    def string_handle(self, name=None):
        """A tf.string scalar naming this iterator, to feed to a feedable iterator's
        handle placeholder (``Iterator.from_string_handle``)."""
        if self._handle_value is None:
            self._handle_value = f"graphc-iterator:{next(_handle_ids)}:{self._name}".encode()
            _handles[self._handle_value] = self
        value = self._handle_value
        return record_host_input("IteratorToStringHandle", lambda session, values: (np.asarray(value, object),), (),
                                 (Spec((), _dtypes.string),), name=name or f"{self._name}/ToStringHandle")[0]


class _FeedableIterator(Iterator):
    """``Iterator.from_string_handle``: reads whichever iterator the fed handle names."""

    def __init__(self, handle, specs, structure):
        super().__init__(None, False, specs=specs, structure=structure)
        self._handle = handle

    @property
    def initializer(self):
        raise ValueError("a feedable iterator (Iterator.from_string_handle) has no initializer: initialize the "
                         "iterators whose handles are fed to it")

    def make_initializer(self, dataset, name=None):
        raise ValueError("a feedable iterator (Iterator.from_string_handle) cannot be initialized with a dataset: "
                         "feed it the string_handle() of an iterator over that dataset")

    def get_next(self, name=None):
        def run(session, values):
            handle = values[0]
            handle = handle.item() if isinstance(handle, np.ndarray) else handle
            handle = handle.encode() if isinstance(handle, str) else handle
            target = _handles.get(handle) if isinstance(handle, bytes) else None
            if target is None:
                raise InvalidArgumentError(None, None, f"{self._name}: the fed string handle {handle!r} names no "
                                           "live iterator (feed the value of sess.run(iterator.string_handle()))")
            _check_compatible(self._specs, self._structure, target._specs, target._structure,
                              f"{self._name} (from_string_handle) fed the handle of {target._name}",
                              error=InvalidArgumentError)
            return target._next_flat(session, self._structure)

        outs = record_host_input("IteratorGetNext", run, [self._handle], self._specs,
                                 name=name or f"{self._name}/IteratorGetNext")
        return _structure.unflatten(self._structure, outs)


def make_one_shot_iterator(dataset):
    return Iterator(dataset, initializable=False)


def make_initializable_iterator(dataset, shared_name=None):
    return Iterator(dataset, initializable=True, shared_name=shared_name)


def _spec_tree(dataset_or_iterator):
    if isinstance(dataset_or_iterator, Iterator):
        return dataset_or_iterator._specs, dataset_or_iterator._structure
    if isinstance(dataset_or_iterator, Dataset):
        return _tf_specs(dataset_or_iterator)
    raise TypeError(f"expected a Dataset or an Iterator, got {type(dataset_or_iterator).__name__}")


def get_output_types(dataset_or_iterator):
    """tf.compat.v1.data.get_output_types: the tf dtypes, nested like the elements."""
    specs, s = _spec_tree(dataset_or_iterator)
    return _structure.unflatten(s, [x.dtype for x in specs])


def get_output_shapes(dataset_or_iterator):
    """tf.compat.v1.data.get_output_shapes: the TensorShapes, nested like the elements."""
    specs, s = _spec_tree(dataset_or_iterator)
    return _structure.unflatten(s, [x.shape for x in specs])


def get_output_classes(dataset_or_iterator):
    specs, s = _spec_tree(dataset_or_iterator)
    return _structure.unflatten(s, [Tensor for _ in specs])


class experimental:  # noqa: N801 - tf.data.experimental
    AUTOTUNE = AUTOTUNE
    CsvDataset = CsvDataset
