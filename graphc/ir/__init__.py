"""The IR: a graph of nodes, each producing one tensor of a static type."""
from .types import TensorType, TupleType
from .graph import Node, Graph
from .printer import format_graph
from .verifier import verify

__all__ = ["TensorType", "TupleType", "Node", "Graph", "format_graph", "verify"]
