"""TensorBoard event files without protobuf or TensorFlow.

TensorBoard reads ``events.out.tfevents.*`` files: a TFRecord stream whose
records are serialized ``tensorflow.Event`` protos.  Only a handful of
messages are needed to show scalars, histograms, images and a graph, so this
module carries its own small protobuf wire-format codec (driven by the schema
tables below) instead of depending on generated protobuf code.

Layers, bottom up:

* CRC32C and TFRecord framing (``crc32c``, ``masked_crc32c``, ``encode_record``,
  ``read_records``).
* Protobuf wire format (``encode_varint``, ``decode_varint``,
  ``encode_message``, ``decode_message``) plus the message schemas.
* Payload builders: TensorFlow-compatible histograms, PNG images, graphs and
  serialized ``Summary`` bytes.
* ``EventFileWriter`` and ``read_events``.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import sys
import threading
import time
import zlib
from typing import BinaryIO, Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "CorruptRecordError",
    "DecodeError",
    "DEFAULT_BUCKET_LIMITS",
    "EventFileWriter",
    "crc32c",
    "masked_crc32c",
    "encode_record",
    "iter_records",
    "read_records",
    "encode_varint",
    "decode_varint",
    "encode_message",
    "decode_message",
    "encode_event",
    "decode_event",
    "decode_summary",
    "histogram_proto",
    "encode_png",
    "graph_def",
    "scalar_summary",
    "histogram_summary",
    "image_summary",
    "merge_summaries",
    "read_events",
]

DBL_MAX = sys.float_info.max


class CorruptRecordError(ValueError):
    """A TFRecord is truncated or fails its CRC check."""


class DecodeError(ValueError):
    """Bytes are not a valid encoding of the expected protobuf message."""


# --------------------------------------------------------------------------
# CRC32C (Castagnoli) and TFRecord framing
# --------------------------------------------------------------------------

def _make_crc32c_table() -> tuple[int, ...]:
    """Byte-at-a-time table for the reflected Castagnoli polynomial."""
    poly = 0x82F63B78
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C of ``data``; TFRecord uses it, and zlib only offers plain CRC32."""
    table = _CRC32C_TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """Masked CRC as stored in TFRecords (masking makes CRCs of CRCs safe)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def encode_record(data: bytes) -> bytes:
    """Frame ``data`` as one TFRecord: length, its CRC, data, data CRC."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length))
            + data + struct.pack("<I", masked_crc32c(data)))


def iter_records(stream: BinaryIO) -> Iterator[bytes]:
    """Yield record payloads from a binary stream, checking both CRCs.

    Raises CorruptRecordError on a CRC mismatch or a truncated record, so a
    damaged file is never silently misread.
    """
    index = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        if len(header) < 12:
            raise CorruptRecordError(f"record {index}: truncated header")
        length_bytes = header[:8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", header[8:])
        if masked_crc32c(length_bytes) != length_crc:
            raise CorruptRecordError(f"record {index}: length CRC mismatch")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise CorruptRecordError(f"record {index}: truncated data")
        data = body[:length]
        (data_crc,) = struct.unpack("<I", body[length:])
        if masked_crc32c(data) != data_crc:
            raise CorruptRecordError(f"record {index}: data CRC mismatch")
        yield data
        index += 1


def read_records(path: str | os.PathLike) -> list[bytes]:
    """All record payloads of a TFRecord file (see ``iter_records``)."""
    with open(path, "rb") as f:
        return list(iter_records(f))


# --------------------------------------------------------------------------
# Protobuf wire format
# --------------------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# Wire type each scalar kind is written with; messages use _LEN.
_WIRE_TYPE = {"double": _I64, "float": _I32, "int64": _VARINT,
              "int32": _VARINT, "string": _LEN, "bytes": _LEN}
_DEFAULT = {"double": 0.0, "float": 0.0, "int64": 0, "int32": 0,
            "string": "", "bytes": b""}
_PACKED_DTYPE = {"double": "<f8", "float": "<f4"}  # repeated numbers are packed


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negatives become 10-byte two's complement like int64."""
    if value < 0:
        value += 1 << 64
    if not 0 <= value < 1 << 64:
        raise ValueError(f"varint out of 64-bit range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if result >= 1 << 64:
                raise DecodeError("varint exceeds 64 bits")
            return result, pos


def _to_int64(value: int) -> int:
    """Reinterpret an unsigned 64-bit varint as a signed int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _float32_bytes(value: float) -> bytes:
    """Round to float32 the way a C cast would (overflow gives inf, no error)."""
    with np.errstate(over="ignore"):
        return np.array(value, dtype="<f4").tobytes()


def _is_default(kind: str, value) -> bool:
    """proto3 omits default scalars; keep -0.0, whose sign bit is data."""
    if kind in ("double", "float"):
        return value == 0.0 and math.copysign(1.0, value) > 0
    return value == _DEFAULT[kind]


def _iter_fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, raw value) for each field in ``buf``."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = decode_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire_type == _VARINT:
            value, pos = decode_varint(buf, pos)
        elif wire_type in (_I64, _I32, _LEN):
            if wire_type == _LEN:
                size, pos = decode_varint(buf, pos)
            else:
                size = 8 if wire_type == _I64 else 4
            if pos + size > end:
                raise DecodeError(f"field {number}: truncated")
            value, pos = bytes(buf[pos:pos + size]), pos + size
        else:
            raise DecodeError(f"field {number}: unsupported wire type {wire_type}")
        yield number, wire_type, value


# Schemas: field number -> (name, kind, label).  ``kind`` is a scalar type
# name or a nested schema dict.  ``label`` is "" (proto3 scalar: defaulted
# when absent), "repeated", or "oneof" (present in decoded dicts only when
# set on the wire, which is how a reader tells which oneof member is used).

TENSOR_SHAPE_DIM = {1: ("size", "int64", ""), 2: ("name", "string", "")}   # size -1: unknown
TENSOR_SHAPE = {2: ("dim", TENSOR_SHAPE_DIM, "repeated"), 3: ("unknown_rank", "int32", "")}
ATTR_LIST = {7: ("shape", TENSOR_SHAPE, "repeated")}
ATTR_VALUE = {
    1: ("list", ATTR_LIST, "oneof"),
    2: ("s", "bytes", "oneof"),
    3: ("i", "int64", "oneof"),
    6: ("type", "int32", "oneof"),    # a DataType enum (DT_FLOAT = 1, ...)
    7: ("shape", TENSOR_SHAPE, "oneof"),
}
ATTR_ENTRY = {1: ("key", "string", ""), 2: ("value", ATTR_VALUE, "oneof")}  # map<string, AttrValue>
NODE_DEF = {
    1: ("name", "string", ""),
    2: ("op", "string", ""),
    3: ("input", "string", "repeated"),
    4: ("device", "string", ""),
    5: ("attr", ATTR_ENTRY, "repeated"),
}
GRAPH_DEF = {1: ("node", NODE_DEF, "repeated")}
HISTOGRAM_PROTO = {
    1: ("min", "double", ""),
    2: ("max", "double", ""),
    3: ("num", "double", ""),
    4: ("sum", "double", ""),
    5: ("sum_squares", "double", ""),
    6: ("bucket_limit", "double", "repeated"),
    7: ("bucket", "double", "repeated"),
}
IMAGE = {
    1: ("height", "int32", ""),
    2: ("width", "int32", ""),
    3: ("colorspace", "int32", ""),
    4: ("encoded_image_string", "bytes", ""),
}
SUMMARY_VALUE = {
    1: ("tag", "string", ""),
    2: ("simple_value", "float", "oneof"),
    4: ("image", IMAGE, "oneof"),
    5: ("histo", HISTOGRAM_PROTO, "oneof"),
}
SUMMARY = {1: ("value", SUMMARY_VALUE, "repeated")}
EVENT = {
    1: ("wall_time", "double", ""),
    2: ("step", "int64", ""),
    3: ("file_version", "string", "oneof"),
    4: ("graph_def", GRAPH_DEF, "oneof"),
    5: ("summary", SUMMARY, "oneof"),
}


def _encode_scalar(kind: str, value) -> bytes:
    if kind == "double":
        return struct.pack("<d", value)
    if kind == "float":
        return _float32_bytes(value)
    if kind in ("int64", "int32"):
        return encode_varint(int(value))
    if kind == "string":
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if kind == "bytes":
        return bytes(value)
    raise TypeError(f"unknown scalar kind {kind!r}")


def _encode_field(number: int, kind, value) -> bytes:
    if isinstance(kind, dict):
        # Already-serialized sub-messages pass through, so callers can embed
        # Summary bytes produced elsewhere without a decode/encode round trip.
        payload = bytes(value) if isinstance(value, (bytes, bytearray)) \
            else encode_message(value, kind)
        wire_type = _LEN
    else:
        payload = _encode_scalar(kind, value)
        wire_type = _WIRE_TYPE[kind]
    key = encode_varint(number << 3 | wire_type)
    if wire_type == _LEN:
        return key + encode_varint(len(payload)) + payload
    return key + payload


def encode_message(fields: dict, schema: dict) -> bytes:
    """Serialize a dict of field values following ``schema`` (proto3 rules).

    Unset/default plain scalars are omitted, oneof members are written
    whenever present, repeated doubles/floats are packed.
    """
    known = {name for name, _, _ in schema.values()}
    unknown = set(fields) - known
    if unknown:
        raise KeyError(f"unknown field(s) {sorted(unknown)}")
    out = bytearray()
    for number, (name, kind, label) in schema.items():
        value = fields.get(name)
        if value is None:
            continue
        if label == "repeated":
            values = list(value)
            if not values:
                continue
            if isinstance(kind, str) and kind in _PACKED_DTYPE:
                with np.errstate(over="ignore"):
                    packed = np.asarray(values, dtype=_PACKED_DTYPE[kind]).tobytes()
                out += encode_varint(number << 3 | _LEN)
                out += encode_varint(len(packed)) + packed
            else:
                for item in values:
                    out += _encode_field(number, kind, item)
        elif label == "oneof" or isinstance(kind, dict) or not _is_default(kind, value):
            out += _encode_field(number, kind, value)
    return bytes(out)


def _decode_scalar(kind: str, wire_type: int, raw, name: str):
    if wire_type != _WIRE_TYPE[kind]:
        raise DecodeError(f"field {name!r}: wire type {wire_type} for {kind}")
    if kind == "double":
        return struct.unpack("<d", raw)[0]
    if kind == "float":
        return struct.unpack("<f", raw)[0]
    if kind == "int64":
        return _to_int64(raw)
    if kind == "int32":  # protobuf keeps the low 32 bits, sign-extended
        raw &= 0xFFFFFFFF
        return raw - (1 << 32) if raw & 0x80000000 else raw
    if kind == "string":
        return raw.decode("utf-8")
    return raw


def decode_message(buf: bytes, schema: dict) -> dict:
    """Parse ``buf`` into a dict following ``schema``.

    Plain scalars default to their proto3 zero value, repeated fields to [],
    oneof members and sub-messages appear only when present.  Unknown fields
    are skipped, as protobuf does, so files from newer writers still load.
    """
    out: dict = {}
    for name, kind, label in schema.values():
        if label == "repeated":
            out[name] = []
        elif label == "" and not isinstance(kind, dict):
            out[name] = _DEFAULT[kind]
    for number, wire_type, raw in _iter_fields(buf):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind, label = spec
        if isinstance(kind, dict):
            if wire_type != _LEN:
                raise DecodeError(f"field {name!r}: wire type {wire_type} for message")
            value = decode_message(raw, kind)
        elif label == "repeated" and kind in _PACKED_DTYPE and wire_type == _LEN:
            dtype = np.dtype(_PACKED_DTYPE[kind])
            if len(raw) % dtype.itemsize:
                raise DecodeError(f"field {name!r}: packed length {len(raw)}")
            out[name].extend(np.frombuffer(raw, dtype=dtype).tolist())
            continue
        else:
            value = _decode_scalar(kind, wire_type, raw, name)
        if label == "repeated":
            out[name].append(value)
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------
# Payloads: histograms, images, graphs, summaries, events
# --------------------------------------------------------------------------

def _default_bucket_limits() -> np.ndarray:
    """TensorFlow's default histogram buckets (tsl/lib/histogram/histogram.cc).

    Limits grow by 10% from 1e-12 to 1e20, mirrored for negatives, with 0 in
    the middle and +-DBL_MAX at the ends; repeated multiplication is kept so
    the limits match TensorFlow's bit for bit.
    """
    positive = []
    v = 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    positive.append(DBL_MAX)
    negative = [-x for x in reversed(positive)]
    return np.array(negative + [0.0] + positive, dtype=np.float64)


DEFAULT_BUCKET_LIMITS = _default_bucket_limits()
DEFAULT_BUCKET_LIMITS.flags.writeable = False


def _histogram_fields(values) -> dict:
    """HistogramProto fields for ``values``, as TensorFlow's summary op makes.

    Bucket i counts values v with limit[i-1] <= v < limit[i] (upper_bound),
    and runs of empty buckets collapse into one zero bucket carrying the
    run's last limit (EncodeToProto with preserve_zero_buckets=False).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError("NaN or Inf in histogram values (TensorFlow rejects them too)")
    limits = DEFAULT_BUCKET_LIMITS
    index = np.searchsorted(limits, v, side="right")
    np.minimum(index, len(limits) - 1, out=index)  # v == DBL_MAX goes in the last bucket
    counts = np.bincount(index, minlength=len(limits)).astype(np.float64)

    bucket_limit: list[float] = []
    bucket: list[float] = []
    i, n = 0, len(counts)
    while i < n:
        end, count = limits[i], counts[i]
        i += 1
        if count <= 0.0:
            while i < n and counts[i] <= 0.0:
                end, count = limits[i], counts[i]
                i += 1
        bucket_limit.append(float(end))
        bucket.append(float(count))
    if not bucket:  # unreachable with default limits; kept to mirror TensorFlow
        bucket_limit, bucket = [DBL_MAX], [0.0]

    with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow to inf, as in TF
        total, squares = float(v.sum()), float(np.dot(v, v))
    return {
        "min": float(v.min()) if v.size else DBL_MAX,
        "max": float(v.max()) if v.size else -DBL_MAX,
        "num": float(v.size),
        "sum": total,
        "sum_squares": squares,
        "bucket_limit": bucket_limit,
        "bucket": bucket,
    }


def histogram_proto(values) -> bytes:
    """Serialized ``HistogramProto`` of ``values`` with TensorFlow's bucketing."""
    return encode_message(_histogram_fields(values), HISTOGRAM_PROTO)


_PNG_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def _as_image(image) -> np.ndarray:
    """Validate an HxW or HxWxC uint8 array (C in 1..4) and return it as HxWxC."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _PNG_COLOR_TYPE:
        raise ValueError(f"image must be HxW or HxWxC with C in 1..4, got {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must not be empty, got {img.shape}")
    return img


def encode_png(image) -> bytes:
    """PNG bytes for a uint8 HxW or HxWxC image, using zlib (no imaging library).

    Every row uses filter type 0 (None): simplest valid PNG, zlib still
    compresses it reasonably.
    """
    img = _as_image(image)
    height, width, channels = img.shape
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 1:] = img.reshape(height, width * channels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _image_fields(image) -> dict:
    img = _as_image(image)
    height, width, channels = img.shape
    # Summary.Image.colorspace is the channel count (1 gray ... 4 RGBA).
    return {"height": height, "width": width, "colorspace": channels,
            "encoded_image_string": encode_png(img)}


# TensorFlow's DataType enum values, by numpy dtype name
DATA_TYPES = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7,
              "int64": 9, "bool": 10, "float16": 19}


def shape_attr(shape) -> dict:
    """A TensorShapeProto dict: ``None`` for an unknown rank, None dims for unknown sizes."""
    if shape is None:
        return {"unknown_rank": 1}
    return {"dim": [{"size": -1 if d is None else int(d)} for d in shape]}


def graph_def(nodes: Iterable[Sequence]) -> bytes:
    """Serialized ``GraphDef`` from (name, op, inputs, device[, attrs]) tuples.

    Inputs use TensorFlow's naming ("node", "node:1", "^ctrl"); device may be
    None or "". ``attrs`` maps attribute names to AttrValue dicts, e.g.
    ``{"T": {"type": 1}, "_output_shapes": {"list": {"shape": [shape_attr((None, 3))]}}}``
    (TensorBoard labels edges with ``_output_shapes``).
    """
    node_list = []
    for node in nodes:
        name, op, inputs, device = node[:4]
        attrs = node[4] if len(node) > 4 else None
        entry = {"name": name, "op": op, "input": list(inputs or ()), "device": device or ""}
        if attrs:
            entry["attr"] = [{"key": k, "value": v} for k, v in sorted(attrs.items())]
        node_list.append(entry)
    return encode_message({"node": node_list}, GRAPH_DEF)


def scalar_summary(tag: str, value: float) -> bytes:
    """Serialized ``Summary`` holding one scalar (stored as float32)."""
    return encode_message({"value": [{"tag": tag, "simple_value": float(value)}]}, SUMMARY)


def histogram_summary(tag: str, values) -> bytes:
    """Serialized ``Summary`` holding one histogram of ``values``."""
    return encode_message({"value": [{"tag": tag, "histo": _histogram_fields(values)}]}, SUMMARY)


def image_summary(tag: str, image) -> bytes:
    """Serialized ``Summary`` holding one PNG-encoded uint8 image."""
    return encode_message({"value": [{"tag": tag, "image": _image_fields(image)}]}, SUMMARY)


def merge_summaries(summaries: Iterable[bytes]) -> bytes:
    """Merge serialized ``Summary`` messages into one.

    A Summary only has the repeated ``value`` field, and concatenating
    protobuf encodings appends repeated fields, so plain concatenation is
    exactly TensorFlow's merge.
    """
    parts = []
    for s in summaries:
        if not isinstance(s, (bytes, bytearray)):
            raise TypeError(f"expected serialized Summary bytes, got {type(s).__name__}")
        parts.append(bytes(s))
    return b"".join(parts)


def encode_event(wall_time: float, step: int = 0, *, file_version: str | None = None,
                 graph_def: bytes | None = None, summary: bytes | None = None) -> bytes:
    """Serialized ``Event``; ``graph_def``/``summary`` are already-serialized bytes."""
    what = {name: value for name, value in (("file_version", file_version),
                                            ("graph_def", graph_def),
                                            ("summary", summary)) if value is not None}
    if len(what) > 1:  # they form the Event's `oneof what`
        raise ValueError("an Event holds at most one of file_version, graph_def, summary")
    return encode_message({"wall_time": float(wall_time), "step": int(step), **what}, EVENT)


def decode_event(buf: bytes) -> dict:
    """Dict view of a serialized ``Event`` (see ``decode_message`` for defaults)."""
    return decode_message(buf, EVENT)


def decode_summary(buf: bytes) -> dict:
    """Dict view of a serialized ``Summary``: ``{"value": [...]}``."""
    return decode_message(buf, SUMMARY)


# --------------------------------------------------------------------------
# Writer and reader
# --------------------------------------------------------------------------

class EventFileWriter:
    """Append Events to a new ``events.out.tfevents.*`` file in ``logdir``.

    The file name follows TensorFlow (``events.out.tfevents.{time}.{host}``);
    if that name is taken (two writers in the same second) ``.1``, ``.2``, ...
    is appended rather than overwriting, since TensorBoard picks up any file
    containing "tfevents".  Writes are serialized with a lock so training
    threads can share one writer.  Data reaches disk on ``flush``/``close``.
    """

    FILE_VERSION = "brain.Event:2"

    def __init__(self, logdir: str | os.PathLike):
        os.makedirs(logdir, exist_ok=True)
        base = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        path, n = os.path.join(logdir, base), 0
        while True:
            try:
                self._file = open(path, "xb")
                break
            except FileExistsError:
                n += 1
                path = os.path.join(logdir, f"{base}.{n}")
        self.logdir = os.fspath(logdir)
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._write(encode_event(time.time(), file_version=self.FILE_VERSION))

    def _write(self, event: bytes) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("EventFileWriter is closed")
            self._file.write(encode_record(event))

    @staticmethod
    def _now(wall_time: float | None) -> float:
        return time.time() if wall_time is None else float(wall_time)

    def add_summary(self, summary: bytes, step: int = 0, wall_time: float | None = None) -> None:
        """Write an Event carrying already-serialized ``Summary`` bytes."""
        if not isinstance(summary, (bytes, bytearray)):
            raise TypeError(f"expected serialized Summary bytes, got {type(summary).__name__}")
        self._write(encode_event(self._now(wall_time), step, summary=bytes(summary)))

    def add_scalar(self, tag: str, value: float, step: int = 0,
                   wall_time: float | None = None) -> None:
        self.add_summary(scalar_summary(tag, value), step, wall_time)

    def add_histogram(self, tag: str, values, step: int = 0,
                      wall_time: float | None = None) -> None:
        self.add_summary(histogram_summary(tag, values), step, wall_time)

    def add_image(self, tag: str, image, step: int = 0,
                  wall_time: float | None = None) -> None:
        """Write a uint8 HxWxC (or HxW) image, PNG-encoded."""
        self.add_summary(image_summary(tag, image), step, wall_time)

    def add_graph(self, nodes: Iterable[Sequence], wall_time: float | None = None) -> None:
        """Write a graph from (name, op, inputs, device) tuples for the Graphs tab."""
        self._write(encode_event(self._now(wall_time), graph_def=graph_def(nodes)))

    def flush(self) -> None:
        with self._lock:
            if not self._closed:
                self._file.flush()

    def close(self) -> None:
        """Flush and close; calling it again is harmless."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._file.close()

    def __enter__(self) -> "EventFileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_events(path: str | os.PathLike) -> list[dict]:
    """Decode every Event in an event file into dicts.

    Each dict has ``wall_time`` and ``step`` plus whichever of
    ``file_version`` / ``graph_def`` / ``summary`` the event carries; both
    CRCs of every record are checked (CorruptRecordError on failure).
    """
    return [decode_event(record) for record in read_records(path)]
