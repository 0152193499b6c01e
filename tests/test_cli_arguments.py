"""The argparse types shared by every subcommand (``torchddsp.cli_arguments``).

Bugs caught: a bound off by one (``--refine-steps -1`` accepted, or ``--steps 0`` accepted as a
positive count), a non-number or a float taken as a whole number, ``nan`` accepted as a number.
"""

from __future__ import annotations

import argparse

import pytest

from torchddsp.cli import main
from torchddsp.cli_arguments import finite_float
from torchddsp.cli_arguments import non_negative_int
from torchddsp.cli_arguments import positive_int


@pytest.mark.parametrize(("parse", "text", "value"), [(positive_int, "1", 1), (non_negative_int, "0", 0)])
def test_whole_numbers_at_their_bound(parse, text, value) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "0", ">= 1"),
        (non_negative_int, "-1", ">= 0"),
        (positive_int, "2.5", "whole number"),
        (non_negative_int, "two", "whole number"),
        (finite_float, "nan", "finite"),
    ],
)
def test_out_of_range_or_malformed_values_are_refused(parse, text, message) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_match_refuses_negative_refine_steps(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["match", "in.wav", "--voice", "rich", "--refine-steps", "-1", "-o", "out.wav"])
    assert exit_info.value.code == 2
    assert "--refine-steps" in capsys.readouterr().err
