"""Op definitions. Importing this package registers every op in the registry."""
from . import registry, sources, elementwise, reductions, shape_ops, linalg, creation, nn, methods  # noqa: F401
