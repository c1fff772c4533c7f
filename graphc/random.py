"""gc.random: seeded, counter-based random tensors (see graphc/ops/random.py for the generator)."""
from .ops.random import counter_variable, get_seed, normal, set_seed, truncated_normal, uniform  # noqa: F401
from .ops.sampling import candidate_sample, categorical  # noqa: F401,E402

__all__ = ["candidate_sample", "categorical", "counter_variable", "get_seed", "normal", "set_seed",
           "truncated_normal", "uniform"]
