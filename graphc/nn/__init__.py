"""gc.nn: neural-network functions (activations, losses, conv/pool/norm ops)."""
from ..ops.nn import log_softmax, one_hot, softmax  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
