"""Tests for graphc.summary.events: TensorBoard event files without protobuf."""

import bisect
import math
import os
import socket
import struct
import sys
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphc.summary import (
    DEFAULT_BUCKET_LIMITS,
    CorruptRecordError,
    DecodeError,
    EventFileWriter,
    crc32c,
    decode_event,
    decode_summary,
    decode_varint,
    encode_event,
    encode_message,
    encode_png,
    encode_record,
    encode_varint,
    graph_def,
    histogram_proto,
    histogram_summary,
    masked_crc32c,
    merge_summaries,
    read_events,
    read_records,
    scalar_summary,
)
from graphc.summary.events import GRAPH_DEF, HISTOGRAM_PROTO, decode_message

DBL_MAX = sys.float_info.max
HYPO = settings(max_examples=150, deadline=None)


# ---------------------------------------------------------------- CRC32C ---

def test_crc32c_known_vectors():
    # RFC 3720 (iSCSI) appendix B.4 vectors plus the usual check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


def test_masked_crc_formula():
    crc = crc32c(b"abc")
    expect = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32
    assert masked_crc32c(b"abc") == expect


def test_record_framing_layout():
    data = b"hello event"
    rec = encode_record(data)
    assert len(rec) == 8 + 4 + len(data) + 4
    assert struct.unpack("<Q", rec[:8])[0] == len(data)
    assert struct.unpack("<I", rec[8:12])[0] == masked_crc32c(rec[:8])
    assert rec[12:-4] == data
    assert struct.unpack("<I", rec[-4:])[0] == masked_crc32c(data)


# ---------------------------------------------------------- wire format ---

def test_varint_known_encodings():
    assert encode_varint(0) == b"\x00"
    assert encode_varint(1) == b"\x01"
    assert encode_varint(150) == b"\x96\x01"  # the protobuf docs example
    assert encode_varint(300) == b"\xac\x02"
    assert encode_varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: 10 bytes
    assert encode_varint(2**64 - 1) == b"\xff" * 9 + b"\x01"
    with pytest.raises(ValueError):
        encode_varint(2**64)
    with pytest.raises(DecodeError):
        decode_varint(b"\x96")  # continuation bit with no next byte


@HYPO
@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_roundtrip_unsigned(n):
    buf = encode_varint(n)
    assert len(buf) == max(1, math.ceil(n.bit_length() / 7))
    assert decode_varint(buf + b"junk") == (n, len(buf))


@HYPO
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_step_roundtrip(step):
    assert decode_event(encode_event(1.0, step))["step"] == step


@HYPO
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_double_wall_time_roundtrip_bit_exact(x):
    got = decode_event(encode_event(x, 0))["wall_time"]
    assert struct.pack("<d", got) == struct.pack("<d", x)


@HYPO
@given(st.floats(width=32, allow_nan=False))
def test_float32_simple_value_roundtrip(x):
    (value,) = decode_summary(scalar_summary("t", x))["value"]
    assert value["simple_value"] == x
    assert math.copysign(1.0, value["simple_value"]) == math.copysign(1.0, x)


@HYPO
@given(st.lists(st.floats(allow_nan=False), max_size=40))
def test_packed_doubles_roundtrip(xs):
    msg = {"bucket_limit": xs, "bucket": xs[::-1], "num": 3.0}
    got = decode_message(encode_message(msg, HISTOGRAM_PROTO), HISTOGRAM_PROTO)
    assert got["bucket_limit"] == xs and got["bucket"] == xs[::-1] and got["num"] == 3.0


def test_scalar_zero_is_still_written():
    # simple_value lives in a oneof: 0.0 must be on the wire or TensorBoard
    # would see a Value with no data.
    (value,) = decode_summary(scalar_summary("zero", 0.0))["value"]
    assert value == {"tag": "zero", "simple_value": 0.0}


def test_float32_overflow_becomes_inf():
    (value,) = decode_summary(scalar_summary("big", 1e300))["value"]
    assert value["simple_value"] == math.inf


def test_unknown_fields_are_skipped():
    # Summary.Value.metadata (field 9) as newer TensorFlow writes it.
    extra = encode_varint(9 << 3 | 2) + encode_varint(3) + b"xyz"
    value = scalar_summary("a", 2.0)[2:]  # strip Summary's own key+length
    summary = b"\x0a" + encode_varint(len(value) + len(extra)) + value + extra
    assert decode_summary(summary)["value"] == [{"tag": "a", "simple_value": 2.0}]


def test_wrong_wire_type_is_rejected():
    with pytest.raises(DecodeError):
        decode_event(encode_varint(1 << 3 | 0) + encode_varint(5))  # wall_time as varint


def test_event_oneof_is_exclusive():
    with pytest.raises(ValueError):
        encode_event(1.0, file_version="x", summary=b"")


# ------------------------------------------------------------ histogram ---

def _tf_histogram_reference(values):
    """Literal port of tsl::histogram::Histogram Add + EncodeToProto(false)."""
    limits = list(DEFAULT_BUCKET_LIMITS)
    counts = [0.0] * len(limits)
    lo, hi, num, total, squares = limits[-1], -DBL_MAX, 0.0, 0.0, 0.0
    for v in values:
        # TF indexes past the end for v == DBL_MAX (undefined behaviour); the
        # only sensible reading is the last bucket.
        counts[min(bisect.bisect_right(limits, v), len(limits) - 1)] += 1.0
        lo, hi = min(lo, v), max(hi, v)
        num += 1
        total += v
        squares += v * v
    out_limit, out_count = [], []
    i = 0
    while i < len(counts):
        end, count = limits[i], counts[i]
        i += 1
        if count <= 0.0:
            while i < len(counts) and counts[i] <= 0.0:
                end, count = limits[i], counts[i]
                i += 1
        out_limit.append(end)
        out_count.append(count)
    return lo, hi, num, total, squares, out_limit, out_count


def test_default_bucket_limits_shape():
    limits = DEFAULT_BUCKET_LIMITS
    mid = len(limits) // 2
    assert len(limits) % 2 == 1 and limits[mid] == 0.0
    assert limits[mid + 1] == 1e-12
    assert limits[mid + 2] == 1e-12 * 1.1
    assert limits[-1] == DBL_MAX and limits[0] == -DBL_MAX
    assert limits[-2] < 1e20 <= limits[-2] * 1.1
    np.testing.assert_array_equal(limits[:mid], -limits[mid + 1:][::-1])
    assert np.all(np.diff(limits) > 0)


@pytest.mark.parametrize("values", [
    [0.0],
    [1.0, 2.0, 3.0, -1.0, 1e-13, -1e-13, 1e25, -DBL_MAX, DBL_MAX],
    list(np.random.default_rng(0).normal(size=500) * 10),
    [1e-12, 1e-12 * 1.1, 0.0, -0.0],  # values exactly on limits
])
def test_histogram_matches_tensorflow_algorithm(values):
    got = decode_message(histogram_proto(values), HISTOGRAM_PROTO)
    lo, hi, num, total, squares, limits, counts = _tf_histogram_reference(values)
    assert (got["min"], got["max"], got["num"]) == (lo, hi, num)
    assert got["sum"] == pytest.approx(total) and got["sum_squares"] == pytest.approx(squares)
    assert got["bucket_limit"] == limits and got["bucket"] == counts
    assert sum(got["bucket"]) == len(values)


def test_histogram_empty_and_nonfinite():
    got = decode_message(histogram_proto([]), HISTOGRAM_PROTO)
    assert got["bucket_limit"] == [DBL_MAX] and got["bucket"] == [0.0]
    assert got["min"] == DBL_MAX and got["max"] == -DBL_MAX and got["num"] == 0.0
    with pytest.raises(ValueError):
        histogram_proto([1.0, float("nan")])
    with pytest.raises(ValueError):
        histogram_proto([float("inf")])


# ------------------------------------------------------------------ PNG ---

def _decode_png(data):
    """Tiny PNG reader for filter-0, 8-bit, non-interlaced images (checks CRCs)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * channels)
    assert np.all(rows[:, 0] == 0)
    return rows[:, 1:].reshape(h, w, channels)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_roundtrip(channels):
    img = np.random.default_rng(channels).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    np.testing.assert_array_equal(_decode_png(encode_png(img)), img)


def test_png_rejects_bad_input():
    with pytest.raises(TypeError):
        encode_png(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((0, 2, 3), np.uint8))


# ------------------------------------------------------ writer / reader ---

def _write_sample(logdir):
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    hist = np.linspace(-3, 3, 101)
    nodes = [("x", "Placeholder", [], "/cpu:0"),
             ("w", "VariableV2", [], None),
             ("y", "MatMul", ["x", "w:0", "^w"], "")]
    with EventFileWriter(logdir) as w:
        for step in range(3):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_histogram("weights", hist, step=7)
        w.add_image("input", img, step=9)
        w.add_graph(nodes)
        merged = merge_summaries([scalar_summary("a", 1.5), histogram_summary("b", [1, 2])])
        w.add_summary(merged, step=11)
        path = w.path
    return path, img, hist


def test_write_and_read_back(tmp_path):
    t0 = time.time()
    path, img, hist = _write_sample(tmp_path / "run1")
    t1 = time.time()
    name = os.path.basename(path)
    assert name.startswith("events.out.tfevents.")
    assert name.endswith("." + socket.gethostname())
    assert abs(int(name.split(".")[3]) - t0) <= 2

    events = read_events(path)
    first = events[0]
    assert first["file_version"] == "brain.Event:2" and first["step"] == 0
    assert "summary" not in first
    times = [e["wall_time"] for e in events]
    assert all(t0 - 1 <= t <= t1 + 1 for t in times) and times == sorted(times)

    scalars = [(e["step"], v["tag"], v["simple_value"])
               for e in events[1:4] for v in e["summary"]["value"]]
    assert scalars == [(0, "loss", 1.0), (1, "loss", 0.5),
                       (2, "loss", np.float32(1 / 3).item())]

    (h,) = events[4]["summary"]["value"]
    assert events[4]["step"] == 7 and h["tag"] == "weights" and set(h) == {"tag", "histo"}
    histo = h["histo"]
    assert (histo["min"], histo["max"], histo["num"]) == (-3.0, 3.0, 101.0)
    assert histo["sum"] == pytest.approx(0.0, abs=1e-9)
    assert histo["sum_squares"] == pytest.approx(float(np.dot(hist, hist)))
    assert sum(histo["bucket"]) == 101 and len(histo["bucket"]) == len(histo["bucket_limit"])

    (im,) = events[5]["summary"]["value"]
    assert events[5]["step"] == 9 and im["tag"] == "input"
    image = im["image"]
    assert (image["height"], image["width"], image["colorspace"]) == (4, 6, 3)
    np.testing.assert_array_equal(_decode_png(image["encoded_image_string"]), img)

    graph = events[6]["graph_def"]
    assert graph == {"node": [
        {"name": "x", "op": "Placeholder", "input": [], "device": "/cpu:0", "attr": []},
        {"name": "w", "op": "VariableV2", "input": [], "device": "", "attr": []},
        {"name": "y", "op": "MatMul", "input": ["x", "w:0", "^w"], "device": "", "attr": []},
    ]}

    merged = events[7]
    assert merged["step"] == 11
    a, b = merged["summary"]["value"]
    assert a == {"tag": "a", "simple_value": 1.5}
    assert b["tag"] == "b" and b["histo"]["num"] == 2.0
    assert len(events) == 8


def test_graph_def_bytes_decode():
    got = decode_message(graph_def([("n", "Const", None, None)]), GRAPH_DEF)
    assert got == {"node": [{"name": "n", "op": "Const", "input": [], "device": "", "attr": []}]}


def test_two_writers_do_not_clobber(tmp_path):
    with EventFileWriter(tmp_path) as a, EventFileWriter(tmp_path) as b:
        a.add_scalar("a", 1.0, 1)
        b.add_scalar("b", 2.0, 2)
    assert a.path != b.path
    assert read_events(a.path)[1]["summary"]["value"][0]["tag"] == "a"
    assert read_events(b.path)[1]["summary"]["value"][0]["tag"] == "b"


def test_flush_makes_data_visible_and_close_is_final(tmp_path):
    w = EventFileWriter(tmp_path)
    w.add_scalar("x", 3.0, 5)
    w.flush()
    assert read_events(w.path)[-1]["step"] == 5
    w.close()
    w.close()
    with pytest.raises(ValueError):
        w.add_scalar("x", 1.0, 6)


def test_corrupted_byte_is_detected(tmp_path):
    with EventFileWriter(tmp_path) as w:
        w.add_scalar("loss", 0.25, 1)
        path = w.path
    good = open(path, "rb").read()
    first_len = 16 + struct.unpack("<Q", good[:8])[0]
    # Flip one byte in each part of the second record: length, length CRC,
    # payload, payload CRC.
    for offset in (first_len + 0, first_len + 9, first_len + 14, len(good) - 1):
        bad = bytearray(good)
        bad[offset] ^= 0x01
        open(path, "wb").write(bytes(bad))
        with pytest.raises(CorruptRecordError):
            read_events(path)
    open(path, "wb").write(good[:-2])  # truncated tail
    with pytest.raises(CorruptRecordError):
        read_records(path)
    open(path, "wb").write(good)
    assert len(read_events(path)) == 2
