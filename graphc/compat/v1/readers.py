"""tf.TextLineReader, tf.FixedLengthRecordReader, tf.decode_csv, tf.decode_raw.

Readers take file names from a queue (``string_input_producer``) and are host-input
ops (hostrun.py): ``read(queue)`` returns (key, value) string tensors, key being
``b"file:line"`` as in TF. Values are ``graphc.data.Line`` bytes that remember file and
line, so ``decode_csv`` names the file, line and column of a malformed row. Decoding is
graphc.data's (graphc/data/readers.py); its errors become ``InvalidArgumentError``.
"""
from __future__ import annotations

import threading

import numpy as np

from ...data import readers as _data
from . import dtypes as _dtypes
from .errors import InvalidArgumentError, NotFoundError
from .graph import Spec, Tensor, get_default_graph
from .hostrun import mark_graph, record_host_input, session_state


class _ReaderState:
    """One session's position in the current file (a lock: several queue-runner threads
    may read through one reader)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = None      # iterator over (key, value) of the current file
        self.produced = 0
        self.completed = 0


class ReaderBase:
    _type = "ReaderBase"

    def __init__(self, name=None):
        graph = get_default_graph()
        self.name = graph.unique_name(name or self._type)
        mark_graph(graph)

    def _state(self, session):
        return session_state(session, ("reader", self), _ReaderState)

    def _records(self, filename):
        raise NotImplementedError

    def _next(self, session, queue):
        st = self._state(session)
        with st.lock:
            while True:
                if st.records is None:
                    item = queue._state(session).dequeue(None)[0]   # blocks; OutOfRangeError when done
                    name = item[0]
                    name = name.decode() if isinstance(name, bytes) else str(np.asarray(name).item() if
                                                                              isinstance(name, np.ndarray) else name)
                    if isinstance(name, bytes):
                        name = name.decode()
                    st.records = iter(self._records(name))
                try:
                    key, value = next(st.records)
                except OSError as e:
                    st.records = None
                    raise NotFoundError(None, None, f"{self._type}: {e}") from None
                except StopIteration:
                    st.records = None
                    st.completed += 1
                    continue
                except _data.DataFormatError as e:
                    st.records = None
                    raise InvalidArgumentError(None, None, str(e)) from None
                st.produced += 1
                return key, value

    def read(self, queue, name=None):
        """(key, value): the next record, taking the next file from ``queue`` when one ends."""
        def run(session, values):
            key, value = self._next(session, queue)
            return [key, value]

        key, value = record_host_input("ReaderReadV2", run, (), [Spec((), _dtypes.string), Spec((), _dtypes.string)],
                                       name=name or f"{self.name}_ReaderReadV2")
        value._record_bytes = getattr(self, "_record_bytes", None)   # decode_raw's static length
        return key, value

    def read_up_to(self, queue, num_records, name=None):
        """Up to ``num_records`` (keys, values), fewer when the files run out."""
        from .errors import OutOfRangeError

        def run(session, values):
            keys, vals = [], []
            for _ in range(int(num_records)):
                try:
                    k, v = self._next(session, queue)
                except OutOfRangeError:
                    if keys:
                        break
                    raise
                keys.append(k)
                vals.append(v)
            return [_objects(keys), _objects(vals)]

        return tuple(record_host_input("ReaderReadUpToV2", run, (), [Spec([None], _dtypes.string),
                                                                     Spec([None], _dtypes.string)],
                                       name=name or f"{self.name}_ReaderReadUpToV2"))

    def num_records_produced(self, name=None):
        def run(session, values):
            return [np.asarray(self._state(session).produced, np.int64)]

        return record_host_input("ReaderNumRecordsProducedV2", run, (), [Spec((), _dtypes.int64)], name=name)[0]

    def num_work_units_completed(self, name=None):
        def run(session, values):
            return [np.asarray(self._state(session).completed, np.int64)]

        return record_host_input("ReaderNumWorkUnitsCompletedV2", run, (), [Spec((), _dtypes.int64)], name=name)[0]

    def reset(self, name=None):
        def run(session, values):
            st = self._state(session)
            with st.lock:
                st.records, st.produced, st.completed = None, 0, 0
            return ()

        return record_host_input("ReaderResetV2", run, (), (), name=name)


def _objects(items):
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out


class TextLineReader(ReaderBase):
    """Lines of text files (``skip_header_lines`` skipped at the start of each file)."""

    _type = "TextLineReaderV2"

    def __init__(self, skip_header_lines=None, name=None):
        super().__init__(name)
        self._skip = int(skip_header_lines or 0)

    def _records(self, filename):
        for line in _data.read_lines(filename, skip=self._skip):
            yield f"{filename}:{line.line}".encode(), line


class FixedLengthRecordReader(ReaderBase):
    """Records of ``record_bytes`` bytes between a header and a footer of each file."""

    _type = "FixedLengthRecordReaderV2"

    def __init__(self, record_bytes, header_bytes=None, footer_bytes=None, hop_bytes=None, name=None,
                 encoding=None):
        super().__init__(name)
        if hop_bytes:
            raise NotImplementedError("FixedLengthRecordReader: hop_bytes is not supported by graphc")
        self._args = (int(record_bytes), int(header_bytes or 0), int(footer_bytes or 0), encoding)
        self._record_bytes = int(record_bytes)

    def _records(self, filename):
        for k, rec in enumerate(_data.read_records(filename, *self._args)):
            yield f"{filename}:{k}".encode(), rec


def _default_dtype(col):
    return _dtypes.string if col.dtype is object else _dtypes.as_dtype(np.dtype(col.dtype).name)


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, name=None, na_value="",
               select_cols=None):
    """One tensor per column, shaped like ``records`` (a line, or a vector of lines).
    Given a value instead of a tensor (in a ``tf.data`` map function, which graphc runs
    in Python on each element) it decodes at once and returns numpy arrays."""
    columns = _data.columns_of(record_defaults)

    def run(session, values):
        try:
            return _data.decode_csv(values[0], record_defaults, field_delim, use_quote_delim, na_value, select_cols)
        except _data.DataFormatError as e:
            raise InvalidArgumentError(None, None, str(e)) from None

    if not isinstance(records, Tensor):
        # a value, not a graph tensor: inside a tf.data map function (which graphc runs in
        # Python on each element), decode now and return numpy arrays
        return run(None, [records])
    shape = records.shape.dims_
    mark_graph()
    return record_host_input("DecodeCSV", run, [records], [Spec(shape, _default_dtype(c)) for c in columns],
                             name=name or "DecodeCSV")


def decode_raw(input_bytes=None, out_type=None, little_endian=True, name=None, bytes=None, fixed_length=None):  # noqa: A002
    """Bytes -> numbers of ``out_type``: a new last axis of len(bytes) / itemsize."""
    data = input_bytes if input_bytes is not None else bytes
    out_type = _dtypes.as_dtype(out_type)

    def run(session, values):
        try:
            return [_data.decode_raw(values[0], out_type.as_numpy_dtype, little_endian, fixed_length)]
        except _data.DataFormatError as e:
            raise InvalidArgumentError(None, None, str(e)) from None

    if not isinstance(data, Tensor):
        return run(None, [data])[0]    # a value (inside a tf.data map function): decode now
    shape = data.shape.dims_
    mark_graph()
    nbytes = fixed_length or getattr(data, "_record_bytes", None)
    size = out_type.as_numpy_dtype(0).itemsize
    last = nbytes // size if nbytes and nbytes % size == 0 else None
    out_shape = None if shape is None else list(shape) + [last]
    return record_host_input("DecodeRaw", run, [data], [Spec(out_shape, out_type)], name=name or "DecodeRaw")[0]
