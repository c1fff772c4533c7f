"""CPU code generation support: the CPU model every tuning decision reads."""
from .cpu_model import CPUModel, cpu_info, current_model, model_for

__all__ = ["CPUModel", "cpu_info", "current_model", "model_for"]
