"""tf.nn.rnn_cell / tf.contrib.rnn: the cell classes (see rnn.py)."""
from .rnn import (BasicLSTMCell, BasicRNNCell, DropoutWrapper, GRUCell, LSTMCell, MultiRNNCell,  # noqa: F401
                  OutputProjectionWrapper, RNNCell, dynamic_rnn, static_rnn)
from graphc.rnn import LSTMStateTuple  # noqa: F401
