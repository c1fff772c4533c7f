"""Op definitions. Importing this package registers every op in the registry."""
from . import registry, sources, elementwise, reductions, shape_ops, linalg, creation, nn, methods  # noqa: F401
from . import linalg_extra  # noqa: F401,E402  (matrix_inverse)
from . import conv, pool, norm, nn_extra, random  # noqa: F401,E402  (issue 7: nn ops)
from . import control  # noqa: F401,E402  (scan)
from . import cond, while_loop  # noqa: F401,E402  (issue 17: real conditionals and loops)
from . import symbolic_size  # noqa: F401,E402  (issue 13: run-time sizes of symbolic dims)
from . import host_call  # noqa: F401,E402  (issue 12: compiled steps calling back into Python, e.g. MPI)
from . import math_extra  # noqa: F401,E402  (issue 15: trig, hyperbolic, rounding, integer ops)
from . import array_extra  # noqa: F401,E402  (issue 15: var/std/cumsum/pad/einsum/... composites)
from . import indexing_extra  # noqa: F401,E402  (issue 15: advanced indexing, .at[], gathers/scatters)
from . import sort_extra  # noqa: F401,E402  (issue 15: sort/argsort/top_k as a bitonic network)
