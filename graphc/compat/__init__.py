"""Compatibility frontends (graphc.compat.v1: the TensorFlow 1.x programming model)."""
