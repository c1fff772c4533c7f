"""GPU coverage entries for gc.cond and gc.while_loop (issue 17): CPU-only by design,
like scan (whole-step lowerings calling nested programs, no per-element emit); the GPU
tests check that the placer keeps them on the CPU."""
import numpy as np

import graphc as gc
from op_examples import cpu_only, f32

cpu_only("cond", "a whole-step CPU lowering (a branch calling the taken branch's program)",
         lambda p, x: gc.cond(p, lambda: gc.exp(x), lambda: x * 2.0), np.bool_(True), f32(8))
cpu_only("while_loop", "a whole-step CPU lowering (a native loop calling the cond's and body's programs)",
         lambda x: gc.while_loop(lambda v: v.sum() < 100.0, lambda v: v * 2.0 + 1.0, x), f32(8, lo=0.5, hi=1.0))


def _cpu_loop(x):
    with gc.device("/cpu:0"):   # the forward loop is not the op checked here
        return gc.while_loop(lambda v: v.sum() < 100.0, lambda v: v * 2.0 + 1.0, x)


cpu_only("while_grad", "the gradient of a while_loop without max_iterations: CPU loops over the body's and its "
         "reverse mode's programs, with checkpoints in memory allocated at run time",
         gc.grad(lambda x: _cpu_loop(x).sum()), f32(8, lo=0.5, hi=1.0))
