"""Masking mobile numbers in names (api.names): every common writing of a
mainland mobile number reads 138****5678; nothing else changes."""

from __future__ import annotations

import doctest

import pyarrow as pa
import pytest

from api import names
from api.names import mask_array, mask_phones

MASKED = [
    ("13812345678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("138.1234.5678", "138****5678"),
    ("+86 13812345678", "138****5678"),
    ("+86-138-1234-5678", "138****5678"),
    ("8613812345678", "138****5678"),
    ("0086 13812345678", "138****5678"),
    ("张三13812345678", "张三138****5678"),
    ("张三 199 8765 4321 (VIP)", "张三 199****4321 (VIP)"),
    ("a13812345678b 13912345678", "a138****5678b 139****5678"),
    ("13812345678,13912345678,13712345678", "138****5678,139****5678,137****5678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width, kept so
]
UNCHANGED = [
    "小红",
    "",
    "12812345678",  # 12x is not a mobile prefix
    "1381234567",  # ten digits
    "138123456789",  # twelve
    "2013812345678",  # inside a longer number
    "订单 12345678901",
    "<img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize(("name", "shown"), MASKED)
def test_mobile_numbers_are_masked_in_every_common_writing(name, shown):
    assert mask_phones(name) == shown


@pytest.mark.parametrize("name", UNCHANGED)
def test_other_names_are_left_as_they_are(name):
    assert mask_phones(name) == name


def test_a_column_is_masked_as_each_name_is():
    column = [n for n, _ in MASKED] + UNCHANGED + [None]
    assert mask_array(pa.array(column, pa.string())).to_pylist() == [
        *(s for _, s in MASKED),
        *UNCHANGED,
        None,
    ]
    assert mask_phones(None) is None


def test_the_docstring_examples_hold():
    assert doctest.testmod(names).failed == 0
