"""graphc.data: input pipelines in the style of ``tf.data`` that keep a compiled step busy.

    import graphc.data as gd
    ds = (gd.Dataset.from_tensor_slices((x, y)).shuffle(10000, seed=0).batch(256)
          .map(augment, num_parallel_calls=2).prefetch(2))
    for xb, yb in ds:               # numpy arrays, nested like the input
        loss = train_step(xb, yb)   # native code, GIL released: the next batch is built meanwhile

See dataset.py for the design (iterator chains, background stages, the vectorized
in-memory path) and _threads.py for how background threads stop.
"""
from .dataset import (AUTOTUNE, CsvDataset, Dataset, FixedLengthRecordDataset, Iterator, Spec,  # noqa: F401
                      TextLineDataset)
from .readers import DataFormatError, Line, decode_csv, decode_raw  # noqa: F401
import types as _types

experimental = _types.SimpleNamespace(AUTOTUNE=AUTOTUNE, CsvDataset=CsvDataset)

__all__ = ["AUTOTUNE", "CsvDataset", "DataFormatError", "Dataset", "FixedLengthRecordDataset", "Iterator", "Line",
           "Spec", "TextLineDataset", "decode_csv", "decode_raw", "experimental"]
