"""The authors' per-folder split: sort, numpy-legacy shuffle twice (reseeded 2021 each time), 90/10.

Expected lists were produced once by an independent snippet that copies the authors' calls
(global numpy API, the same list object shuffled twice), not by drct code:

    a = sorted(files)
    state = np.random.get_state(); np.random.seed(2021); np.random.shuffle(a)
    np.random.set_state(state); np.random.seed(2021); np.random.shuffle(a)
    n = int(len(a) * (1 - 0.1)); train, val = a[:n], a[n:]
"""

from __future__ import annotations

import random

import numpy as np

from drct.training.split import split_folder

FILES_25 = [f"{i:03d}.jpg" for i in range(25)]
TRAIN_25 = [
    "021.jpg", "017.jpg", "014.jpg", "009.jpg", "002.jpg", "022.jpg", "019.jpg", "004.jpg",
    "000.jpg", "010.jpg", "005.jpg", "024.jpg", "001.jpg", "003.jpg", "008.jpg", "016.jpg",
    "018.jpg", "006.jpg", "011.jpg", "020.jpg", "015.jpg", "007.jpg",
]
VAL_25 = ["023.jpg", "013.jpg", "012.jpg"]


def test_split_of_25_files_matches_authors_snippet() -> None:
    shuffled_input = list(FILES_25)
    random.Random(7).shuffle(shuffled_input)  # input order must not matter: the folder is sorted first
    train, val = split_folder(shuffled_input, val_fraction=0.1, seed=2021)
    assert train == TRAIN_25
    assert val == VAL_25


def test_ten_files_double_shuffle_is_identity() -> None:
    # With 10 files and seed 2021 numpy's permutation is an involution, so shuffling twice gives
    # the sorted order back: int(10 * 0.9) = 9 train files, the last sorted file is validation.
    files = [f"img_{i:02d}.png" for i in range(10)]
    train, val = split_folder(list(reversed(files)), 0.1, 2021)
    assert train == files[:9]
    assert val == ["img_09.png"]


def test_split_leaves_global_numpy_state_alone() -> None:
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    split_folder(FILES_25)
    assert np.random.rand() == expected
