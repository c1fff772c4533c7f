"""``graphc.data.Dataset``: a streaming input pipeline in the style of ``tf.data``.

A Dataset is a recipe; iterating it (``for batch in ds``) starts one pass (an epoch)
through a chain of Python iterators, one per transformation. Elements are nested
structures (tuples, namedtuples, dicts; see structure.py) of numpy arrays. ``prefetch``
and ``map(num_parallel_calls=k)`` run their upstream in daemon threads (_threads.py),
so batch i+1 is built while the consumer's compiled step i runs in native code.

In-memory sources take a vectorized path: ``from_tensor_slices`` followed by
``shuffle``/``take``/``skip``/finite ``repeat`` and ``batch`` compute the epoch's index
order (the same shuffle draws the element-wise path makes, so the same seed gives the
same order either way) and gather each batch with one ``np.take`` per component
instead of stacking single elements.
"""
from __future__ import annotations

import itertools
import os

import numpy as np

from ..errors import ShapeError
from . import readers, structure
from ._threads import ParallelMap, Prefetcher

AUTOTUNE = -1
_SHUFFLE_DRAWS = 1024   # steady-state shuffle draws taken from the generator at a time


class _Unbound(RuntimeError):
    """A dataset over graph tensors iterated before an iterator initializer bound them."""


class Spec:
    """Static shape (None: varies) and dtype of one element component."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype if dtype is object else np.dtype(dtype)

    def __repr__(self):
        return f"Spec(shape={self.shape}, dtype={'string' if self.dtype is object else self.dtype.name})"

    def __eq__(self, other):
        return isinstance(other, Spec) and (self.shape, self.dtype) == (other.shape, other.dtype)

    __hash__ = None


def _spec_of_value(v):
    if isinstance(v, (bytes, str)) or (isinstance(v, np.ndarray) and v.dtype == object):
        return Spec(np.shape(v) if isinstance(v, np.ndarray) else (), object)
    v = np.asarray(v)
    return Spec(v.shape, v.dtype)


def _cpus() -> int:
    """The CPUs this process may run on (a container or taskset limits them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _workers(num_parallel_calls):
    if num_parallel_calls is None:
        return 0
    n = int(num_parallel_calls)
    if n == AUTOTUNE:
        # one core stays with the consumer, whose compiled step runs on graphc's kernel
        # threads too: more map threads than the other cores only take turns with them
        return max(1, _cpus() - 1)
    if n < 1:
        raise ValueError(f"num_parallel_calls must be a positive int or AUTOTUNE, got {num_parallel_calls}")
    return n


def _call(fn, element):
    """tf.data's calling convention: a tuple element is unpacked into arguments."""
    if isinstance(element, tuple) and not structure._is_namedtuple(element):
        return fn(*element)
    return fn(element)


def _check_count(name, n, allow_minus_one=False):
    n = int(n)
    if n < 0 and not (allow_minus_one and n == -1):
        raise ValueError(f"{name} must be >= 0{' or -1' if allow_minus_one else ''}, got {n}")
    return n


class Dataset:
    """Base class: the transformations, iteration, and the static element spec."""

    # -- sources ---------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """Elements are the slices along axis 0 of every component (all must agree)."""
        return FromTensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors):
        """One element: ``tensors`` itself."""
        return FromTensors(tensors)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None, output_signature=None):
        """Elements yielded by ``generator(*args)`` (a callable: each epoch calls it again),
        cast to ``output_types`` and checked against ``output_shapes`` when given."""
        return FromGenerator(generator, output_types, output_shapes, args, output_signature)

    @staticmethod
    def range(*args, dtype=np.int64):
        """``range(stop)``, ``range(start, stop[, step])`` as 0-d int64 arrays."""
        return Range(*args, dtype=dtype)

    @staticmethod
    def zip(datasets):
        """Elements are tuples (or dicts...) of the datasets' elements; stops at the shortest."""
        return Zip(datasets)

    # -- transformations ------------------------------------------------------------------
    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """``map_func(element)`` (a tuple element is unpacked into arguments; the function
        may be a ``gc.compile``d one). ``num_parallel_calls=k`` runs it on k background
        threads, results kept in order."""
        return Map(self, map_func, _workers(num_parallel_calls))

    def filter(self, predicate):
        return Filter(self, predicate)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Uniform draws from a buffer of ``buffer_size`` elements (tf.data's algorithm);
        ``buffer_size`` >= the dataset's size is a full random permutation."""
        return Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None):
        return Batch(self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False):
        """Batch elements of different shapes, padding each component to ``padded_shapes``
        (None/-1 dims: the largest in the batch; default: all dims)."""
        return PaddedBatch(self, batch_size, padded_shapes, padding_values, drop_remainder)

    def repeat(self, count=None):
        """``count`` passes (None or -1: forever), each a new epoch upstream (reshuffled)."""
        return Repeat(self, count)

    def take(self, count):
        return Take(self, count)

    def skip(self, count):
        return Skip(self, count)

    def prefetch(self, buffer_size):
        """Build up to ``buffer_size`` elements ahead in a background thread."""
        return Prefetch(self, buffer_size)

    def apply(self, transformation_func):
        return transformation_func(self)

    # -- iteration ------------------------------------------------------------------------
    def __iter__(self):
        return Iterator(self)

    def as_numpy_iterator(self):
        return Iterator(self)

    def _iter(self):
        raise NotImplementedError

    def _index_plan(self):
        """For in-memory sources: (FromTensorSlices, this epoch's int64 indices), else None."""
        return None

    def _background_iter(self, extra):
        """For a stage that already runs in background threads (a parallel ``map``, a
        ``prefetch``): a pass whose buffer holds ``extra`` more elements, so a
        ``prefetch`` after it adds buffering but no thread and no handoff; else None."""
        return None

    @property
    def element_spec(self):
        """The structure of ``Spec(shape, dtype)`` of one element (None dims vary)."""
        return self._spec()

    def _spec(self):
        raise NotImplementedError

    # TF 1.x graph-mode iterators (graphc.compat.v1): tf.data.Dataset in a Session
    def make_one_shot_iterator(self):
        from ..compat.v1 import data as v1_data

        return v1_data.make_one_shot_iterator(self)

    def make_initializable_iterator(self, shared_name=None):
        from ..compat.v1 import data as v1_data

        return v1_data.make_initializable_iterator(self)

    @property
    def output_types(self):
        return structure.map_structure(lambda s: s.dtype, self._spec())

    @property
    def output_shapes(self):
        return structure.map_structure(lambda s: s.shape, self._spec())


class Iterator:
    """One pass over a Dataset. ``close()`` (or dropping the iterator, or breaking out of
    a for loop over the dataset) stops its background threads."""

    def __init__(self, dataset):
        self._it = dataset._iter()

    def __iter__(self):
        return self

    def __next__(self):
        it = self._it
        if it is None:
            raise StopIteration
        try:
            return next(it)
        except BaseException:
            self.close()
            raise

    def get_next(self):
        return next(self)

    def close(self):
        it, self._it = self._it, None
        close = getattr(it, "close", None)
        if close is not None:
            close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _closing(upstream):
    """Iterate ``upstream`` and close it when this generator ends or is closed."""
    try:
        yield from upstream
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()


# -- sources ----------------------------------------------------------------------------------

class FromTensorSlices(Dataset):
    def __init__(self, tensors):
        leaves, self._structure = structure.flatten(tensors)
        if not leaves:
            raise ValueError("from_tensor_slices: needs at least one component")
        self._leaves = []
        names = structure.paths(self._structure)
        for leaf, name in zip(leaves, names):
            if getattr(leaf, "_v1_tensor_like", False) or _is_v1_tensor(leaf):
                self._leaves.append(leaf)     # a graphc.compat.v1 tensor, bound when its iterator initializes
                continue
            a = np.asarray(leaf) if not isinstance(leaf, np.ndarray) else leaf
            if a.ndim == 0:
                raise ShapeError(f"from_tensor_slices: component {name} is a scalar (shape ()); every component "
                                 "needs a leading axis to slice")
            self._leaves.append(a)
        arrays = [(n, a) for n, a in zip(names, self._leaves) if isinstance(a, np.ndarray)]
        lengths = {a.shape[0] for _, a in arrays}
        if len(lengths) > 1:
            desc = ", ".join(f"{n} {a.shape}" for n, a in arrays)
            raise ShapeError(f"from_tensor_slices: all components must have the same size in axis 0, got {desc}")
        self._n = lengths.pop() if lengths else None

    def _bound(self):
        if self._n is None and self._leaves:
            raise _Unbound("from_tensor_slices over graphc.compat.v1 tensors: run the iterator's initializer")

    def _index_plan(self):
        self._bound()
        return self, np.arange(self._n, dtype=np.int64)

    def _gather(self, idx):
        """Elements ``idx`` stacked: one np.take per component."""
        return structure.unflatten(self._structure, [a.take(idx, axis=0) for a in self._leaves])

    def _iter(self):
        self._bound()
        leaves, s = self._leaves, self._structure
        if s is None:
            a = leaves[0]
            return (np.asarray(a[i]) if a.ndim == 1 else a[i] for i in range(self._n))
        return (structure.unflatten(s, [np.asarray(a[i]) if a.ndim == 1 else a[i] for a in leaves])
                for i in range(self._n))

    def _spec(self):
        specs = []
        for a in self._leaves:
            if isinstance(a, np.ndarray):
                specs.append(Spec(a.shape[1:], a.dtype if a.dtype != object else object))
            else:
                dims = a.shape.dims_
                specs.append(Spec(None if dims is None else dims[1:], _np_dtype(a.dtype)))
        return structure.unflatten(self._structure, specs)


def _is_v1_tensor(x):
    return type(x).__name__ == "Tensor" and type(x).__module__.startswith("graphc.compat.v1")


def _np_dtype(dt):
    return object if dt.name == "string" else dt.as_numpy_dtype


class FromTensors(Dataset):
    def __init__(self, tensors):
        self._value = structure.normalize_output(tensors, top=False)

    def _iter(self):
        return iter([self._value])

    def _spec(self):
        return structure.map_structure(_spec_of_value, self._value)


class Range(Dataset):
    def __init__(self, *args, dtype=np.int64):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range expects 1 to 3 arguments (start, stop, step), got {len(args)}")
        self._range = range(*[int(a) for a in args])
        self._dtype = np.dtype(dtype)

    def _iter(self):
        t = self._dtype.type
        return (np.asarray(t(i)) for i in self._range)

    def _spec(self):
        return Spec((), self._dtype)


class FromGenerator(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        if not callable(generator):
            raise TypeError("from_generator: `generator` must be callable (it is called once per epoch)")
        if output_signature is not None:
            leaves, s = structure.flatten(output_signature)
            output_types = structure.unflatten(s, [getattr(x, "dtype") for x in leaves])
            output_shapes = structure.unflatten(s, [getattr(x, "shape") for x in leaves])
        self._gen, self._args = generator, tuple(args or ())
        self._types = output_types
        self._shapes = output_shapes

    def _iter(self):
        return _closing(self._elements())

    def _elements(self):
        types, shapes = self._types, self._shapes
        tleaves, sleaves = _types_and_shapes(types, shapes)
        it = iter(self._gen(*self._args))
        try:
            for index in itertools.count():
                try:
                    value = next(it)
                except StopIteration:
                    return
                except Exception as e:
                    _add_note(e, f"graphc.data: raised by the from_generator generator at element {index}")
                    raise
                yield self._check(structure.normalize_output(value), index, tleaves, sleaves)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _check(self, value, index, tleaves, sleaves):
        if tleaves is None and sleaves is None:
            return value
        leaves, s = structure.flatten(value)
        expected = len(tleaves if tleaves is not None else sleaves)
        if len(leaves) != expected:
            raise TypeError(f"from_generator: element {index} has {len(leaves)} components, output_types/"
                            f"output_shapes declare {expected}")
        names = structure.paths(s)
        out = []
        for k, v in enumerate(leaves):
            if tleaves is not None:
                dt = _dtype_arg(tleaves[k])
                try:
                    v = np.asarray(v, dtype=dt) if dt is not object else v
                except (TypeError, ValueError) as e:
                    raise TypeError(f"from_generator: element {index}, component {names[k]}: cannot convert "
                                    f"{v!r} to {dt}: {e}") from None
            if sleaves is not None and sleaves[k] is not None:
                want = _shape_arg(sleaves[k])
                got = np.shape(v)
                if want is not None and (len(want) != len(got) or any(w is not None and w != g
                                                                      for w, g in zip(want, got))):
                    raise ShapeError(f"from_generator: element {index}, component {names[k]}, has shape {got}, "
                                     f"which is not compatible with the declared output_shapes {want}")
            out.append(v)
        return structure.unflatten(s, out)

    def _spec(self):
        if self._types is None:
            return _peek_spec(self)
        s = structure.flatten(self._types)[1]
        tleaves, sleaves = _types_and_shapes(self._types, self._shapes)
        sleaves = sleaves if sleaves is not None else [None] * len(tleaves)
        return structure.unflatten(s, [Spec(_shape_arg(sh), _dtype_arg(t)) for t, sh in zip(tleaves, sleaves)])


def _types_and_shapes(types, shapes):
    """output_types' leaves, and output_shapes split along output_types' structure
    (a shape is itself a tuple, so it cannot be flattened on its own)."""
    if types is None:
        if shapes is None:
            return None, None
        # shapes alone: a single shape, or a tuple/dict of shapes
        if isinstance(shapes, dict) or (isinstance(shapes, tuple) and shapes and all(
                isinstance(x, (tuple, list, dict)) or x is None or hasattr(x, "dims_") for x in shapes)):
            return None, structure.flatten_up_to(structure.flatten(_shape_tree(shapes))[1], shapes)
        return None, [shapes]
    tleaves, s = structure.flatten(types)
    return tleaves, (structure.flatten_up_to(s, shapes) if shapes is not None else None)


def _shape_tree(shapes):
    if isinstance(shapes, dict):
        return {k: _shape_tree(v) for k, v in shapes.items()}
    if isinstance(shapes, tuple) and shapes and all(isinstance(x, (tuple, list, dict)) or hasattr(x, "dims_")
                                                    for x in shapes):
        return tuple(_shape_tree(x) for x in shapes)
    return 0


def _dtype_arg(t):
    if t in (str, bytes, object) or getattr(t, "name", None) == "string":
        return object
    return np.dtype(getattr(t, "as_numpy_dtype", t))


def _shape_arg(sh):
    if sh is None:
        return None
    dims = getattr(sh, "dims_", None) if not isinstance(sh, (tuple, list)) else sh
    if dims is None and not isinstance(sh, (tuple, list)):
        as_list = getattr(sh, "as_list", None)
        if as_list is None:
            return None
        try:
            dims = as_list()
        except ValueError:
            return None
    return tuple(None if d is None or d == -1 else int(d) for d in dims)


def _add_note(exc, text):
    if hasattr(exc, "add_note") and text not in getattr(exc, "__notes__", ()):
        exc.add_note(text)


def _peek_spec(ds):
    """The spec of a dataset whose elements are only known by making one: the first
    element's shapes and dtypes (one element of a fresh pass is computed)."""
    it = Iterator(ds)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("element_spec: the dataset is empty, so its element structure is unknown") from None
    finally:
        it.close()
    return structure.map_structure(_spec_of_value, first)


class Zip(Dataset):
    def __init__(self, datasets):
        self._inputs, self._structure = structure.flatten(datasets)
        for d in self._inputs:
            if not isinstance(d, Dataset):
                raise TypeError(f"zip expects a structure of Datasets, got {type(d).__name__}")

    def _iter(self):
        return _closing(self._elements())

    def _elements(self):
        its = [Iterator(d) for d in self._inputs]
        try:
            while True:
                try:
                    values = [next(it) for it in its]
                except StopIteration:
                    return
                yield structure.unflatten(self._structure, values)
        finally:
            for it in its:
                it.close()

    def _spec(self):
        return structure.unflatten(self._structure, [d._spec() for d in self._inputs])


# -- transformations ------------------------------------------------------------------------------

class _Unary(Dataset):
    def __init__(self, input_dataset):
        if not isinstance(input_dataset, Dataset):
            raise TypeError(f"expected a Dataset, got {type(input_dataset).__name__}")
        self._input = input_dataset


class Map(_Unary):
    def __init__(self, input_dataset, fn, workers):
        super().__init__(input_dataset)
        if not callable(fn):
            raise TypeError("map: map_func must be callable")
        self._fn, self._workers = fn, workers

    def _apply(self, element, index):
        try:
            return structure.normalize_output(_call(self._fn, element))
        except Exception as e:
            _add_note(e, f"graphc.data: raised by the map function {getattr(self._fn, '__name__', '')} at element "
                         f"{index} of its input")
            raise

    def _iter(self):
        if self._workers:
            return self._background_iter(0)
        return self._inline(self._input._iter())

    def _inline(self, upstream):
        return _closing(self._apply(e, i) for i, e in enumerate(upstream))

    def _background_iter(self, extra):
        """One worker: a single thread pulls the input and applies the function (in order
        by construction; no feeder thread, no per-element handoff between threads).
        More: ``ParallelMap``'s feeder and worker threads."""
        if not self._workers:
            return None
        upstream = self._input._iter()
        if self._workers == 1:
            return Prefetcher(self._inline(upstream), 1 + extra, name="graphc.data map")
        return ParallelMap(upstream, self._apply, self._workers, extra=extra)

    def _spec(self):
        try:
            spec = _peek_spec(self)
        except _Unbound:
            spec = self._probe_spec()
        leading_varies = _leading_none(self._input._spec())
        if leading_varies:  # a map over batches of varying size: so are its results
            spec = structure.map_structure(lambda s: Spec((None,) + s.shape[1:], s.dtype) if s.shape else s, spec)
        return spec

    def _probe_spec(self):
        """The map function applied to a stand-in element (zeros of the input's spec, a
        None dimension as 1): for inputs that only exist once an iterator binds them."""
        element = structure.map_structure(_dummy, self._input._spec())
        return structure.map_structure(_spec_of_value, structure.normalize_output(_call(self._fn, element)))


def _dummy(spec):
    if spec.dtype is object:
        return b""
    return np.zeros(tuple(1 if d is None else d for d in (spec.shape or ())), spec.dtype)


def _leading_none(spec):
    leaves = structure.flatten(spec)[0]
    return any(s.shape is not None and len(s.shape) > 0 and s.shape[0] is None for s in leaves)


class Filter(_Unary):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset)
        self._pred = predicate

    def _iter(self):
        return _closing(self._elements())

    def _elements(self):
        upstream = self._input._iter()
        try:
            for index, e in enumerate(upstream):
                try:
                    keep = np.asarray(_call(self._pred, e))
                except Exception as ex:
                    _add_note(ex, f"graphc.data: raised by the filter predicate at element {index} of its input")
                    raise
                if keep.shape != () or keep.dtype != np.bool_:
                    raise TypeError(f"filter: the predicate must return a scalar bool, got {keep.dtype} of shape "
                                    f"{keep.shape} at element {index}")
                if keep:
                    yield e
        finally:
            _close_it(upstream)

    def _spec(self):
        return self._input._spec()


def _close_it(it):
    close = getattr(it, "close", None)
    if close is not None:
        close()


def buffer_shuffle(items, buffer_size, rng):
    """tf.data's shuffle: fill a buffer, then for each new item emit a uniformly chosen
    buffered one and put the new one in its place; finally emit the rest permuted.
    Draws are taken ``_SHUFFLE_DRAWS`` at a time (the same draws for elements and for
    index plans, so both paths give the same order)."""
    buf = []
    it = iter(items)
    for x in it:
        buf.append(x)
        if len(buf) >= buffer_size:
            break
    draws, k = None, _SHUFFLE_DRAWS
    for x in it:
        if k == _SHUFFLE_DRAWS:
            draws, k = rng.integers(0, buffer_size, size=_SHUFFLE_DRAWS), 0
        j = draws[k]
        k += 1
        yield buf[j]
        buf[j] = x
    for j in rng.permutation(len(buf)):
        yield buf[j]


class Shuffle(_Unary):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        self._size = int(buffer_size)
        if self._size < 1 and self._size != AUTOTUNE:
            raise ValueError(f"shuffle: buffer_size must be >= 1, got {buffer_size}")
        self._seed = seed
        self._reshuffle = bool(reshuffle_each_iteration)
        self._epoch = itertools.count()
        # without a seed: fresh entropy, fixed for all passes unless reshuffling
        self._base = np.random.SeedSequence().entropy if seed is None else int(seed)

    def _rng(self):
        epoch = next(self._epoch) if self._reshuffle else 0
        return np.random.default_rng([self._base, epoch])

    def _index_plan(self):
        plan = self._input._index_plan()
        if plan is None:
            return None
        src, idx = plan
        rng = self._rng()
        if self._size >= len(idx) or self._size == AUTOTUNE:
            return src, idx[rng.permutation(len(idx))]
        return src, np.fromiter(buffer_shuffle(idx, self._size, rng), dtype=np.int64, count=len(idx))

    def _iter(self):
        upstream = self._input._iter()
        size = self._size if self._size != AUTOTUNE else 1 << 62
        return _closing(_with_close(buffer_shuffle(upstream, size, self._rng()), upstream))

    def _spec(self):
        return self._input._spec()


def _with_close(gen, upstream):
    try:
        yield from gen
    finally:
        _close_it(upstream)


class Take(_Unary):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _check_count("take: count", count, allow_minus_one=True)

    def _index_plan(self):
        plan = self._input._index_plan()
        if plan is None:
            return None
        return plan[0], (plan[1] if self._count == -1 else plan[1][:self._count])

    def _iter(self):
        upstream = self._input._iter()
        if self._count == -1:
            return _closing(upstream)
        return _closing(_with_close(itertools.islice(upstream, self._count), upstream))

    def _spec(self):
        return self._input._spec()


class Skip(_Unary):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _check_count("skip: count", count, allow_minus_one=True)

    def _index_plan(self):
        plan = self._input._index_plan()
        if plan is None:
            return None
        return plan[0], (plan[1][:0] if self._count == -1 else plan[1][self._count:])

    def _iter(self):
        upstream = self._input._iter()
        if self._count == -1:
            return _closing(_with_close(iter(()), upstream))
        return _closing(_with_close(itertools.islice(upstream, self._count, None), upstream))

    def _spec(self):
        return self._input._spec()


class Repeat(_Unary):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = None if count is None or int(count) == -1 else _check_count("repeat: count", count)

    def _index_plan(self):
        if self._count is None:
            return None
        plans = [self._input._index_plan() for _ in range(self._count)]
        if not plans:
            return None
        if plans[0] is None:
            return None
        return plans[0][0], np.concatenate([p[1] for p in plans])

    def _iter(self):
        return _closing(self._elements())

    def _elements(self):
        for _ in (range(self._count) if self._count is not None else itertools.count()):
            upstream = self._input._iter()
            produced = False
            try:
                for e in upstream:
                    produced = True
                    yield e
            finally:
                _close_it(upstream)
            if not produced:   # an empty input repeated forever would spin: stop
                return

    def _spec(self):
        return self._input._spec()


class Prefetch(_Unary):
    def __init__(self, input_dataset, buffer_size):
        super().__init__(input_dataset)
        n = int(buffer_size)
        if n < 1 and n != AUTOTUNE:
            raise ValueError(f"prefetch: buffer_size must be >= 1 or AUTOTUNE, got {buffer_size}")
        self._size = 2 if n == AUTOTUNE else n

    def _iter(self):
        fused = self._input._background_iter(self._size)
        return fused if fused is not None else Prefetcher(self._input._iter(), self._size)

    def _background_iter(self, extra):
        return self._iter() if extra == 0 else Prefetch(self._input, self._size + extra)._iter()

    def _spec(self):
        return self._input._spec()


class Batch(_Unary):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        self._n = int(batch_size)
        if self._n < 1:
            raise ValueError(f"batch: batch_size must be >= 1, got {batch_size}")
        self._drop = bool(drop_remainder)

    def _iter(self):
        plan = self._input._index_plan()
        if plan is not None:
            src, idx = plan
            n = self._n
            stop = (len(idx) // n) * n if self._drop else len(idx)
            return (src._gather(idx[i:i + n]) for i in range(0, stop, n))
        return _closing(self._batches())

    def _batches(self):
        upstream = self._input._iter()
        try:
            first = 0
            while True:
                group = list(itertools.islice(upstream, self._n))
                if not group or (self._drop and len(group) < self._n):
                    return
                yield self._stack(group, first, first // self._n)
                first += len(group)
        finally:
            _close_it(upstream)

    def _stack(self, group, first, batch_index):
        flat = [structure.flatten(e) for e in group]
        s0 = flat[0][1]
        for k, (_, s) in enumerate(flat):
            if s != s0:
                raise TypeError(f"batch: element {first + k} (position {k} in batch {batch_index}) has structure "
                                f"{s}, but element {first} has {s0}")
        out = []
        names = structure.paths(s0)
        for c in range(len(flat[0][0])):
            values = [f[0][c] for f in flat]
            out.append(self._stack_component(values, names[c], first, batch_index))
        return structure.unflatten(s0, out)

    def _stack_component(self, values, name, first, batch_index):
        if isinstance(values[0], (bytes, str)) or (isinstance(values[0], np.ndarray) and values[0].dtype == object):
            out = np.empty((len(values),) + np.shape(values[0]), dtype=object)
            for k, v in enumerate(values):
                out[k] = v
            return out
        shape0 = np.shape(values[0])
        for k, v in enumerate(values):
            if np.shape(v) != shape0:
                raise ShapeError(
                    f"batch: element {first + k} (position {k} in batch {batch_index}), component {name}, has "
                    f"shape {np.shape(v)}, but element {first} of the batch has shape {shape0}; all elements of "
                    "a batch must have the same shape (padded_batch pads them)")
        return np.stack(values)

    def _spec(self):
        lead = self._n if self._drop else None
        return structure.map_structure(lambda s: Spec(None if s.shape is None else (lead,) + s.shape, s.dtype),
                                       self._input._spec())


class PaddedBatch(Batch):
    def __init__(self, input_dataset, batch_size, padded_shapes, padding_values, drop_remainder):
        super().__init__(input_dataset, batch_size, drop_remainder)
        self._shapes = padded_shapes
        self._values = padding_values

    def _iter(self):
        return _closing(self._batches())

    def _stack(self, group, first, batch_index):
        flat = [structure.flatten(e) for e in group]
        s0 = flat[0][1]
        names = structure.paths(s0)
        ncomp = len(flat[0][0])
        try:
            shapes = structure.flatten_up_to(s0, self._shapes) if self._shapes is not None else [None] * ncomp
            pads = structure.flatten_up_to(s0, self._values) if self._values is not None else [None] * ncomp
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"padded_batch: padded_shapes/padding_values must match the element structure: "
                             f"{e}") from None
        out = []
        for c in range(ncomp):
            values = [np.asarray(f[0][c]) for f in flat]
            rank = values[0].ndim
            for k, v in enumerate(values):
                if v.ndim != rank:
                    raise ShapeError(f"padded_batch: element {first + k} (position {k} in batch {batch_index}), "
                                     f"component {names[c]}, has shape {v.shape}, but element {first} has shape "
                                     f"{values[0].shape}; padding cannot change the rank")
            want = _shape_arg(shapes[c]) if shapes[c] is not None else (None,) * rank
            if len(want) != rank:
                raise ShapeError(f"padded_batch: padded shape {want} of component {names[c]} has rank {len(want)}, "
                                 f"elements have rank {rank} (element {first} has shape {values[0].shape})")
            target = tuple(max(v.shape[d] for v in values) if w is None else w for d, w in enumerate(want))
            for k, v in enumerate(values):
                if any(s > t for s, t in zip(v.shape, target)):
                    raise ShapeError(f"padded_batch: element {first + k} (position {k} in batch {batch_index}), "
                                     f"component {names[c]}, has shape {v.shape}, larger than the padded shape "
                                     f"{target}")
            fill = pads[c] if pads[c] is not None else (b"" if values[0].dtype == object else 0)
            batch = np.full((len(values),) + target, fill, dtype=values[0].dtype)
            for k, v in enumerate(values):
                batch[(k,) + tuple(slice(0, s) for s in v.shape)] = v
            out.append(batch)
        return structure.unflatten(s0, out)

    def _spec(self):
        lead = self._n if self._drop else None
        inner = structure.flatten(self._input._spec())
        shapes = structure.flatten_up_to(inner[1], self._shapes) if self._shapes is not None else [None] * len(inner[0])
        specs = []
        for s, sh in zip(inner[0], shapes):
            want = _shape_arg(sh) if sh is not None else (None,) * len(s.shape or ())
            specs.append(Spec((lead,) + tuple(want), s.dtype))
        return structure.unflatten(inner[1], specs)


# -- files ------------------------------------------------------------------------------------------

class TextLineDataset(Dataset):
    """The lines of text files (end-of-line removed) as ``Line`` bytes that remember
    their file and line number."""

    def __init__(self, filenames, compression_type=None, buffer_size=None, num_parallel_reads=None):
        self._files = readers.filenames_of(filenames)
        self._compression = compression_type

    def _iter(self):
        return itertools.chain.from_iterable(readers.read_lines(f, self._compression) for f in self._files)

    def _spec(self):
        return Spec((), object)


class FixedLengthRecordDataset(Dataset):
    """Records of ``record_bytes`` bytes after ``header_bytes`` and before ``footer_bytes``
    of each file (as ``bytes``; ``decode_raw`` turns them into numbers)."""

    def __init__(self, filenames, record_bytes, header_bytes=None, footer_bytes=None, buffer_size=None,
                 compression_type=None, num_parallel_reads=None):
        self._files = readers.filenames_of(filenames)
        self._args = (int(record_bytes), int(header_bytes or 0), int(footer_bytes or 0), compression_type)

    def _iter(self):
        return itertools.chain.from_iterable(readers.read_records(f, *self._args) for f in self._files)

    def _spec(self):
        return Spec((), object)


class CsvDataset(Dataset):
    """Rows of CSV files decoded with ``record_defaults`` (one per column; see
    ``decode_csv``): each element a tuple of scalars; ``header=True`` skips each file's
    first line. A malformed row raises ``DataFormatError`` naming file, line and column."""

    def __init__(self, filenames, record_defaults, compression_type=None, buffer_size=None, header=False,
                 field_delim=",", use_quote_delim=True, na_value="", select_cols=None):
        self._files = readers.filenames_of(filenames)
        self._columns = readers.columns_of(record_defaults)
        self._compression, self._header = compression_type, bool(header)
        self._opts = (field_delim, use_quote_delim, na_value, None if select_cols is None else list(select_cols))

    def _iter(self):
        return self._rows()

    def _rows(self):
        cols = self._columns
        for f in self._files:
            for line in readers.read_lines(f, self._compression, skip=1 if self._header else 0):
                row = readers.decode_row(line, cols, *self._opts)
                yield tuple(np.asarray(v, dtype=c.dtype) if c.dtype is not object else v for v, c in zip(row, cols))

    def _spec(self):
        return tuple(Spec((), c.dtype) for c in self._columns)
