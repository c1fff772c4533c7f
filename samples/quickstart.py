"""graphc quick start: compile a small model, print its IR before and after the passes,
run it, and check it against numpy.

    python samples/quickstart.py
"""
import numpy as np

import graphc as gc


@gc.compile
def model(x, w, b):
    """A dense layer with ReLU, then a softmax over the classes."""
    return gc.softmax(gc.relu(x @ w + b), axis=1)


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)

    print("== traced IR ==")
    print(gc.trace(model, x, w, b))
    print("\n== optimized IR (after constant folding, CSE, DCE, simplification, fusion) ==")
    print(model.ir(x, w, b, stage="optimized"))

    y = model(x, w, b)
    h = np.maximum(x @ w + b, 0)
    ref = np.exp(h - h.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    print("\n== output ==")
    print(y)
    print("max |graphc - numpy| =", float(np.abs(y - ref).max()))
    print("memory plan:", model.memory_plan(x, w, b))
    print("compile time: %.3f s" % model.compile_time(x, w, b))


if __name__ == "__main__":
    main()
