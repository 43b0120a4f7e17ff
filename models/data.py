"""Datasets: scikit-learn's bundled digits (default) or a local image folder.

``digits``: 1797 8x8 grey images, 10 classes, pixel values 0..16 mapped to [-1, 1], split
once into a fixed stratified 80/20 train/test split (``random_state=0``, independent of
the training seed). An image folder is a directory holding ``train/<class>/*`` and
``test/<class>/*`` (or ``val/``), read by torchvision's ``ImageFolder``, resized to the
model's ``img_size`` and normalised with the ImageNet statistics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from golden.errors import VitsimError

__all__ = ["DataSplit", "load_data", "load_digits_split"]

DIGITS = "digits"
#: Fraction of the digits held out for testing, and the split's fixed seed.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0


@dataclass(frozen=True)
class DataSplit:
    """A train/test pair and the image geometry it needs."""

    name: str  # "digits" or the folder path
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


def _image_folder(path: str, img_size: int, in_chans: int) -> DataSplit:
    from torchvision import datasets, transforms

    if not os.path.isdir(path):
        raise VitsimError(f"{path}: dataset folder not found (or use 'digits')")
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
    """Return ``digits`` or the image folder at path ``spec`` (at ``img_size``)."""
    if spec == DIGITS:
        return load_digits_split()
    return _image_folder(spec, img_size, in_chans)
