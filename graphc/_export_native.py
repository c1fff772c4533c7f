"""Native half of gc.export: LLVM objects, graphc runtime modules, the C link, ELF checks.

Why a separate module: export.py decides *what* goes into a library (signature, state,
metadata); this file only knows how to turn llvmlite modules plus C glue into a
position-independent shared library that needs nothing but libc/libm/libpthread.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import struct
import subprocess

import llvmlite.binding as llvm
from llvmlite import ir

from .errors import ExportError

# -- graphc runtime modules -----------------------------------------------------------------
# A generated module may *declare* graphc runtime functions (the thread pool today); the
# library must then carry one definition. Each entry: (name, symbols it defines, emitter).


def _threadpool_provider():
    from .codegen import threadpool

    symbols = set(threadpool.declare_threadpool(ir.Module("probe")).keys())
    return "threadpool", symbols, threadpool.emit_threadpool


def _gemm_provider():
    from .codegen import gemm_runtime

    return "gemm", {n for d in gemm_runtime.DTYPES for n in gemm_runtime.exported(d)}, gemm_runtime.emit_gemm_runtime


RUNTIME_PROVIDERS = [_threadpool_provider, _gemm_provider]

_SYSTEM_LIBS = ("c", "m", "pthread")
_system_handles = None


def _system_libraries():
    """ctypes handles of libc, libm and libpthread (the only libraries a library may need)."""
    global _system_handles
    if _system_handles is None:
        handles = []
        for lib in _SYSTEM_LIBS:
            path = ctypes.util.find_library(lib)
            if path:
                handles.append(ctypes.CDLL(path))
        _system_handles = handles
    return _system_handles


def is_system_symbol(name: str) -> bool:
    return any(hasattr(h, name) for h in _system_libraries())


def undefined_symbols(mod: llvm.ModuleRef) -> set:
    """Functions and globals the module uses but does not define (LLVM intrinsics excluded)."""
    out = set()
    for f in mod.functions:
        if f.is_declaration and not f.name.startswith("llvm."):
            out.add(f.name)
    for g in mod.global_variables:
        if g.is_declaration:
            out.add(g.name)
    return out


def resolve_runtime(undefined: set, what: str) -> list:
    """Runtime modules (name, emitter) that define ``undefined``; ExportError for the rest."""
    needed, left = [], set(undefined)
    for make in RUNTIME_PROVIDERS:
        name, symbols, emit = make()
        if left & symbols:
            needed.append((name, emit))
            left -= symbols
    unknown = sorted(s for s in left if not is_system_symbol(s))
    if unknown:
        raise ExportError(f"{what} calls {', '.join(unknown)}, which neither a graphc runtime module nor "
                          f"libc/libm/libpthread defines; a standalone library cannot resolve it")
    return needed


# -- objects ----------------------------------------------------------------------------------

def pic_target_machine():
    """Host (or GRAPHC_CPU) target machine with position-independent code for a .so."""
    from .codegen import llvm_cpu

    return llvm_cpu.target_machine(reloc="pic")


def compile_object(module, tm, path: str, what: str) -> llvm.ModuleRef:
    """Parse, verify, optimize (the JIT's O3 pipeline) and write ``module`` as an object."""
    from .codegen import llvm_cpu

    llvm_cpu.init_llvm()
    try:
        mod = llvm.parse_assembly(str(module)) if isinstance(module, ir.Module) else module
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
    except RuntimeError as e:
        raise ExportError(f"{what}: generated LLVM IR is invalid: {e}") from None
    llvm_cpu.optimize(mod, tm)
    with open(path, "wb") as fh:
        fh.write(tm.emit_object(mod))
    return mod


def runtime_object(name: str, emit, tm, path: str) -> None:
    """Emit one graphc runtime module (e.g. the thread pool) as its own object."""
    mod = ir.Module(name=f"graphc_runtime_{name}")
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    emit(mod)
    ref = compile_object(mod, tm, path, f"runtime module {name}")
    resolve_runtime(undefined_symbols(ref) - _defined(ref), f"runtime module {name}")


def _defined(mod) -> set:
    return {f.name for f in mod.functions if not f.is_declaration}


def state_module(symbols_and_bytes, triple: str) -> ir.Module:
    """Variable storage: one writable, 64-byte aligned global per variable, holding its
    export-time value (bytes, so NaNs and signed zeros survive exactly)."""
    mod = ir.Module(name="graphc_state")
    mod.triple = triple
    for symbol, data in symbols_and_bytes:
        data = bytes(data) or b"\0"
        ty = ir.ArrayType(ir.IntType(8), len(data))
        g = ir.GlobalVariable(mod, ty, name=symbol)
        g.initializer = ir.Constant(ty, bytearray(data))
        g.align = 64
    return mod


# -- linking ----------------------------------------------------------------------------------

def find_c_compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc and shutil.which(cc):
        return shutil.which(cc)
    for cand in ("cc", "gcc", "clang"):
        if shutil.which(cand):
            return shutil.which(cand)
    return None


def link_shared(cc: str, out: str, c_sources: list, objects: list, version_script: str, cwd: str) -> None:
    """cc -shared: glue + objects -> .so; only the API symbols stay exported, and any
    symbol outside libc/libm/libpthread fails the link (--no-undefined)."""
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=gnu11", "-o", out, *c_sources, *objects,
           f"-Wl,--version-script={version_script}", "-Wl,--no-undefined", "-lm", "-lpthread"]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ExportError(f"linking the shared library failed ({' '.join(cmd)}):\n{r.stderr.strip()}")


# -- ELF dynamic section ----------------------------------------------------------------------

def needed_libraries(path: str) -> list:
    """DT_NEEDED entries of an ELF shared object (what `ldd` starts from), read directly."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b"\x7fELF":
        raise ExportError(f"{path} is not an ELF file")
    bits64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    if bits64:
        shoff, = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
        sh_fmt, dyn_fmt = endian + "IIQQQQIIQQ", endian + "qQ"
    else:
        shoff, = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
        sh_fmt, dyn_fmt = endian + "IIIIIIIIII", endian + "iI"
    sections = [struct.unpack_from(sh_fmt, data, shoff + k * shentsize) for k in range(shnum)]
    out = []
    for sh in sections:
        if sh[1] != 6:  # SHT_DYNAMIC
            continue
        offset, size, link = sh[4], sh[5], sh[6]
        strtab_off = sections[link][4]
        step = struct.calcsize(dyn_fmt)
        for pos in range(offset, offset + size, step):
            tag, val = struct.unpack_from(dyn_fmt, data, pos)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab_off + val)
                out.append(data[strtab_off + val:end].decode())
    return out


_ALLOWED_NEEDED = ("libc.so", "libm.so", "libpthread.so", "ld-linux", "ld64.so")


def check_dependencies(path: str) -> list:
    needed = needed_libraries(path)
    bad = [n for n in needed if not n.startswith(_ALLOWED_NEEDED)]
    if bad:
        raise ExportError(f"exported library would depend on {', '.join(bad)}; only libc/libm/libpthread are allowed")
    return needed


# -- checking a library before dlopen ---------------------------------------------------------

# ELF e_machine of the CPUs a library may have been exported for, by platform.machine().
_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "ppc64le": 21, "riscv64": 243}


def check_loadable(path: str) -> None:
    """Check that ``path`` is a complete ELF shared object for this machine before it is
    dlopen'ed: the loader maps segments straight from the file, so a truncated file
    makes the process die of SIGBUS on first touch instead of raising."""
    import platform
    import sys

    size = os.path.getsize(path)

    def bad(what):
        return ExportError(f"cannot load {path}: {what}")

    with open(path, "rb") as fh:
        ident = fh.read(64)
    if len(ident) < 16 or ident[:4] != b"\x7fELF":
        raise bad(f"not an ELF shared library ({size} bytes{', empty' if size == 0 else ''})")
    if ident[4] != 2:
        raise bad("a 32-bit ELF file; exported libraries are 64-bit")
    endian = "<" if ident[5] == 1 else ">"
    if (endian == "<") != (sys.byteorder == "little"):
        raise bad("an ELF file of the other byte order")
    if len(ident) < 64:
        raise bad(f"truncated: {size} bytes, shorter than an ELF header")
    e_type, e_machine = struct.unpack_from(endian + "HH", ident, 16)
    phoff, shoff = struct.unpack_from(endian + "QQ", ident, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(endian + "HHHH", ident, 0x36)
    if e_type != 3:  # ET_DYN
        raise bad(f"not a shared library (ELF type {e_type})")
    expected = _ELF_MACHINES.get(platform.machine().lower())
    if expected is not None and e_machine != expected:
        raise bad(f"built for ELF machine {e_machine}, this is {platform.machine()} ({expected})")
    if phnum == 0 or phentsize < 56 or phoff + phnum * phentsize > size:
        raise bad(f"truncated: its {phnum} program headers end past the file's {size} bytes")
    if shnum and shoff + shnum * shentsize > size:
        raise bad(f"truncated: its section headers end at byte {shoff + shnum * shentsize}, "
                  f"the file has {size} bytes")
    with open(path, "rb") as fh:
        fh.seek(phoff)
        table = fh.read(phnum * phentsize)
    for k in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(endian + "IIQQQQ", table, k * phentsize)
        if p_type == 1 and p_offset + p_filesz > size:  # PT_LOAD
            raise bad(f"truncated: segment {k} needs bytes {p_offset}..{p_offset + p_filesz}, "
                      f"the file has {size}")
