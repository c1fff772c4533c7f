"""Reference sections of the elementwise math family, built from one row per op:
(name, what it computes, its domain or dtype rule, the example's arguments, the
example's printed result). Every op of a template shares its Args/Returns/Raises text;
the rows say what differs.
"""
from __future__ import annotations

FLOAT_UNARY = [  # (name, computes, domain, example args, example result)
    ('sin',
     'the sine of x (radians)',
     'every real x; +-inf gives NaN',
     'np.array([0.0, 0.5, -2.0])',
     'array([ 0.        ,  0.47942554, -0.90929743])'),
    ('cos',
     'the cosine of x (radians)',
     'every real x; +-inf gives NaN',
     'np.array([0.0, 0.5, -2.0])',
     'array([ 1.        ,  0.87758256, -0.41614684])'),
    ('tan',
     'the tangent of x (radians)',
     'every real x; +-inf gives NaN',
     'np.array([0.0, 0.5, -2.0])',
     'array([0.        , 0.54630249, 2.18503986])'),
    ('arcsin',
     'the inverse sine, in [-pi/2, pi/2]',
     '[-1, 1]; outside it NaN',
     'np.array([0.0, 0.5, -1.0])',
     'array([ 0.        ,  0.52359878, -1.57079633])'),
    ('arccos',
     'the inverse cosine, in [0, pi]',
     '[-1, 1]; outside it NaN',
     'np.array([1.0, 0.5, -1.0])',
     'array([0.        , 1.04719755, 3.14159265])'),
    ('arctan',
     'the inverse tangent, in (-pi/2, pi/2)',
     'every real x (+-inf gives +-pi/2)',
     'np.array([0.0, 1.0, -np.inf])',
     'array([ 0.        ,  0.78539816, -1.57079633])'),
    ('sinh',
     'the hyperbolic sine',
     'every real x (overflows to +-inf for |x| > ~710 in float64)',
     'np.array([0.0, 1.0, -2.0])',
     'array([ 0.        ,  1.17520119, -3.62686041])'),
    ('cosh',
     'the hyperbolic cosine',
     'every real x (overflows to inf for |x| > ~710 in float64)',
     'np.array([0.0, 1.0, -2.0])',
     'array([1.        , 1.54308063, 3.76219569])'),
    ('arcsinh',
     'the inverse hyperbolic sine',
     'every real x',
     'np.array([0.0, 1.0, -2.0])',
     'array([ 0.        ,  0.88137359, -1.44363548])'),
    ('arccosh',
     'the inverse hyperbolic cosine',
     '[1, inf]; below 1 NaN',
     'np.array([1.0, 2.0, 10.0])',
     'array([0.        , 1.3169579 , 2.99322285])'),
    ('arctanh',
     'the inverse hyperbolic tangent',
     '[-1, 1] (+-1 give +-inf); outside it NaN',
     'np.array([0.0, 0.5, -1.0])',
     'array([0.        , 0.54930614,       -inf])'),
    ('exp2',
     '2 ** x',
     "every real x (overflows to inf above the dtype's maximum exponent)",
     'np.array([0.0, 3.0, -1.0])',
     'array([1. , 8. , 0.5])'),
    ('log2',
     'the base-2 logarithm',
     'x >= 0 (0 gives -inf); negative x gives NaN',
     'np.array([1.0, 8.0, 0.5])',
     'array([ 0.,  3., -1.])'),
    ('log10',
     'the base-10 logarithm',
     'x >= 0 (0 gives -inf); negative x gives NaN',
     'np.array([1.0, 100.0, 0.5])',
     'array([ 0.     ,  2.     , -0.30103])'),
    ('erf',
     'the error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to x',
     'every real x (+-inf gives +-1)',
     'np.array([0.0, 0.5, -3.0])',
     'array([ 0.        ,  0.52049988, -0.99997791])'),
    ('exp',
     'e ** x',
     'every real x (overflows to inf above ~709.78 in float64, ~88.72 in float32)',
     'np.array([0.0, 1.0, -1.0])',
     'array([1.        , 2.71828183, 0.36787944])'),
    ('log',
     'the natural logarithm',
     'x >= 0 (0 gives -inf); negative x gives NaN',
     'np.array([1.0, np.e, 0.5])',
     'array([ 0.        ,  1.        , -0.69314718])'),
    ('sqrt',
     'the non-negative square root',
     'x >= 0 (-0.0 gives -0.0); negative x gives NaN',
     'np.array([4.0, 2.0, 0.0])',
     'array([2.        , 1.41421356, 0.        ])'),
    ('tanh',
     'the hyperbolic tangent',
     'every real x',
     'np.array([0.0, 0.5, -20.0])',
     'array([ 0.        ,  0.46211716, -1.        ])'),
    ('sigmoid',
     'the logistic function 1 / (1 + exp(-x))',
     'every real x (no overflow for large |x|)',
     'np.array([0.0, 2.0, -800.0])',
     'array([0.5       , 0.88079708, 0.        ])'),
    ('expm1',
     'exp(x) - 1, accurate for small |x|',
     'every real x',
     'np.array([0.0, 1e-10, 1.0])',
     'array([0.00000000e+00, 1.00000000e-10, 1.71828183e+00])'),
    ('log1p',
     'log(1 + x), accurate for small |x|',
     'x >= -1 (-1 gives -inf); below NaN',
     'np.array([0.0, 1e-10, 1.0])',
     'array([0.00000000e+00, 1.00000000e-10, 6.93147181e-01])'),
    ('rsqrt',
     '1 / sqrt(x)',
     'x >= 0 (0 gives inf); negative x gives NaN',
     'np.array([4.0, 1.0, 0.25])',
     'array([0.5, 1. , 2. ])'),
]
KEEP_UNARY = [  # (name, computes, domain, example args, example result)
    ('abs',
     'the absolute value |x|',
     'every value; the most negative integer wraps to itself, as numpy',
     'np.array([-1.5, 0.0, 2.0])',
     'array([1.5, 0. , 2. ])'),
    ('negative',
     '-x',
     'every number; bools are refused (as numpy: use logical_not or ~)',
     'np.array([1.5, -2.0, 0.0])',
     'array([-1.5,  2. , -0. ])'),
    ('square',
     'x * x',
     'every number; bools are refused (numpy computes them in int8)',
     'np.array([1.5, -2.0, 3.0])',
     'array([2.25, 4.  , 9.  ])'),
    ('relu',
     'max(x, 0)',
     'every number (NaN stays NaN); its gradient is 1 where x > 0, else 0',
     'np.array([-1.0, 0.0, 2.5])',
     'array([0. , 0. , 2.5])'),
    ('sign',
     '-1, 0 or 1 by the sign of x (NaN for NaN)',
     'every number; zero gradient',
     'np.array([-3.0, 0.0, 2.5])',
     'array([-1.,  0.,  1.])'),
    ('floor',
     'the largest integer <= x',
     'floats (integers and bools are returned unchanged, as numpy); zero gradient',
     'np.array([-1.5, 0.5, 2.0])',
     'array([-2.,  0.,  2.])'),
    ('ceil',
     'the smallest integer >= x',
     'floats (integers and bools are returned unchanged, as numpy); zero gradient',
     'np.array([-1.5, 0.5, 2.0])',
     'array([-1.,  1.,  2.])'),
    ('trunc',
     'x rounded toward zero',
     'floats (integers and bools are returned unchanged, as numpy); zero gradient',
     'np.array([-1.5, 0.5, 2.7])',
     'array([-1.,  0.,  2.])'),
    ('rint',
     'x rounded to the nearest integer, halves to even',
     'floats (integers and bools are returned unchanged, as numpy); zero gradient',
     'np.array([-1.5, 0.5, 2.5])',
     'array([-2.,  0.,  2.])'),
]
BOOL_UNARY = [  # (name, computes, domain, example args, example result)
    ('isnan',
     'True where x is NaN',
     'every number (always False for integers and bools)',
     'np.array([1.0, np.nan, np.inf])',
     'array([False,  True, False])'),
    ('isinf',
     'True where x is +inf or -inf',
     'every number (always False for integers and bools)',
     'np.array([1.0, np.nan, -np.inf])',
     'array([False, False,  True])'),
    ('isfinite',
     'True where x is neither NaN nor +-inf',
     'every number (always True for integers and bools)',
     'np.array([1.0, np.nan, -np.inf])',
     'array([ True, False, False])'),
    ('logical_not',
     'True where x is zero (false)',
     'every dtype (nonzero is true)',
     'np.array([0.0, 2.0, -1.0])',
     'array([ True, False, False])'),
]
BINARY = [  # (name, computes, domain, example args, example result)
    ('add',
     'x + y',
     'any numeric dtypes; bool + bool is logical or, as numpy',
     'np.array([1.0, 2.0]), np.array([[10.0], [20.0]])',
     'array([[11., 12.],\n       [21., 22.]])'),
    ('subtract',
     'x - y',
     'any numeric dtypes; bools are refused (as numpy)',
     'np.array([1.0, 2.0]), 0.5',
     'array([0.5, 1.5])'),
    ('multiply',
     'x * y',
     'any numeric dtypes; bool * bool is logical and',
     'np.array([1.0, 2.0]), np.array([3.0, -1.0])',
     'array([ 3., -2.])'),
    ('divide',
     'the true quotient x / y (integers and bools divide in float64, as numpy); x / 0 is +-inf or NaN',
     'any numeric dtypes',
     'np.array([1, 3]), np.array([2, 4])',
     'array([0.5 , 0.75])'),
    ('power',
     'x ** y (C99 pow for floats; exact, wrapping integer powers)',
     "any numeric dtypes; a negative constant integer exponent of an integer base raises InvalidValueError, as numpy's ValueError",
     'np.array([2.0, 3.0]), 2',
     'array([4., 9.])'),
    ('maximum',
     'the elementwise maximum (NaN if either is NaN)',
     'any dtypes',
     'np.array([1.0, 5.0, np.nan]), np.array([3.0, 2.0, 0.0])',
     'array([ 3.,  5., nan])'),
    ('minimum',
     'the elementwise minimum (NaN if either is NaN)',
     'any dtypes',
     'np.array([1.0, 5.0, np.nan]), np.array([3.0, 2.0, 0.0])',
     'array([ 1.,  2., nan])'),
    ('arctan2',
     "the angle of the point (x, y) = (second, first argument) in [-pi, pi], with C99's signed zeros and infinities",
     'floats (integers and bools computed in float)',
     'np.array([1.0, -1.0, 0.0]), np.array([1.0, 1.0, -1.0])',
     'array([ 0.78539816, -0.78539816,  3.14159265])'),
    ('floor_divide',
     "the quotient rounded toward -inf (``x // y``); for floats numpy's npy_divmod (x / 0 gives +-inf or NaN), for integers x // 0 = 0",
     'integers or floats; bools are refused',
     'np.array([7.0, -7.0, 7.5]), np.array([2.0, 2.0, -2.0])',
     'array([ 3., -4., -4.])'),
    ('remainder',
     "x - floor(x / y) * y (``x % y``, ``mod``): the remainder with the divisor's sign; float x % 0 is NaN, integer x % 0 is 0",
     'integers or floats; bools are refused',
     'np.array([7.0, -7.0, 7.5]), np.array([2.0, 2.0, -2.0])',
     'array([ 1. ,  1. , -0.5])'),
    ('fmod',
     "C's fmod: the exact remainder of the quotient truncated toward zero, with the dividend's sign; float fmod(x, 0) is NaN, integer 0",
     'integers or floats; bools are refused',
     'np.array([7.0, -7.0, 7.5]), np.array([2.0, 2.0, -2.0])',
     'array([ 1. , -1. ,  1.5])'),
    ('equal',
     'x == y (bool)',
     "any dtypes (a Python int beyond the array's range compares by value)",
     'np.array([1.0, 2.0, np.nan]), np.array([1.0, 3.0, np.nan])',
     'array([ True, False, False])'),
    ('not_equal',
     'x != y (bool)',
     'any dtypes',
     'np.array([1.0, 2.0, np.nan]), np.array([1.0, 3.0, np.nan])',
     'array([False,  True,  True])'),
    ('less', 'x < y (bool)', 'any dtypes', 'np.array([1.0, 2.0, 3.0]), 2.0', 'array([ True, False, False])'),
    ('less_equal', 'x <= y (bool)', 'any dtypes', 'np.array([1.0, 2.0, 3.0]), 2.0', 'array([ True,  True, False])'),
    ('greater', 'x > y (bool)', 'any dtypes', 'np.array([1.0, 2.0, 3.0]), 2.0', 'array([False, False,  True])'),
    ('greater_equal', 'x >= y (bool)', 'any dtypes', 'np.array([1.0, 2.0, 3.0]), 2.0', 'array([False,  True,  True])'),
    ('logical_and',
     'x AND y of the truth values (bool)',
     'any dtypes (nonzero is true)',
     'np.array([True, True, False]), np.array([True, False, False])',
     'array([ True, False, False])'),
    ('logical_or',
     'x OR y of the truth values (bool)',
     'any dtypes (nonzero is true)',
     'np.array([True, True, False]), np.array([True, False, False])',
     'array([ True,  True, False])'),
    ('logical_xor',
     'x XOR y of the truth values (bool)',
     'any dtypes (nonzero is true)',
     'np.array([True, True, False]), np.array([True, False, False])',
     'array([False,  True, False])'),
    ('bitwise_and',
     'x & y',
     'integers (bools: logical and); floats are refused',
     'np.array([12, 10]), np.array([10, 6])',
     'array([8, 2])'),
    ('bitwise_or',
     'x | y',
     'integers (bools: logical or); floats are refused',
     'np.array([12, 10]), np.array([10, 6])',
     'array([14, 14])'),
    ('bitwise_xor',
     'x ^ y',
     'integers (bools: logical xor); floats are refused',
     'np.array([12, 10]), np.array([10, 6])',
     'array([ 6, 12])'),
    ('left_shift',
     'x << y (0 for y outside [0, bit width))',
     'integers; floats and bools are refused',
     'np.array([1, 3]), np.array([4, 1])',
     'array([16,  6])'),
    ('right_shift',
     'x >> y, arithmetic (0 or -1 for y outside [0, bit width))',
     'integers; floats and bools are refused',
     'np.array([16, -16]), np.array([2, 2])',
     'array([ 4, -4])'),
]

_OPERAND = ("x: array_like: an ndarray, a Tensor inside a trace, or a Python number; any\n"
            "        shape.")


def _example(name, args, result):
    result = result.replace("\n", "\n    ")
    return f"Example:\n    >>> gc.{name}({args})\n    {result}"


def _float_unary(name, computes, domain, args, result):
    return f"""Args:
    {_OPERAND} float32 or float64; integer and bool inputs are computed in the
        float dtype numpy picks for them (float64 for int32/int64).
Returns:
    {computes}, elementwise: x's shape, float dtype (an ndarray outside a trace, a
    Tensor inside one). Domain: {domain}.
Raises:
    DTypeError: x's dtype is not a number dtype graphc supports (strings, objects).
{_example(name, args, result)}"""


def _keep_unary(name, computes, domain, args, result):
    return f"""Args:
    {_OPERAND} Any number dtype.
Returns:
    {computes}, elementwise, with x's shape and dtype. Domain: {domain}.
Raises:
    DTypeError: a dtype the op refuses (see the domain) or a non-number dtype.
{_example(name, args, result)}"""


def _bool_unary(name, computes, domain, args, result):
    return f"""Args:
    {_OPERAND}
Returns:
    {computes}: a bool array of x's shape. Domain: {domain}.
Raises:
    DTypeError: x's dtype is not one graphc supports (strings, objects).
{_example(name, args, result)}"""


def _binary(name, computes, dtypes, args, result):
    return f"""Args:
    x: array_like (ndarray, Tensor or Python number), the first operand.
    y: array_like, the second operand; x's and y's shapes broadcast together by
        numpy's rules, and their dtypes promote as in numpy 2 (Python scalars are weak).
Returns:
    {computes}, elementwise, of the broadcast shape and the promoted dtype.
    Dtypes: {dtypes}.
Raises:
    ShapeError: the shapes do not broadcast (the message names both).
    DTypeError: a dtype the op does not take.
{_example(name, args, result)}"""


def entries() -> dict:
    out = {}
    for rows, template in ((FLOAT_UNARY, _float_unary), (KEEP_UNARY, _keep_unary), (BOOL_UNARY, _bool_unary),
                           (BINARY, _binary)):
        for row in rows:
            out[row[0]] = template(*row)
    return out
