"""graphc's thin runtime (installed as ``graphc._runtime``): buffers, argument checks,
variable state and calls into compiled code. It never compiles anything itself."""
