"""Train/validation split of one image folder, bit-compatible with the authors' code.

What the original does (``data/dataset.py``: ``load_normal_data`` -> ``split_data`` ->
``shuffle_two_array``), for every folder separately:

1. ``sorted(glob(folder + "/*.*"))``: the file list sorted as Python strings;
2. ``split_data(images, images, ...)`` passes the *same list object* twice to
   ``shuffle_two_array(a, b, seed)``, which does ``np.random.seed(seed); np.random.shuffle(a)``,
   restores the previous global state, then ``np.random.seed(seed); np.random.shuffle(b)``.
   Since ``a is b``, the one list is shuffled twice, each time from numpy's legacy global RNG
   freshly seeded with ``seed`` (the dataset's default, 2021);
3. the first ``int(n * (1 - val_split))`` files are train, the rest validation.

The RNG is numpy's legacy Mersenne Twister (``np.random.seed`` / ``np.random.shuffle``), not
Python's ``random``. ``np.random.RandomState(seed).shuffle`` draws the same numbers without
touching numpy's global state, and numpy keeps that stream stable across versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def shuffled_twice(items: Sequence[str], seed: int = 2021) -> list[str]:
    """Sort, then shuffle twice in place, reseeding numpy's legacy RNG with ``seed`` before each."""
    order = sorted(items)
    for _ in range(2):
        np.random.RandomState(seed).shuffle(order)
    return order


def split_folder(paths: Sequence[str], val_fraction: float = 0.1, seed: int = 2021) -> tuple[list[str], list[str]]:
    """Split the files of one folder into ``(train, val)`` the way the authors' loader does.

    ``paths`` must be the files of one folder (one generator, one label, one split); their order
    does not matter, they are sorted first. Sort order equals the authors' (full paths sharing one
    folder prefix sort like their file names).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    order = shuffled_twice(paths, seed)
    n_train = int(len(order) * (1 - val_fraction))
    return order[:n_train], order[n_train:]
