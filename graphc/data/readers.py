"""Text and binary record files, and CSV decoding with a default per column.

Lines come out as ``Line`` objects: ``bytes`` that also remember their file and line
number, so ``decode_csv`` can name the file, line and column of a malformed row even
after the line went through ``map`` (and graphc.compat.v1's readers use them too).
"""
from __future__ import annotations

import csv
import gzip
import io
import os

import numpy as np

from ..errors import GraphcError


class DataFormatError(GraphcError, ValueError):
    """A record cannot be decoded (malformed CSV row, record file of the wrong length)."""


class Line(bytes):
    """One line of a text file (without its end-of-line), and where it came from."""

    filename: str = ""
    line: int = 0

    def __new__(cls, value, filename="", line=0):
        self = super().__new__(cls, value)
        self.filename, self.line = filename, line
        return self

    def where(self) -> str:
        return f"{self.filename} line {self.line}" if self.filename else "record"

    def __reduce__(self):
        return (Line, (bytes(self), self.filename, self.line))


def filenames_of(filenames) -> list[str]:
    if isinstance(filenames, (str, bytes, os.PathLike)):
        filenames = [filenames]
    else:
        filenames = list(np.asarray(filenames, dtype=object).ravel()) if isinstance(filenames, np.ndarray) \
            else list(filenames)
    out = []
    for f in filenames:
        out.append(os.fsdecode(f) if isinstance(f, (bytes, os.PathLike)) else str(f))
    return out


def _open(filename, compression_type):
    kind = (compression_type or "").upper()
    if kind == "GZIP":
        return gzip.open(filename, "rb")
    if kind not in ("", "NONE"):
        raise ValueError(f"compression_type must be '', 'GZIP' or None, got {compression_type!r}")
    return open(filename, "rb")


def read_lines(filename, compression_type=None, skip=0):
    """The lines of one file as ``Line``s (end-of-line removed; numbering from 1)."""
    with _open(filename, compression_type) as f:
        for number, raw in enumerate(f, 1):
            if number <= skip:
                continue
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            yield Line(raw, filename, number)


def read_records(filename, record_bytes, header_bytes=0, footer_bytes=0, compression_type=None):
    """Fixed-length records of one file; its body must be a whole number of records."""
    record_bytes, header_bytes, footer_bytes = int(record_bytes), int(header_bytes or 0), int(footer_bytes or 0)
    if record_bytes <= 0:
        raise ValueError(f"record_bytes must be positive, got {record_bytes}")
    with _open(filename, compression_type) as f:
        data = f.read()
    body = len(data) - header_bytes - footer_bytes
    if body < 0 or body % record_bytes:
        raise DataFormatError(
            f"Excluding the header ({header_bytes} bytes) and footer ({footer_bytes} bytes), input file "
            f"\"{filename}\" has body length {body}, which is not an exact multiple of the record length "
            f"({record_bytes} bytes).")
    view = memoryview(data)[header_bytes:header_bytes + body]
    for k in range(body // record_bytes):
        yield bytes(view[k * record_bytes:(k + 1) * record_bytes])


# -- CSV ------------------------------------------------------------------------------------

_REQUIRED = object()


class Column:
    """One CSV column's dtype and default (``_REQUIRED``: an empty field is an error)."""

    __slots__ = ("dtype", "default")

    def __init__(self, dtype, default):
        self.dtype, self.default = dtype, default


def columns_of(record_defaults) -> list[Column]:
    """TF's ``record_defaults``: per column a value (``0.0``, ``[0]``, ``[""]``: its type
    and default) or a type with no default (``np.float32``, ``[]`` of a dtype... : the
    column is required)."""
    cols = []
    for k, d in enumerate(record_defaults):
        if isinstance(d, np.ndarray):
            d = d.ravel().tolist() if d.size else d.dtype
        if isinstance(d, (list, tuple)):
            if len(d) > 1:
                raise ValueError(f"record_defaults[{k}] must hold at most one value, got {d!r}")
            d = d[0] if d else np.float32
        dtype_like = getattr(d, "as_numpy_dtype", None)  # a graphc.compat.v1 DType
        if dtype_like is not None:
            d = d.name if d.name == "string" else dtype_like
        if isinstance(d, type) and issubclass(d, (np.generic, float, int, str, bytes)) or d == "string" or \
                isinstance(d, np.dtype):
            cols.append(Column(_csv_dtype(d), _REQUIRED))
        elif isinstance(d, (str, bytes)):
            cols.append(Column(object, d.encode() if isinstance(d, str) else d))
        elif isinstance(d, (bool, np.bool_)):
            raise TypeError(f"record_defaults[{k}]: bool columns are not supported by decode_csv")
        elif isinstance(d, (int, np.integer)):
            dt = d.dtype if isinstance(d, np.integer) else np.dtype(np.int32)
            cols.append(Column(dt, d))
        elif isinstance(d, (float, np.floating)):
            dt = d.dtype if isinstance(d, np.floating) else np.dtype(np.float32)
            cols.append(Column(dt, d))
        else:
            raise TypeError(f"record_defaults[{k}]: expected a number, a string or a dtype, got {d!r}")
    return cols


def _csv_dtype(d):
    if d in (str, bytes, "string") or (isinstance(d, np.dtype) and d.kind in "SUO"):
        return object
    if d is float:
        return np.dtype(np.float32)
    if d is int:
        return np.dtype(np.int32)
    return np.dtype(d)


def _split(line: bytes, delim: str, quote: bool) -> list[str]:
    text = line.decode("utf-8")
    if not quote:
        return text.split(delim)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim, strict=True))
    return rows[0] if rows else [""]


def _where(line, index):
    where = line.where() if isinstance(line, Line) else (f"record {index}" if index is not None else "record")
    return where


def decode_row(line, columns, field_delim=",", use_quote_delim=True, na_value="", select_cols=None, index=None):
    """One CSV line -> one value per column (defaults fill empty fields)."""
    if isinstance(line, str):
        line = line.encode()
    try:
        fields = _split(bytes(line), field_delim, use_quote_delim)
    except (csv.Error, UnicodeDecodeError) as e:
        raise DataFormatError(f"decode_csv: {_where(line, index)}: cannot split {bytes(line)[:80]!r}: {e}") from None
    if select_cols is not None:
        if max(select_cols) >= len(fields):
            raise DataFormatError(f"decode_csv: {_where(line, index)}: selected column {max(select_cols) + 1} "
                                  f"but the row has {len(fields)} fields: {bytes(line)[:80]!r}")
        fields = [fields[c] for c in select_cols]
    if len(fields) != len(columns):
        raise DataFormatError(f"decode_csv: {_where(line, index)}: expected {len(columns)} fields, found "
                              f"{len(fields)}: {bytes(line)[:80]!r}")
    out = []
    for k, (field, col) in enumerate(zip(fields, columns)):
        column_no = (select_cols[k] if select_cols is not None else k) + 1
        if field == "" or (na_value and field == na_value):
            if col.default is _REQUIRED:
                raise DataFormatError(f"decode_csv: {_where(line, index)}, column {column_no}: the field is empty "
                                      "and the column has no default")
            out.append(col.default)
            continue
        if col.dtype is object:
            out.append(field.encode())
            continue
        try:
            if col.dtype.kind == "f":
                out.append(col.dtype.type(float(field)))
            else:
                v = int(field.strip())
                info = np.iinfo(col.dtype)
                if not info.min <= v <= info.max:
                    raise ValueError(f"out of range for {col.dtype.name}")
                out.append(col.dtype.type(v))
        except ValueError:
            raise DataFormatError(f"decode_csv: {_where(line, index)}, column {column_no}: cannot convert "
                                  f"{field!r} to {col.dtype.name}") from None
    return out


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, na_value="", select_cols=None):
    """Decode a CSV line (bytes/str) or an array of lines: a list with one numpy array per
    column, shaped like ``records`` (tf.io.decode_csv). String columns are object arrays
    of bytes. A malformed row raises ``DataFormatError`` naming its file and line (for
    lines read by TextLineDataset / TextLineReader), or its index, and the column."""
    columns = columns_of(record_defaults)
    if select_cols is not None:
        select_cols = [int(c) for c in select_cols]
        if len(select_cols) != len(columns):
            raise ValueError(f"decode_csv: {len(select_cols)} select_cols but {len(columns)} record_defaults")
    if isinstance(records, (bytes, str)):
        row = decode_row(records, columns, field_delim, use_quote_delim, na_value, select_cols)
        return [np.array(v, dtype=c.dtype) if c.dtype is not object else _obj_scalar(v) for v, c in zip(row, columns)]
    arr = np.asarray(records, dtype=object)
    flat = arr.ravel()
    rows = [decode_row(r, columns, field_delim, use_quote_delim, na_value, select_cols, index=i)
            for i, r in enumerate(flat)]
    out = []
    for k, c in enumerate(columns):
        col = np.empty(len(flat), dtype=c.dtype)
        for i, r in enumerate(rows):
            col[i] = r[k]
        out.append(col.reshape(arr.shape))
    return out


def _obj_scalar(v):
    a = np.empty((), dtype=object)
    a[()] = v
    return a


def decode_raw(data, out_type, little_endian=True, fixed_length=None):
    """Bytes (or an array of equal-length bytes) -> numbers of ``out_type`` (tf.io.decode_raw):
    the last axis holds len(bytes) / itemsize values."""
    dt = np.dtype(getattr(out_type, "as_numpy_dtype", out_type))
    dt = dt.newbyteorder("<" if little_endian else ">")
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if fixed_length is not None:
            data = data[:fixed_length].ljust(fixed_length, b"\0")
        if len(data) % dt.itemsize:
            raise DataFormatError(f"decode_raw: input to DecodeRaw has length {len(data)} that is not a multiple of "
                                  f"{dt.itemsize}, the size of {dt.name}")
        return np.frombuffer(data, dtype=dt).astype(dt.newbyteorder("="))
    arr = np.asarray(data, dtype=object)
    parts = [decode_raw(x, out_type, little_endian, fixed_length) for x in arr.ravel()]
    sizes = {p.shape[0] for p in parts}
    if len(sizes) > 1:
        raise DataFormatError(f"decode_raw: DecodeRaw requires input strings to all be the same size, got sizes "
                              f"{sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    return np.stack(parts).reshape(arr.shape + (n,)) if parts else np.zeros(arr.shape + (0,), dt)
