"""The shared split of a shuffled order into training batches."""

import numpy as np
import pytest
import torch

from latal._torch import training_batches


@pytest.mark.parametrize("n, bs, sizes", [(257, 256, [257]), (513, 256, [256, 257]), (512, 256, [256, 256]),
                                          (258, 256, [256, 2]), (1, 256, [1]), (0, 256, [])])
def test_a_lone_last_item_joins_the_batch_before_it(n, bs, sizes):
    order = np.random.default_rng(0).permutation(n)
    parts = training_batches(order, bs)
    assert [len(p) for p in parts] == sizes
    assert np.array_equal(np.concatenate(parts) if parts else order, order)  # every index once, in order


def test_tensors_split_the_same_way():
    parts = training_batches(torch.randperm(101, generator=torch.Generator().manual_seed(0)), 50)
    assert [len(p) for p in parts] == [50, 51] and all(isinstance(p, torch.Tensor) for p in parts)


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        training_batches(np.arange(5), 0)
