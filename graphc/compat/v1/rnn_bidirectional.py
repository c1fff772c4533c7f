"""tf.nn.bidirectional_dynamic_rnn, tf.contrib.rnn.static_bidirectional_rnn, tf.reverse_sequence.

As in TF 1.x: the forward cell runs in scope ``<scope>/fw``, the backward cell in
``<scope>/bw`` (default scope ``bidirectional_rnn``) on the inputs reversed along
time, each example over its own first ``sequence_length`` steps (reverse_sequence),
and its outputs are reversed back, so output t of both directions belongs to input t.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from .array_ops import concat
from .convert import as_operand
from .record import record
from .rnn import dynamic_rnn, static_rnn
from .variables import variable_scope


def _reverse_sequence(x, lengths, seq_axis, batch_axis):
    nd = len(gc.ops.common.shape_of(x))
    seq_axis, batch_axis = seq_axis % nd, batch_axis % nd
    rest = [a for a in range(nd) if a not in (batch_axis, seq_axis)]
    perm = [batch_axis, seq_axis] + rest
    xt = gc.transpose(x, perm) if perm != list(range(nd)) else x
    shape = gc.ops.common.shape_of(xt)
    batch, steps = shape[0], shape[1]
    if lengths is None:
        rev = xt[:, ::-1]
    else:
        t = gc.expand_dims(gc.arange(steps, dtype="int64"), 0)                 # [1, T]
        n = gc.expand_dims(gc.cast(lengths, "int64"), 1)                        # [B, 1]
        src = gc.where(gc.less(t, n), gc.subtract(gc.subtract(n, np.int64(1)), t), t)   # [B, T]
        flat_index = gc.add(src, gc.expand_dims(gc.arange(batch, dtype="int64") * np.int64(steps), 1))
        flat = gc.reshape(xt, (batch * steps,) + tuple(shape[2:]))
        rev = gc.reshape(gc.gather(flat, gc.reshape(flat_index, (-1,)), axis=0), shape)
    if perm == list(range(nd)):
        return rev
    return gc.transpose(rev, list(np.argsort(perm)))


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None, seq_dim=None,  # noqa: A002
                     batch_dim=None):
    """Reverse the first seq_lengths[b] entries along seq_axis of each example b."""
    seq_axis = seq_axis if seq_axis is not None else seq_dim
    batch_axis = batch_axis if batch_axis is not None else (batch_dim if batch_dim is not None else 0)
    if seq_axis is None:
        raise ValueError("reverse_sequence: seq_axis is required")
    return record("ReverseSequence", _reverse_sequence, (as_operand(input), as_operand(seq_lengths), int(seq_axis),
                                                         int(batch_axis)), name=name or "ReverseSequence")


def _reverse(x, lengths, seq_axis, batch_axis):
    if lengths is None:
        return record("ReverseV2", _reverse_sequence, (x, None, seq_axis, batch_axis), name="ReverseV2")
    return reverse_sequence(x, lengths, seq_axis=seq_axis, batch_axis=batch_axis)


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None, initial_state_fw=None,
                              initial_state_bw=None, dtype=None, parallel_iterations=None, swap_memory=False,
                              time_major=False, scope=None):
    """((output_fw, output_bw), (output_state_fw, output_state_bw)), as TF 1.x."""
    inputs = as_operand(inputs)
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = dynamic_rnn(cell_fw, inputs, sequence_length=sequence_length,
                                              initial_state=initial_state_fw, dtype=dtype, time_major=time_major,
                                              scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            reversed_inputs = _reverse(inputs, sequence_length, time_axis, batch_axis)
            tmp, state_bw = dynamic_rnn(cell_bw, reversed_inputs, sequence_length=sequence_length,
                                        initial_state=initial_state_bw, dtype=dtype, time_major=time_major,
                                        scope=bw_scope)
    output_bw = _reverse(tmp, sequence_length, time_axis, batch_axis)
    return (output_fw, output_bw), (state_fw, state_bw)


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None, initial_state_bw=None, dtype=None,
                             sequence_length=None, scope=None):
    """(outputs: list of concat([fw_t, bw_t], 1), output_state_fw, output_state_bw), as TF 1.x."""
    from .array_ops import stack, unstack

    inputs = [as_operand(x) for x in inputs]
    if not inputs:
        raise ValueError("inputs must not be empty")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype, sequence_length,
                                             scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            if sequence_length is None:
                reversed_inputs = inputs[::-1]
            else:
                reversed_inputs = unstack(_reverse(stack(inputs), sequence_length, 0, 1), num=len(inputs))
            tmp, state_bw = static_rnn(cell_bw, reversed_inputs, initial_state_bw, dtype, sequence_length,
                                       scope=bw_scope)
    if sequence_length is None:
        output_bw = tmp[::-1]
    else:
        output_bw = unstack(_reverse(stack(tmp), sequence_length, 0, 1), num=len(tmp))
    outputs = [concat([fw, bw], 1) for fw, bw in zip(output_fw, output_bw)]
    return outputs, state_fw, state_bw
