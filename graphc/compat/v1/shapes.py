"""TensorShape and Dimension: static shapes with unknown (None) dimensions, as TF 1.x.

Book code does ``int(X.get_shape()[1])`` and ``X.get_shape().as_list()``; these
classes give exactly that behaviour and print as TF does (``(?, 3)``).
"""
from __future__ import annotations


class Dimension:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = None if value is None else int(value)

    def __int__(self):
        if self.value is None:
            raise TypeError("cannot convert an unknown Dimension to an int")
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        other = other.value if isinstance(other, Dimension) else other
        if self.value is None or other is None:
            return None
        return self.value == other

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return f"Dimension({self.value})"

    def __str__(self):
        return "?" if self.value is None else str(self.value)


class TensorShape:
    """A static shape: ``dims`` is None (unknown rank) or a tuple of ints/None."""

    __slots__ = ("dims_",)

    def __init__(self, dims):
        if isinstance(dims, TensorShape):
            dims = dims.dims_
        elif dims is not None:
            if isinstance(dims, (int, Dimension)):
                dims = [dims]
            dims = tuple(None if d is None else (d.value if isinstance(d, Dimension) else int(d)) for d in dims)
        self.dims_ = dims

    @property
    def ndims(self):
        return None if self.dims_ is None else len(self.dims_)

    @property
    def dims(self):
        return None if self.dims_ is None else [Dimension(d) for d in self.dims_]

    def as_list(self):
        if self.dims_ is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape")
        return list(self.dims_)

    def is_fully_defined(self):
        return self.dims_ is not None and all(d is not None for d in self.dims_)

    def is_compatible_with(self, other):
        other = TensorShape(other)
        if self.dims_ is None or other.dims_ is None:
            return True
        return len(self.dims_) == len(other.dims_) and all(
            a is None or b is None or a == b for a, b in zip(self.dims_, other.dims_))

    def num_elements(self):
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self.dims_:
            n *= d
        return n

    def __len__(self):
        if self.dims_ is None:
            raise ValueError("cannot take the length of a shape of unknown rank")
        return len(self.dims_)

    def __iter__(self):
        return iter(self.dims)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return TensorShape(self.dims_[key])
        return Dimension(self.dims_[key])

    def __eq__(self, other):
        try:
            other = TensorShape(other)
        except TypeError:
            return NotImplemented
        return self.dims_ == other.dims_

    def __hash__(self):
        return hash(self.dims_)

    def __repr__(self):
        return f"TensorShape({None if self.dims_ is None else list(self.dims_)})"

    def __str__(self):
        if self.dims_ is None:
            return "<unknown>"
        inner = ", ".join("?" if d is None else str(d) for d in self.dims_)
        return f"({inner},)" if len(self.dims_) == 1 else f"({inner})"

    def tf_text(self):
        """The form TF's error messages use: ``[?,3]``."""
        return "[" + ",".join("?" if d is None else str(d) for d in self.dims_) + "]" if self.dims_ is not None \
            else "<unknown>"
