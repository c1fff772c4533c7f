"""Ahead-of-time export: a traced function as a standalone shared library with a C API.

    lib = gc.export(fn, (x,), "build/libmlp.so", name="mlp")  # writes build/libmlp.so + build/mlp.h
    m = gc.load_library("build/libmlp.so")                    # ctypes; m(x) == gc.compile(fn)(x)

The library holds the same code the JIT runs (same trace, passes, lowering, CPUTarget
module and O3 pipeline), emitted as position-independent objects for the host CPU
(``GRAPHC_CPU`` picks another), plus generated C glue: NULL checks and error messages,
the workspace, and the variables, which live inside the library initialized to their
export-time values. It links against libc/libm/libpthread only. Everything is checked
and built in a temporary directory first, so a failed export writes nothing.
"""
from __future__ import annotations

import ctypes
import inspect
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from . import _export_c as cgen
from . import _export_native as native
from . import dtypes
from .errors import ExportError, GraphcError
from .pytree import TreeDef, flatten, unflatten

__all__ = ["TensorSpec", "export", "load_library", "ExportedLibrary", "Library"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TensorSpec:
    """An example argument given by shape and dtype only (no data needed to export)."""
    shape: tuple
    dtype: str = "float32"
    _graphc_leaf = True  # a leaf of the argument pytree (not a dataclass node: graphc/pytree.py)


# -- checks ----------------------------------------------------------------------------------

def _example_leaf(x, k):
    """Example arrays for tracing; dynamic dimensions are rejected (the code is specialized)."""
    if isinstance(x, (np.ndarray, np.generic, bool, int, float)):
        return x
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None or dtype is None:
        raise ExportError(f"example argument leaf {k}: expected a numpy array, a gc.TensorSpec or a Python "
                          f"scalar, got {type(x).__name__}")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if any(d is None or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ExportError(f"example argument leaf {k} has a dynamic shape {shape}: exported code is specialized "
                          f"to static shapes; export one library per shape (e.g. per batch size)")
    try:
        return np.zeros(tuple(int(d) for d in shape), dtype=dtypes.canonical(dtype))
    except GraphcError as e:
        raise ExportError(f"example argument leaf {k}: {e}") from None


def _check_graph(graph, stage):
    """Every node must have static shapes and a CPU lowering (no host-only or device op)."""
    from .ops.registry import get_op

    for n in graph.nodes:
        where = f"\n  at {n.loc}" if n.loc else ""
        if any(not isinstance(d, (int, np.integer, str)) or (not isinstance(d, str) and d < 0)
               for d in n.type.shape):  # str: a symbolic dimension (its size is given to each call)
            raise ExportError(f"{n.op} has a dynamic shape {n.type.shape} ({stage} graph){where}")
        op = get_op(n.op)
        if op.kind == "source":
            continue
        if n.device is not None and "cpu" not in str(n.device).lower():
            raise ExportError(f"{n.op} is placed on device {n.device!r}; only CPU code can be exported{where}")
        if getattr(op.kernel, "host_only", False):  # host_call: calls back into this Python process
            raise ExportError(f"op '{n.op}' calls back into the running Python process (e.g. a graphc.distributed "
                              f"gradient Allreduce), so it cannot be exported: exported code is single-process; "
                              f"export the step built with the plain optimizer ({stage} graph){where}")
        if op.emit is None and op.kernel is None and "cpu" not in op.lowerings:
            raise ExportError(f"op '{n.op}' has no CPU lowering, so it cannot be exported ({stage} graph){where}")


def _tree_json(td: TreeDef):
    if td.node_type is not None:
        raise ExportError(f"exported signatures take arrays in tuples, lists and dicts; got a "
                          f"{td.node_type.__name__} ({td.kind} pytree node)")
    for key in td.keys:
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise ExportError(f"dict key {key!r}: exported signatures need str or int dict keys")
    return {"kind": td.kind, "children": [_tree_json(c) for c in td.children], "keys": list(td.keys)}


def _tree_from_json(d) -> TreeDef:
    return TreeDef(d["kind"], tuple(_tree_from_json(c) for c in d["children"]), tuple(d["keys"]))


def _leaf_paths(td: TreeDef, prefix: str, top_names=None) -> list:
    """Readable source of each leaf ("x", "params['w']", "result[0]") for the header."""
    if td.kind == "leaf":
        return [prefix]
    out = []
    for k, child in enumerate(td.children):
        if top_names is not None:
            p = top_names[k] if k < len(top_names) else f"args[{k}]"
        elif td.kind == "dict":
            p = f"{prefix}[{td.keys[k]!r}]"
        else:
            p = f"{prefix}[{k}]"
        out += _leaf_paths(child, p)
    return out


def _unique_names(variables) -> list:
    """Variable names for get/set; a repeated name gets a _1, _2 ... suffix."""
    seen, out = {}, []
    for v in variables:
        base = str(v.name)
        name, k = base, 0
        while name in seen:
            k += 1
            name = f"{base}_{k}"
        seen[name] = True
        out.append(name)
    return out


# -- export ----------------------------------------------------------------------------------

@dataclass
class ExportedLibrary:
    name: str
    path: str
    header: str
    metadata: dict

    def load(self) -> "Library":
        return load_library(self.path, name=self.name)


def _lower(pyfn, args, fuse, options, shapes=None):
    """The gc.compile pipeline up to the LLVM module (trace, passes, lower_program, CPUTarget)."""
    from .codegen.llvm_cpu import CPUTarget
    from .codegen.program import lower_program
    from .compiler import trace
    from .passes import PassContext, PassManager, default_pipeline

    graph = trace(pyfn, *args, shapes=shapes)
    _check_graph(graph, "traced")
    optimized = graph.copy()
    ctx = PassContext(fuse=fuse, target="cpu", options=dict(options))
    PassManager(default_pipeline(ctx), ctx).run(optimized)
    _check_graph(optimized, "optimized")
    program = lower_program(optimized, name=graph.name)
    return graph, optimized, program, CPUTarget().build_module(program)


def export(fn, example_args, path: str, name: str | None = None, *, header: str | None = None,
           fuse: bool | None = None, target: str | None = None, dynamic=None, shapes=None,
           **options) -> ExportedLibrary:
    """Compile ``fn`` for ``example_args`` (a tuple of arguments: arrays, gc.TensorSpecs,
    Python scalars, nested tuples/lists/dicts) into the shared library ``path`` and its
    header (``<dir>/<name>.h`` unless ``header`` is given). ``fn`` may be a gc.compile result.

    ``dynamic="batch"`` / ``shapes=`` (as for gc.compile, or taken from a gc.compile result):
    symbolic dimensions; the C functions then take their sizes first, e.g.
    ``int mlp_run(int64_t batch, const float* in0, float* out0)``."""
    from .symbolic import SymbolicSpec

    spec = getattr(fn, "symbolic", None)
    if dynamic is not None or shapes is not None:
        spec = SymbolicSpec(getattr(fn, "python_function", fn), dynamic, shapes)
    pyfn = getattr(fn, "python_function", fn)
    target = target or getattr(fn, "target", "cpu")
    fuse = fuse if fuse is not None else getattr(fn, "fuse", True)
    options = {**getattr(fn, "options", {}), **options}
    if target != "cpu":
        raise ExportError(f"export supports target='cpu' only (got {target!r}); CUDA code cannot be exported yet")
    if name is None:
        name = _name_from_path(path)
    if not _IDENT.match(name or ""):
        raise ExportError(f"library name {name!r} must be a C identifier (it prefixes every API function)")
    if not isinstance(example_args, tuple):
        example_args = (example_args,)
    cc = native.find_c_compiler()
    if cc is None:
        raise ExportError("no C compiler found (set CC, or install cc/gcc/clang); it links the shared library")

    leaves, in_tree = flatten(example_args)
    leaves = [_example_leaf(x, k) for k, x in enumerate(leaves)]
    args = unflatten(in_tree, leaves)
    leaf_shapes = None
    if spec is not None:
        leaf_shapes = spec.leaf_shapes(args, leaves, lambda x: np.shape(x) if isinstance(
            x, (np.ndarray, np.generic)) else None)
    graph, optimized, program, module = _lower(pyfn, args, fuse, options, leaf_shapes)
    return _build(name, pyfn, leaves, graph, optimized, program, module, cc, path,
                  header or os.path.join(os.path.dirname(path), f"{name}.h"))


def _signature(name, pyfn, leaves, graph, optimized, program):
    try:
        params = [p.name for p in inspect.signature(pyfn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    in_paths = _leaf_paths(graph.in_tree, "args", params)
    out_paths = _leaf_paths(optimized.out_tree, "result")
    array_leaves = [k for k, x in enumerate(leaves) if isinstance(x, (np.ndarray, np.generic))]
    inputs = [cgen.Tensor(in_paths[k], tuple(b.shape), b.dtype) for k, b in zip(array_leaves, program.inputs)]
    outputs = [cgen.Tensor(p, tuple(b.shape), b.dtype) for p, b in zip(out_paths, program.outputs)]
    variables = []
    for k, (var, vname) in enumerate(zip(program.variables, _unique_names(program.variables))):
        value = np.asarray(var.numpy(), order="C")
        variables.append((cgen.Var(f"variable {vname!r}", tuple(value.shape), var.dtype, name=vname,
                                   symbol=f"graphc_state_{name}_{k}", nbytes=value.nbytes), value))
    meta = {"format": 1, "name": name, "function": getattr(pyfn, "__name__", "main"),
            "cpu": ":".join(_host_cpu()),
            "in_tree": _tree_json(graph.in_tree), "out_tree": _tree_json(optimized.out_tree),
            "static_args": [[k, x] for k, x in enumerate(leaves) if k not in array_leaves],
            "inputs": [{"label": t.label, "shape": list(t.shape), "dtype": t.dtype} for t in inputs],
            "outputs": [{"label": t.label, "shape": list(t.shape), "dtype": t.dtype} for t in outputs],
            "variables": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype} for v, _ in variables],
            "workspace_bytes": program.workspace_bytes, "kernels": len(program.kernels),
            "symbols": _base_symbols(program)}
    return inputs, outputs, variables, meta


def _base_symbols(program) -> list:
    """The symbols the C API takes (program.symbols less the derived products such as
    64*batch, which the glue computes from them, see _export_c.glue)."""
    from .symbolic import is_derived

    return [s for s in program.symbols if not is_derived(s)]


def _layout_data(program) -> dict:
    """The workspace layout of a symbolic program as data for the C glue (_export_c._layout_c)."""
    lay = program.layout
    if lay is None:
        return {}
    if lay.nested or any(b.type is not None for b in lay.values):
        raise ExportError("gc.export of control flow (scan, cond, while_loop) with symbolic dimensions is not "
                          "supported yet: its workspace is not a product of the symbols (export with static shapes)")
    values = []
    for b in sorted(lay.values, key=lambda x: lay.first.get(x.vid, 0)):
        if b.vid not in lay.first or b.vid in lay.alias_to:
            continue
        base = _base_symbols(program)
        pows = [0] * len(base)
        static = b.nbytes if b.nbytes is not None else np.dtype(b.dtype).itemsize
        if b.nbytes is None:
            from .symbolic import factors

            for d in b.shape:  # a product such as 64*batch: its factor and a power of each symbol
                k, syms = factors(d)
                static *= k
                for sym in syms:
                    pows[base.index(sym)] += 1
        values.append([b.vid, lay.first[b.vid], lay.last[b.vid], int(static), pows])
    alias = []
    for vid, src in lay.alias_to.items():
        while src in lay.alias_to:
            src = lay.alias_to[src]
        alias.append((vid, src))
    return {"values": values, "alias": alias, "count": len(lay.values)}


def _host_cpu():
    from .codegen.llvm_cpu import host_cpu

    return host_cpu()


def _build(name, pyfn, leaves, graph, optimized, program, module, cc, path, header_path):
    import llvmlite.binding as llvm

    from .codegen.llvm_cpu import ENTRY_NAME, init_llvm

    inputs, outputs, variables, meta = _signature(name, pyfn, leaves, graph, optimized, program)
    init_llvm()
    tm = native.pic_target_machine()
    entry = f"graphc_entry_{name}"
    with tempfile.TemporaryDirectory(prefix="graphc_export_") as tmp:
        mod = llvm.parse_assembly(str(module))
        mod.get_function(ENTRY_NAME).name = entry
        mod = native.compile_object(mod, tm, os.path.join(tmp, "kernels.o"), f"function {name}")
        defined = {f.name for f in mod.functions if not f.is_declaration}
        runtime = native.resolve_runtime(native.undefined_symbols(mod) - defined, f"the code of {name}")
        objects = ["kernels.o"]
        for rt_name, emit in runtime:
            native.runtime_object(rt_name, emit, tm, os.path.join(tmp, f"runtime_{rt_name}.o"))
            objects.append(f"runtime_{rt_name}.o")
        state = native.state_module([(v.symbol, value.tobytes()) for v, value in variables], tm.triple)
        native.compile_object(state, tm, os.path.join(tmp, "state.o"), "variable storage")
        objects.append("state.o")
        meta["runtime_modules"] = [r for r, _ in runtime]
        api = cgen.Api(name, entry, inputs, outputs, [v for v, _ in variables], program.workspace_bytes,
                       json.dumps(meta), multithreaded=any(r == "threadpool" for r, _ in runtime),
                       notes=[f"exported from {meta['function']} for CPU {meta['cpu'].split(':')[0]}"],
                       symbols=_base_symbols(program), layout=_layout_data(program),
                       derived=[d for d in program.symbols if d not in _base_symbols(program)])
        files = {f"{name}.h": cgen.header(api), "glue.c": cgen.glue(api), "exports.map": cgen.version_script(api)}
        for fname, text in files.items():
            with open(os.path.join(tmp, fname), "w") as fh:
                fh.write(text)
        native.link_shared(cc, "lib.so", ["glue.c"], objects, "exports.map", tmp)
        native.check_dependencies(os.path.join(tmp, "lib.so"))
        _install([(os.path.join(tmp, "lib.so"), path), (os.path.join(tmp, f"{name}.h"), header_path)])
    return ExportedLibrary(name, os.path.abspath(path), os.path.abspath(header_path), meta)


def _install(pairs):
    """Copy each built file ``src`` to ``dst``: all are staged next to their destination
    first, then renamed into place (atomic: a process that has the old library mapped
    keeps its old inode). Any failure removes every staged file and raises ExportError,
    so a failed export leaves no temporary file behind."""
    for _, dst in pairs:
        if os.path.isdir(dst):
            raise ExportError(f"cannot write {dst}: it is a directory")
    staged = []
    try:
        for src, dst in pairs:
            d = os.path.dirname(os.path.abspath(dst))
            os.makedirs(d, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".graphc_tmp_")
            os.close(fd)
            staged.append(tmp)
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o755 if dst.endswith(".so") or ".so." in dst else 0o644)
        for tmp, (_, dst) in zip(list(staged), pairs):
            os.replace(tmp, dst)
            staged.remove(tmp)
    except OSError as e:
        raise ExportError(f"cannot write {e.filename or dst}: {e.strerror or e}") from None
    finally:
        for tmp in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def _name_from_path(path: str) -> str:
    base = os.path.basename(path)
    base = base.split(".so")[0] if ".so" in base else os.path.splitext(base)[0]
    return base[3:] if base.startswith("lib") else base


# -- load_library ------------------------------------------------------------------------------

class Library:
    """An exported library called from Python through ctypes (no LLVM involved)."""

    def __init__(self, path: str, name: str):
        self.path, self.name = path, name
        self._lib = _open(path)
        try:
            meta_fn = getattr(self._lib, f"{name}_metadata")
        except AttributeError:
            raise ExportError(f"{path} has no {name}_metadata(); pass name= (the name given to gc.export)") from None
        meta_fn.restype = ctypes.c_char_p
        self.metadata = json.loads(meta_fn().decode())
        self._in_tree = _tree_from_json(self.metadata["in_tree"])
        self._out_tree = _tree_from_json(self.metadata["out_tree"])
        self._static = {k: v for k, v in self.metadata["static_args"]}
        self.inputs = [(tuple(t["shape"]), t["dtype"]) for t in self.metadata["inputs"]]
        self.outputs = [(tuple(t["shape"]), t["dtype"]) for t in self.metadata["outputs"]]
        self.variables = {v["name"]: (tuple(v["shape"]), v["dtype"]) for v in self.metadata["variables"]}
        self.symbols = list(self.metadata.get("symbols", []))
        f = self._fn
        if self.symbols:
            f("run_args", ctypes.c_int, [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p),
                                         ctypes.POINTER(ctypes.c_void_p)])
        else:
            f("run_args", ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)])
        f("get_variable", ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t])
        f("set_variable", ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t])
        f("last_error", ctypes.c_char_p, [])
        if "threadpool" in self.metadata.get("runtime_modules", []):
            f("set_num_threads", None, [ctypes.c_int])
            f("get_num_threads", ctypes.c_int, [])

    def _fn(self, suffix, restype, argtypes):
        fn = getattr(self._lib, f"{self.name}_{suffix}")
        fn.restype, fn.argtypes = restype, argtypes
        setattr(self, f"_c_{suffix}", fn)

    def _check(self, rc, what):
        if rc != 0:
            from ._runtime.executable import RuntimeFailure

            raise RuntimeFailure(f"{self.name}_{what} failed with code {rc}: {self._c_last_error().decode()}")

    def __call__(self, *args):
        leaves, tree = flatten(args)
        if tree != self._in_tree:
            raise TypeError(f"{self.name} was exported for arguments shaped like {self._in_tree}, got {tree}")
        arrays = []
        binding = {}
        for k, x in enumerate(leaves):
            if k in self._static:
                if type(x) is not type(self._static[k]) or x != self._static[k]:
                    raise TypeError(f"argument leaf {k} was fixed to {self._static[k]!r} at export, got {x!r}")
                continue
            shape, dtype = self.inputs[len(arrays)]
            if self.symbols and isinstance(x, (np.ndarray, np.generic)) and np.ndim(x) == len(shape):
                for d, n in zip(shape, np.shape(x)):  # bind the symbols (equal names must agree)
                    if isinstance(d, str) and binding.setdefault(d, n) != n:
                        raise TypeError(f"input {len(arrays)}: symbolic dimension {d!r} is {n}, "
                                        f"but {binding[d]} in an earlier input")
                shape = tuple(binding[d] if isinstance(d, str) else d for d in shape)
            if not isinstance(x, (np.ndarray, np.generic)) or x.shape != shape or np.asarray(x).dtype.name != dtype:
                got = f"{np.asarray(x).dtype.name}{list(np.shape(x))}" if isinstance(x, (np.ndarray, np.generic)) \
                    else type(x).__name__
                raise TypeError(f"input {len(arrays)}: expected {dtype}{list(shape)}, got {got}")
            arrays.append(np.asarray(x, dtype=np.dtype(dtype), order="C"))  # native byte order; 0-d stays 0-d
        from ._runtime.buffers import aligned_empty

        from .symbolic import evaluate

        outs = [aligned_empty(tuple(evaluate(d, binding) for d in shape), dtype)
                for shape, dtype in self.outputs]
        ins = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        outp = (ctypes.c_void_p * max(len(outs), 1))(*[o.ctypes.data for o in outs])
        if self.symbols:
            sizes = (ctypes.c_int64 * len(self.symbols))(*[binding[s] for s in self.symbols])
            self._check(self._c_run_args(sizes, ins, outp), "run")
        else:
            self._check(self._c_run_args(ins, outp), "run")
        return unflatten(self._out_tree, outs)

    def get_variable(self, name: str) -> np.ndarray:
        if name not in self.variables:
            raise KeyError(f"{self.name} has no variable {name!r} (has: {', '.join(self.variables)})")
        shape, dtype = self.variables[name]
        out = np.empty(shape, dtype)
        self._check(self._c_get_variable(name.encode(), out.ctypes.data, out.nbytes), "get_variable")
        return out

    def set_variable(self, name: str, value) -> None:
        if name not in self.variables:
            raise KeyError(f"{self.name} has no variable {name!r} (has: {', '.join(self.variables)})")
        shape, dtype = self.variables[name]
        value = np.asarray(value)
        if value.shape != shape:
            raise ValueError(f"variable {name!r} has shape {shape}, got {value.shape}")
        value = np.asarray(value, dtype=dtype, order="C")
        self._check(self._c_set_variable(name.encode(), value.ctypes.data, value.nbytes), "set_variable")

    def set_num_threads(self, n: int) -> None:
        if not hasattr(self, "_c_set_num_threads"):
            raise ExportError(f"{self.name} runs single-threaded (its code uses no thread pool)")
        self._c_set_num_threads(n)

    def __repr__(self):
        return f"<graphc.Library {self.name} from {self.path}>"


_handles: dict = {}   # (path, file identity) -> CDLL


def _open(path: str) -> ctypes.CDLL:
    """dlopen once per file version. The dynamic loader hands back the library already
    loaded under a path even after the file was replaced (re-exported), so a newer file
    at a path seen before is opened through a private copy. Same version: same handle,
    hence the same variables."""
    st = os.stat(path)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    lib = _handles.get(key)
    if lib is not None:
        return lib
    native.check_loadable(path)  # a truncated file would kill the process with SIGBUS
    if any(k[0] == path for k in _handles):
        with tempfile.TemporaryDirectory(prefix="graphc_lib_") as d:
            copy = os.path.join(d, os.path.basename(path))
            shutil.copyfile(path, copy)
            lib = ctypes.CDLL(copy)   # the mapping outlives the deleted copy
    else:
        lib = ctypes.CDLL(path)
    _handles[key] = lib
    return lib


def load_library(path: str, name: str | None = None) -> Library:
    """Open an exported library; ``name`` defaults to the file name without lib/.so."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return Library(path, name or _name_from_path(path))
