"""GPU coverage entry for dim_size (issue 13): the run-time count of a symbolic
dimension, in programs with symbolic dimensions, which are compiled for the CPU only;
the GPU tests check that the placer keeps it on the CPU."""
from op_examples import EXAMPLES, Example, f32

from graphc.ops.symbolic_size import dim_size

EXAMPLES.setdefault("dim_size", []).append(Example(
    "dim_size", lambda x: x / dim_size(("batch",), "float32"), (f32(6, 3),),
    cpu_only="only in programs with symbolic dimensions (CPU code; GPU code needs static sizes)",
    options={"dynamic": "batch"}))
