"""GPU coverage entry for patches_matmul (issue 11): the implicit-GEMM convolution that the
simplify pass makes of conv2d's patch-matrix products for the CPU GEMM; GPU programs keep
extract_patches + matmul, so the GPU tests check that the placer keeps it on the CPU."""
from op_examples import cpu_only, f32

from graphc.tracing import bind

_GEOMETRY = {"ksize": (3, 3), "strides": (1, 1), "dilations": (1, 1), "pads": ((1, 1), (1, 1))}

cpu_only("patches_matmul", "a step of the CPU GEMM (conv_gemm.py builds the patch matrix block by block)",
         lambda x, b: bind("patches_matmul", [x, b], transpose_a=False, **_GEOMETRY),
         f32(2, 5, 5, 3), f32(27, 4))
