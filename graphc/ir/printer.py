"""The readable text form of a Graph: one line per node with its type and source line."""
from __future__ import annotations

import numpy as np


def _fmt_attr(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, separator=",").replace("\n", "")
        return f"<{value.dtype}{list(value.shape)}>"
    if hasattr(value, "name") and value.__class__.__name__ == "Variable":
        return f"@{value.name}"
    if isinstance(value, (list, tuple)) and value and all(hasattr(v, "op") for v in value):
        return "[" + ", ".join(f"%{v.id}" for v in value) + "]"
    return repr(value)


def format_node(node, names) -> str:
    args = ", ".join(names[i.id] for i in node.inputs)
    attrs = {k: v for k, v in node.attrs.items() if not k.startswith("_")}
    attr_text = ""
    if attrs:
        attr_text = " {" + ", ".join(f"{k}={_fmt_attr(v)}" for k, v in attrs.items()) + "}"
    dev = f" @{node.device}" if node.device else ""
    return f"  {names[node.id]}: {node.type} = {node.op}({args}){attr_text}{dev}"


def format_graph(graph) -> str:
    names = {n.id: f"%{k}" for k, n in enumerate(graph.nodes)}
    lines = [f"graph {graph.name}({', '.join(names[p.id] + ': ' + str(p.type) for p in graph.params)}) {{"]
    for n in graph.nodes:
        lines.append(format_node(n, names))
    outs = ", ".join(names.get(o.id, "?") for o in graph.outputs)
    lines.append(f"  return ({outs})")
    for var, n in graph.var_updates.items():
        lines.append(f"  assign @{var.name} <- {names.get(n.id, '?')}")
    if getattr(graph, "kernels", None):
        lines.append(f"  // {len(graph.kernels)} kernels:")
        for k in graph.kernels:
            members = ", ".join(f"{names.get(m.id, '?')}:{m.op}" for m in k.members)
            lines.append(f"  //   kernel -> {names.get(k.root.id, '?')} [{members}]")
    lines.append("}")
    return "\n".join(lines)
