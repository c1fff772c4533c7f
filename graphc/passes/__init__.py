"""Graph passes. Importing this package registers them with the pass manager."""
from .manager import Pass, PassContext, PassManager, default_pipeline, register_pass, registered_passes  # noqa: F401
from . import basic, fusion, simplify  # noqa: F401
from . import placement  # noqa: F401,E402  (issue 5: devices)
