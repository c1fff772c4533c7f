"""GPU coverage entry for the op issue 15's transformations add: remat_barrier (the
inputs of gc.checkpoint's recomputation in the backward pass; an identity)."""
import graphc as gc
from op_examples import example, f32

example("remat_barrier", gc.grad(lambda x: gc.checkpoint(lambda v: gc.tanh(v) * v)(x).sum()), f32(16))
