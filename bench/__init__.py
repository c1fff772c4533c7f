"""graphc's benchmark runner: `python -m bench` (see runner.py)."""
