"""gc.nn: neural-network functions (activations, losses, conv/pool/norm ops)."""
from ..ops.nn import log_softmax, one_hot, softmax  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from .losses import (in_top_k, l2_loss, sigmoid_cross_entropy, softmax_cross_entropy,  # noqa: F401,E402
                     sparse_softmax_cross_entropy)
from .layers_ops import (avg_pool, batch_norm, batch_normalization, bias_add, clip_by_norm,  # noqa: F401,E402
                         clip_by_value, conv2d, conv2d_transpose, dropout, elu, embedding_lookup, extract_patches,
                         gather, leaky_relu, local_response_normalization, lrn, max_pool, moments, selu, softplus)

__all__ = ["avg_pool", "batch_norm", "batch_normalization", "bias_add", "clip_by_norm", "clip_by_value", "conv2d",
           "conv2d_transpose", "dropout", "elu", "embedding_lookup", "extract_patches", "gather", "in_top_k",
           "l2_loss", "leaky_relu", "local_response_normalization", "log_softmax", "lrn", "max_pool", "moments",
           "one_hot", "relu", "selu", "sigmoid", "sigmoid_cross_entropy", "softmax", "softmax_cross_entropy",
           "softplus", "sparse_softmax_cross_entropy", "tanh"]
