"""graphc.compat.v1: the TensorFlow 1.x graph-and-session API over graphc."""
