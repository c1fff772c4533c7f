"""The CPU model: what the code generator knows about the CPU it generates code for.

Every CPU tuning decision (vector width, GEMM micro-kernel shape and cache blocking,
whether math may use fused multiply-add, how many threads) reads a ``CPUModel``
instead of a constant tuned on one chip.  The model comes from the host
(``llvm.get_host_cpu_name()`` / features) or from ``GRAPHC_CPU=name[:features]``.

What the ISA can do (widest vector, FMA, vector rounding) is *asked of LLVM*: a few
tiny functions are compiled for the (name, features) target and their assembly is
inspected.  That works for any CPU name LLVM knows, with or without a feature string,
without a hand-kept table of CPU names.

Vector width rule: use the widest vectors the ISA has.  LLVM's own default on many
AVX-512 Intel CPUs (Skylake-X ... Sapphire Rapids) is to prefer 256-bit vectors in the
loop vectorizer (its "prefer-256-bit" tuning, against the clock throttling of early
AVX-512 parts); measured on a Sapphire Rapids class host, 512-bit vectors run the
transcendental-heavy elementwise chain faster (figures in ``vector_width_rule``), so
the model adds ``-prefer-256-bit`` to the features and LLVM then vectorizes loops at
the same width as the explicit GEMM vectors.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

KiB = 1024
MiB = 1024 * KiB

# Cache sizes assumed when the OS does not say (a typical desktop core).
DEFAULT_L1D = 32 * KiB
DEFAULT_L2 = 512 * KiB
DEFAULT_L3 = 8 * MiB
# A core's share of the last-level cache that blocking may count on.  Virtual machines
# report odd values (a KVM guest here claims a 480 MiB L3 shared by 2 CPUs); no
# real core has more than a few MiB of L3 to itself.
MAX_L3_PER_CORE = 8 * MiB


@dataclass(frozen=True)
class CPUModel:
    """One code generation target.  Sizes in bytes; widths in bits."""

    name: str                 # LLVM CPU name (e.g. "haswell", "x86-64", "sapphirerapids")
    features: str             # LLVM feature string given to the target machine
    arch: str                 # "x86_64", "aarch64", ...
    vector_bits: int          # float32 vector width code is generated for (explicit and loop-vectorized)
    max_vector_bits: int      # widest vectors the ISA has
    vector_registers: int     # architectural SIMD registers (16 for SSE/AVX2, 32 for AVX-512/NEON)
    has_fma: bool             # fused multiply-add in hardware (else llvm.fma would be a libm call)
    has_vector_round: bool    # rint/floor are instructions (SSE4.1+/NEON), else libm calls
    fma_latency: int          # cycles, default per family
    fma_ports: int            # FMA (or multiply) instructions issued per cycle
    l1d: int
    l2: int
    l3: int                   # total last-level cache as the OS reports it (0: none)
    l3_sharers: int           # CPUs sharing that L3
    cores: int                # CPUs this process may run on (os.sched_getaffinity)
    has_half_convert: bool = True  # float16 <-> float32 are instructions (F16C/NEON), else libcalls
    source: str = field(default="host", compare=False)  # "host" or "GRAPHC_CPU"

    # -- derived ----------------------------------------------------------------------
    def lanes(self, dtype: str = "float32") -> int:
        """Elements per vector register for ``dtype`` (float32 / float64)."""
        return max(1, self.vector_bits // (64 if dtype == "float64" else 32))

    @property
    def l3_per_core(self) -> int:
        """The L3 a single core may count on for blocking (clamped; see MAX_L3_PER_CORE)."""
        if self.l3 <= 0:
            return max(self.l2, 2 * MiB)
        share = self.l3 // max(1, self.l3_sharers)
        return max(self.l2, min(share, MAX_L3_PER_CORE))

    @property
    def fma_accumulators(self) -> int:
        """Independent multiply-add chains needed to keep every FMA port busy."""
        return self.fma_latency * self.fma_ports

    @property
    def peak_flops_per_cycle(self) -> int:
        """float32 flops per cycle per core at ``vector_bits`` (2 per FMA lane)."""
        return 2 * self.lanes("float32") * self.fma_ports

    def __str__(self) -> str:
        def size(n):
            return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB} KiB"

        feats = self.features if len(self.features) <= 60 else self.features[:57] + "..."
        return "\n".join([
            f"CPU model ({self.source}): {self.name} [{self.arch}]",
            f"  features        : {feats or '(CPU defaults)'}",
            f"  vectors         : {self.vector_bits}-bit for codegen (ISA max {self.max_vector_bits}), "
            f"{self.lanes('float32')} x f32 / {self.lanes('float64')} x f64, {self.vector_registers} registers",
            f"  FMA             : {'yes' if self.has_fma else 'no (separate multiply and add)'}, "
            f"latency {self.fma_latency}, {self.fma_ports} per cycle",
            f"  vector rounding : {'yes' if self.has_vector_round else 'no (emulated)'}",
            f"  half conversion : {'yes' if self.has_half_convert else 'no (integer code)'}",
            f"  caches          : L1d {size(self.l1d)}, L2 {size(self.l2)}, "
            f"L3 {size(self.l3) if self.l3 else 'none'} shared by {self.l3_sharers} "
            f"(blocking uses {size(self.l3_per_core)} per core)",
            f"  cores           : {self.cores}",
        ])


# -- building a model ---------------------------------------------------------------------

def current_model() -> CPUModel:
    """The model code is generated for now: ``GRAPHC_CPU`` if set, else the host."""
    return _model_for(os.environ.get("GRAPHC_CPU") or "")


def model_for(name: str, features: str = "") -> CPUModel:
    """The model of an explicit LLVM CPU name (and optional feature string), with this
    machine's caches and cores; e.g. ``model_for("haswell")`` to generate AVX2 code."""
    return _model_for(f"{name}:{features}" if features else name)


@functools.lru_cache(maxsize=None)
def _model_for(spec: str) -> CPUModel:
    import llvmlite.binding as llvm

    _init_llvm()
    if spec:
        name, _, user_feats = spec.partition(":")
        source = "GRAPHC_CPU"
    else:
        name, user_feats, source = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(), "host"
    triple = llvm.get_process_triple()
    arch = triple.split("-")[0]
    isa = _probe_isa(triple, name, user_feats)
    features = vector_width_rule(arch, isa, user_feats)
    l1d, l2, l3, sharers = read_caches()
    latency, ports = _fma_timing(name, isa)
    return CPUModel(
        name=name, features=features, arch=arch,
        vector_bits=isa["max_bits"], max_vector_bits=isa["max_bits"],
        vector_registers=isa["registers"], has_fma=isa["fma"], has_vector_round=isa["round"],
        fma_latency=latency, fma_ports=ports,
        l1d=l1d, l2=l2, l3=l3, l3_sharers=sharers, cores=_cores(), has_half_convert=isa["half"],
        source=source)


def vector_width_rule(arch: str, isa: dict, features: str) -> str:
    """The feature string that makes LLVM generate code at the model's vector width.

    On x86 with AVX-512 LLVM's loop vectorizer otherwise prefers 256-bit vectors on
    Intel server parts.  Measured on a Sapphire Rapids class host (KVM, 2 cores,
    alternating runs under load, median ms): the elementwise chain
    ``tanh(x*1.5+0.5)*sigmoid(x)+x*x`` on 4M floats took 12-17 ms with 512-bit
    vectors against 24-25 ms with 256-bit ones, the 4096x1024 row softmax 8-11 ms
    against 10-10.4 ms; the GEMM's explicit 512-bit micro-kernel uses zmm registers
    either way (without a "min-legal-vector-width" attribute LLVM keeps explicit
    vector types whole).  So the widest vectors win and the loop vectorizer is told
    so (``-prefer-256-bit``); a user's explicit ``+prefer-256-bit`` is kept."""
    if arch.startswith("x86") and isa["max_bits"] >= 512 and "prefer-256-bit" not in features:
        return f"{features},-prefer-256-bit" if features else "-prefer-256-bit"
    return features


def _init_llvm():
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()


@functools.lru_cache(maxsize=None)
def _probe_isa(triple: str, name: str, features: str) -> dict:
    """Compile three tiny functions for (name, features) and read the assembly:
    the register file a <16 x float> add lands in (zmm/ymm/xmm), whether a scalar
    llvm.fma becomes an instruction or a call, and whether llvm.floor on <4 x float>
    does."""
    import llvmlite.binding as llvm
    from llvmlite import ir

    mod = ir.Module("graphc_isa_probe")
    mod.triple = triple
    f32 = ir.FloatType()

    def unary(fname, ty, body):
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ir.PointerType()]), fname)
        b = ir.IRBuilder(fn.append_basic_block())
        x = b.load(fn.args[0], typ=ty, align=4)
        b.store(body(b, x), fn.args[0], align=4)
        b.ret_void()

    v16, v4 = ir.VectorType(f32, 16), ir.VectorType(f32, 4)
    fma = ir.Function(mod, ir.FunctionType(f32, [f32] * 3), "llvm.fma.f32")
    floor = ir.Function(mod, ir.FunctionType(v4, [v4]), "llvm.floor.v4f32")
    unary("probe_width", v16, lambda b, x: b.fadd(x, x))
    unary("probe_fma", f32, lambda b, x: b.call(fma, [x, x, x]))
    unary("probe_round", v4, lambda b, x: b.call(floor, [x]))
    unary("probe_half", f32, lambda b, x: b.fpext(b.fptrunc(x, ir.HalfType()), f32))
    tm = llvm.Target.from_triple(triple).create_target_machine(cpu=name, features=features, opt=2)
    asm = tm.emit_assembly(llvm.parse_assembly(str(mod)))
    parts = dict(re.findall(r"^(probe_\w+):(.*?)(?=^probe_\w+:|\Z)", asm, re.M | re.S))
    def calls(text):  # a call instruction, or the libm symbol's address loaded for one
        return bool(re.search(r"^\s*(call\w*|blr?)\s", text, re.M) or re.search(r"\b(fmaf?|floorf?)\b", text))

    x86 = triple.startswith(("x86_64", "i386", "i686"))
    width = parts.get("probe_width", "")
    if x86:
        bits = 512 if "zmm" in width else 256 if "ymm" in width else 128
        registers = 32 if bits >= 512 else 16
    else:  # aarch64 NEON (and other 128-bit SIMD ISAs): 32 registers
        bits, registers = 128, 32
    return {"max_bits": bits, "registers": registers,
            "fma": not calls(parts.get("probe_fma", "")),
            "round": not calls(parts.get("probe_round", "")),
            "half": not re.search(r"hfsf2|sfhf2|\b(call\w*|jmp|blr?)\s", parts.get("probe_half", ""))}


def _fma_timing(name: str, isa: dict) -> tuple[int, int]:
    """(latency, issue ports) of a vector FMA (or multiply) by family.

    Haswell/Broadwell: 5 cycles; Skylake and later Intel, Zen 3+: 4; 2 ports.
    Without FMA the multiply and the add each take a port (latency ~4 + 3 per chain
    step), so the same chain count covers it."""
    if name in ("haswell", "broadwell", "znver1", "znver2"):
        return 5, 2
    return 4, 2


def read_caches(root: str = "/sys/devices/system/cpu/cpu0/cache") -> tuple[int, int, int, int]:
    """(L1d, L2, L3, CPUs sharing L3) in bytes, from sysfs, clamped to sane ranges."""
    l1d, l2, l3, sharers = 0, 0, 0, 1
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.startswith("index"):
            continue
        d = os.path.join(root, entry)
        try:
            level = int(_read(d, "level"))
            kind = _read(d, "type")
            size = _parse_size(_read(d, "size"))
        except (OSError, ValueError):
            continue
        if level == 1 and kind in ("Data", "Unified"):
            l1d = size
        elif level == 2:
            l2 = size
        elif level == 3:
            l3 = size
            try:
                sharers = max(1, _count_cpus(_read(d, "shared_cpu_list")))
            except (OSError, ValueError):
                sharers = 1
    l1d = _clamp(l1d or DEFAULT_L1D, 16 * KiB, 128 * KiB)
    l2 = _clamp(l2 or DEFAULT_L2, 128 * KiB, 8 * MiB)
    l3 = _clamp(l3, 0, 1024 * MiB) if l3 else 0
    return l1d, l2, l3, sharers


def _read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([KMG]?)", text.upper())
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * {"": 1, "K": KiB, "M": MiB, "G": 1024 * MiB}[m.group(2)]


def _count_cpus(cpu_list: str) -> int:
    n = 0
    for part in cpu_list.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi) - int(lo) + 1 if hi else 1
    return n


def _clamp(v, lo, hi):
    return max(lo, min(hi, v))


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_info(print_it: bool = False) -> CPUModel:
    """The CPU model graphc generates code for (``print(gc.cpu_info())`` shows it)."""
    model = current_model()
    if print_it:
        print(model)
    return model
