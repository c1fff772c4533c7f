"""`python -m bench.cold CASE [--quick]`: time the first call of one bench case (trace,
passes, LLVM, load, run) in this fresh process, which bench/peers.py starts with an
empty GRAPHC_CACHE_DIR; prints one JSON line."""
from __future__ import annotations

import json
import sys
import time


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    name = [a for a in argv if not a.startswith("--")][0]
    import graphc as gc

    from .cases import default_cases

    case = next(c for c in default_cases(quick) if c.name == name)
    t0 = time.perf_counter()
    gc.compile(case.fn)(*case.args)
    first = time.perf_counter() - t0
    print(json.dumps({"case": name, "first_call_s": round(first, 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
