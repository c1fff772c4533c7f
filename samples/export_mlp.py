"""Train an MNIST MLP with graphc, export it as a C library, and run it from C.

    python samples/export_mlp.py            # writes build/export_mlp/, prints both accuracies

1. trains a 784-128-10 MLP (Adam) on data/mnist10k.npz for one epoch with gc.compile;
2. exports the predictor    -> build/export_mlp/libmlp.so + mlp.h          (weights inside)
   and the training step     -> build/export_mlp/libmlp_train.so + mlp_train.h (weights and
   Adam state inside, so C can keep training);
3. compiles samples/export_main.c against both with the system C compiler and runs it on
   the test set: it classifies, trains a few more steps in C, copies the new weights into
   the predictor with get/set_variable and classifies again.
The C program's first accuracy must equal the one computed in Python.
"""
import os
import subprocess
import sys

import numpy as np

import graphc as gc
from graphc.progress import Progress, compiling
import graphc.nn.losses as losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "export_mlp")
BATCH, TEST = 100, 2000


def load_mnist():
    d = np.load(os.path.join(ROOT, "data", "mnist10k.npz"))
    x = (d["images"].reshape(-1, 784) / 255.0).astype(np.float32)
    y = d["labels"].astype(np.int32)
    return x[:8000], y[:8000], x[-TEST:], y[-TEST:]


def glorot(n_in, n_out, rng):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)


def main():
    x_train, y_train, x_test, y_test = load_mnist()
    rng = np.random.default_rng(0)
    w1 = gc.Variable(glorot(784, 128, rng), name="dense1/kernel")
    b1 = gc.Variable(np.zeros(128, np.float32), name="dense1/bias")
    w2 = gc.Variable(glorot(128, 10, rng), name="dense2/kernel")
    b2 = gc.Variable(np.zeros(10, np.float32), name="dense2/bias")
    opt = gc.optim.Adam(0.002)

    def logits_of(x):
        return gc.relu(x @ w1 + b1) @ w2 + b2

    def predict(x):
        probs = gc.softmax(logits_of(x), axis=1)
        return probs, gc.argmax(probs, axis=1).astype("int32")

    def train_step(x, labels):
        loss = losses.sparse_softmax_cross_entropy(logits_of(x), labels).mean()
        opt.minimize(loss)
        return loss

    step = gc.compile(train_step)
    with compiling("train step (784-128-10 MLP, Adam)"):
        step.compile_time(x_train[:BATCH], y_train[:BATCH])  # compiles without running
    starts = range(0, len(x_train), BATCH)
    bar = Progress(len(starts), "epoch 1/1")
    for n, k in enumerate(starts):
        loss = step(x_train[k:k + BATCH], y_train[k:k + BATCH])
        bar.update(n + 1, loss=float(loss))
    bar.close(f"last loss {float(loss):.4f}")
    predict_jit = gc.compile(predict)
    py_classes = np.concatenate([predict_jit(x_test[k:k + BATCH])[1] for k in range(0, TEST, BATCH)])
    py_acc = float(np.mean(py_classes == y_test))
    print(f"python: last training loss {float(loss):.4f}, test accuracy {py_acc:.4f}")

    spec_x = gc.TensorSpec((BATCH, 784), "float32")
    lib = gc.export(predict, (spec_x,), os.path.join(OUT, "libmlp.so"), name="mlp")
    train_lib = gc.export(train_step, (spec_x, gc.TensorSpec((BATCH,), "int32")),
                          os.path.join(OUT, "libmlp_train.so"), name="mlp_train")
    print(f"exported {lib.path} ({len(lib.metadata['variables'])} variables) and {train_lib.path} "
          f"({len(train_lib.metadata['variables'])} variables incl. Adam state)")

    # From Python through ctypes: same answers as the JIT.
    m = gc.load_library(lib.path)
    np.testing.assert_array_equal(m(x_test[:BATCH])[1], py_classes[:BATCH])

    x_test.tofile(os.path.join(OUT, "test_images.f32"))
    y_test.tofile(os.path.join(OUT, "test_labels.i32"))
    exe = os.path.join(OUT, "export_main")
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-std=gnu11", "-I", OUT, "-o", exe, os.path.join(ROOT, "samples", "export_main.c"),
           "-L", OUT, "-lmlp", "-lmlp_train", f"-Wl,-rpath,{OUT}"]
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)
    print("$", exe, OUT)
    r = subprocess.run([exe, OUT], capture_output=True, text=True)
    print(r.stdout, end="")
    if r.returncode != 0:
        sys.exit(f"C program failed ({r.returncode}): {r.stderr}")
    c_acc = float(r.stdout.split("accuracy before:")[1].split()[0])
    assert abs(c_acc - py_acc) < 1e-9, (c_acc, py_acc)
    print(f"C and Python agree: {c_acc:.4f}")


if __name__ == "__main__":
    main()
