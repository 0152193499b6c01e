"""The gin reader: every construct of Magenta's gin files as plain data, anything else refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchddsp.magenta.gin import GinSyntaxError
from torchddsp.magenta.gin import Macro
from torchddsp.magenta.gin import Reference
from torchddsp.magenta.gin import parse_gin
from torchddsp.magenta.gin import read_gin

OPERATIVE = (
    Path(__file__).resolve().parents[1] / "data" / "magenta" / "convert" / "solo_small" / "operative_config-0.gin"
)


def test_literals():
    config = parse_gin(
        """
        A.int = -3
        A.float = 2.5e-3
        A.dot = .5
        A.flags = [True, False, None]
        A.text = 'it''s' "#not a comment" 'x\\ty'
        A.one = (7,)
        A.grouped = (7)
        A.empty = ()
        A.dict = {'a': 1, 2: (3, 4)}
        """.replace("\n        ", "\n")
    )
    get = lambda name: config.get("A", name)  # noqa: E731
    assert get("int") == -3 and get("float") == 2.5e-3 and get("dot") == 0.5
    assert get("flags") == [True, False, None]
    assert get("text") == "its#not a commentx\ty"
    assert get("one") == (7,) and get("grouped") == 7 and get("empty") == ()
    assert get("dict") == {"a": 1, 2: (3, 4)}


def test_references_macros_and_scopes():
    config = parse_gin(
        "n = 64000\nsynth = @synths.Harmonic\n"
        "Harmonic.n_samples = %n\nharmonic/Harmonic.n_samples = 8000\n"
        "G.dag = [(@harmonic/synths.Harmonic(), ['amps']), (%synth, [])]\n"
    )
    assert config.macros == {"n": 64000, "synth": Reference("synths.Harmonic", evaluate=False)}
    assert config.bindings["Harmonic.n_samples"] == Macro("n")
    assert config.get("Harmonic", "n_samples") == 64000
    assert config.get("Harmonic", "n_samples", scope="harmonic") == 8000
    dag = config.get("G", "dag")
    assert dag[0][0] == Reference("harmonic/synths.Harmonic", evaluate=True)
    assert dag[0][0].configurable == "Harmonic" and dag[1][0] == Reference("synths.Harmonic")


def test_lines_continue_inside_brackets_and_after_backslash():
    config = parse_gin(
        "import ddsp\nimport ddsp.training as ddsp2  # alias\ninclude 'models/ae.gin'\n"
        "# a comment line\nA.x = \\\n    [1,  # first\n     2,\n    ]\nA.y = 3  # trailing\nB:\n  p = 'q'\n  r = 1\nC.z = 4\n"
    )
    assert config.get("A", "x") == [1, 2] and config.get("A", "y") == 3
    assert config.get("B", "p") == "q" and config.get("B", "r") == 1 and config.get("C", "z") == 4
    assert config.imports == ["import ddsp", "import ddsp.training as ddsp2"]
    assert config.includes == ["models/ae.gin"]


def test_module_prefixes_are_ignored_when_getting():
    config = parse_gin("processors.Add.name = 'add'\nddsp.synths.Harmonic.sample_rate = 16000\n")
    assert config.get("Add", "name") == "add" and config.get("Harmonic", "sample_rate") == 16000


def test_later_bindings_replace_earlier_ones():
    assert parse_gin("A.x = 1\nA.x = 2\n").get("A", "x") == 2


def test_magenta_operative_config():
    config = read_gin(OPERATIVE)
    assert config.get("RnnFcDecoder", "output_splits") == (
        ("amps", 1),
        ("harmonic_distribution", 20),
        ("noise_magnitudes", 17),
    )
    assert config.get("Harmonic", "scale_fn") == Reference("core.exp_sigmoid")
    assert config.get("exp_sigmoid", "threshold") == 1e-7
    assert len(config.get("ProcessorGroup", "dag")) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A.x = tf.float32\n", "not a literal"),
        ("A.x = 1 + 2\n", "unexpected text"),
        ("A.x = __import__('os')\n", "not a literal"),
        ("A.x = [1, 2\n", "expected ','"),
        ("A.x 1\n", "expected '='"),
        ("A.x =\n", "expected a value"),
        ("A.x = {'a' 1}\n", "expected ':'"),
        ("A.x = {[1]: 2}\n", "dict key"),
        ("include models\n", "not a literal"),
        ("include 3\n", "quoted file name"),
    ],
)
def test_what_it_cannot_read_is_refused_with_the_place(text, message):
    with pytest.raises(GinSyntaxError, match=message) as error:
        parse_gin(text, "cfg.gin")
    assert str(error.value).startswith(("cfg.gin:1:", "cfg.gin:2:1:"))  # line 2: the end of the file


def test_undefined_and_cyclic_macros_are_refused():
    with pytest.raises(GinSyntaxError, match="never defined"):
        parse_gin("A.x = %missing\n").get("A", "x")
    with pytest.raises(GinSyntaxError, match="cycle"):
        parse_gin("a = %b\nb = %a\nA.x = %a\n").get("A", "x")


def test_ambiguous_get_and_bad_arguments_are_refused(tmp_path):
    with pytest.raises(GinSyntaxError, match="more than once"):
        parse_gin("x.A.p = 1\ny.A.p = 2\n").get("A", "p")
    with pytest.raises(TypeError, match="text must be str"):
        parse_gin(b"A.x = 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not exist"):
        read_gin(tmp_path / "missing.gin")
