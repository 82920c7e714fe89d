"""The optimiser of every charword model: Adam, lazy on embedding tables.

Keras' Adam decays the moments of every row of a table at every step, even when the
batch touched a few hundred of its rows; with the word table, the char n-gram table and
the word-bigram table that dense work is most of a CPU training step. :class:`LazyAdam`
(the lazy Adam of TensorFlow Addons and PyTorch's SparseAdam) updates only the rows a
batch looked up: for them the step is Adam's, and rows the batch did not touch keep their
weights and moments until a batch touches them again. Dense variables take Adam's step
unchanged.
"""
import tensorflow as tf
import tf_keras as keras


class LazyAdam(keras.optimizers.Adam):
    """Adam whose sparse (embedding) updates touch only the rows in the gradient."""

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = (tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step))
                 / (1 - tf.pow(beta_1, step)))
        rows, positions = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(rows)[0])
        key = self._var_key(variable)
        m = self._momentums[self._index_dict[key]]
        v = self._velocities[self._index_dict[key]]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
        return None
