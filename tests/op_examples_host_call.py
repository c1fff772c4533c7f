"""Example of host_call (issue 12): a compiled step calling a registered Python function
(here: doubling). It runs on the CPU only; the placer keeps it off GPUs."""
import numpy as np
from op_examples import EXAMPLES, Example, f32

from graphc._runtime import host_calls
from graphc.ops.host_call import host_call


def _double(x, out):
    np.multiply(x, 2, out=out)


_FID = host_calls.register("tests.op_examples.double", _double, (4, 3), "float32")

EXAMPLES.setdefault("host_call", []).append(Example(
    "host_call", lambda x: host_call(x + 1, _FID) * 3, (f32(4, 3),),
    cpu_only="calls back into this Python process from the CPU program's entry (no GPU kernel)"))
