"""GPU coverage entries for issue 15's elementwise ops (graphc/ops/math_extra.py)."""
import graphc as gc
from op_examples import example, f32, i32

for _name in ("sin", "cos", "tan", "arctan", "sinh", "cosh", "arcsinh", "exp2", "erf", "floor", "ceil", "trunc",
              "rint"):
    example(_name, getattr(gc, _name), f32(64))
example("arcsin", gc.arcsin, f32(64, lo=-1, hi=1))
example("arccos", gc.arccos, f32(64, lo=-1, hi=1))
example("arctanh", gc.arctanh, f32(64, lo=-0.99, hi=0.99))
example("arccosh", gc.arccosh, f32(64, lo=1, hi=10))
example("log2", gc.log2, f32(64, lo=0.01, hi=10))
example("log10", gc.log10, f32(64, lo=0.01, hi=10))
example("arctan2", gc.arctan2, f32(64), f32(64))
example("floor_divide", lambda a, b: a // b, i32(64), i32(64, lo=1, hi=9))
example("remainder", lambda a, b: a % b, i32(64), i32(64, lo=-9, hi=-1))
example("fmod", gc.fmod, i32(64), i32(64, lo=1, hi=9))
# float remainders are exact (mathlib_fmod): the GPU must agree bit for bit
example("remainder", lambda a, b: a % b, f32(64, lo=-50, hi=50), f32(64, lo=0.3, hi=3), rtol=0, atol=0)
example("floor_divide", lambda a, b: a // b, f32(64, lo=-50, hi=50), f32(64, lo=-3, hi=-0.3), rtol=0, atol=0)
example("fmod", gc.fmod, f32(64, lo=-50, hi=50), f32(64, lo=0.3, hi=3), rtol=0, atol=0)
example("bitwise_and", lambda a, b: a & b, i32(64), i32(64))
example("bitwise_or", lambda a, b: a | b, i32(64), i32(64))
example("bitwise_xor", lambda a, b: a ^ b, i32(64), i32(64))
example("left_shift", lambda a, b: a << b, i32(64), i32(64, lo=0, hi=31))
example("right_shift", lambda a, b: a >> b, i32(64), i32(64, lo=0, hi=31))
example("materialize", gc.sort, f32(3, 8))  # the sorting network's stage boundaries
