"""The zoo's melody corpus (scripts/melodies/) and its parser (scripts/zoo_corpus.py)."""

import re

import pytest
from zoo_support import load_script

corpus = load_script("zoo_corpus")

HEADER = (
    "title: Test tune\norigin: nobody\nstatus: public domain (traditional)\n"
    "source: encoded for torchddsp from the public-domain tune\nmeter: 4/4\n"
)


@pytest.mark.parametrize(("name", "midi"), [("C4", 60), ("A4", 69), ("F#4", 66), ("Bb3", 58), ("C-1", 0), ("G9", 127)])
def test_pitch_names_map_to_midi_numbers(name, midi):
    # Catches an octave off by one (12 * octave) and a flipped accidental.
    assert corpus.note_midi(name) == midi


@pytest.mark.parametrize("bad", ["H4", "C", "c4", "C#", "Ab10", "G#9"])
def test_bad_pitch_names_raise_value_error_naming_the_pitch(bad):
    with pytest.raises(ValueError, match="pitch"):
        corpus.note_midi(bad)


def test_notes_carry_durations_fermatas_and_downbeats():
    # Catches a duration that does not carry to the next bare pitch, a fraction read as a
    # float string, a downbeat put on a rest instead of the first note after the bar line,
    # and leading or trailing rests kept (they would lengthen the performance with silence).
    events = corpus.parse_notes("r:1 C4:1/2 D4 | r:1 E4:3/2 F4:0.25 G4 | A4:2^ | r:2")
    assert events == (
        (60, 0.5, False, False),
        (62, 0.5, False, False),
        (None, 1.0, False, False),
        (64, 1.5, False, True),
        (65, 0.25, False, False),
        (67, 0.25, False, False),
        (69, 2.0, True, True),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [("C4 D4:1", "needs a duration"), ("C4:0", "positive"), ("C4:x", "duration"), ("r:1", "no notes")],
)
def test_bad_notes_raise_value_error_naming_what_is_wrong(body, message):
    with pytest.raises(ValueError, match=message):
        corpus.parse_notes(body)


def test_a_tune_file_parses_with_comments_that_keep_sharps():
    # Catches a comment stripper that cuts at every '#', which would eat the F#4.
    tune = corpus.parse_tune(HEADER + "notes: # the tune\n| F#4:1 G4 # a comment\nA4:2^\n", "test")
    assert tune.title == "Test tune" and tune.meter == "4/4"
    assert tune.pitches == [66, 67, 69]
    assert tune.quarters == 4.0
    # seconds(): the median note (1 quarter) lasts 0.4 s, so 4 quarters last 1.6 s.
    assert tune.seconds() == pytest.approx(1.6)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("public domain (traditional)", "(c) 2020 Someone"), "not public domain"),
        (("encoded for torchddsp from the public-domain tune", "music21 corpus"), "source must read"),
        (("title: Test tune\n", ""), "missing header title"),
    ],
)
def test_a_tune_without_a_clean_licence_header_is_refused(replace, message):
    # Catches a corpus that lets in a copyrighted tune or a third-party encoding.
    with pytest.raises(ValueError, match=message):
        corpus.parse_tune(HEADER.replace(*replace) + "notes: C4:1 D4\n", "test")


def test_the_shipped_corpus_is_big_public_domain_and_free_of_duplicates():
    tunes = corpus.load_corpus()
    assert len(tunes) >= 40
    # At least 10 minutes of music before any repetition, at the performer's middle tempo.
    assert sum(t.seconds() for t in tunes) >= 600
    for tune in tunes:
        assert tune.source == corpus.SOURCE_STATEMENT
        # A named composer or arranger died more than 100 years before 2026.
        died = re.search(r"died (\d{4})", tune.status)
        assert died is None or int(died.group(1)) < 1926, (tune.name, tune.status)
        assert died is not None or tune.status == "public domain (traditional)", tune.status
        assert 16 <= len(tune.pitches) and max(tune.pitches) - min(tune.pitches) <= 26, tune.name
    # The same melody typed twice (under two names) would count its minutes twice.
    signatures = [tuple(b - a for a, b in zip(t.pitches, t.pitches[1:16])) for t in tunes]
    assert len(set(signatures)) == len(signatures)


def test_splits_are_disjoint_seeded_and_cover_the_corpus():
    tunes = corpus.load_corpus()
    splits = corpus.split_tunes(tunes, n_eval=5, n_heldout=6, seed=0)
    names = {split: {t.name for t in group} for split, group in splits.items()}
    assert (len(names["eval"]), len(names["heldout"])) == (5, 6)
    # Catches a held-out tune that is also trained on (the identity matrix would flatter).
    assert not names["train"] & names["heldout"] and not names["train"] & names["eval"]
    assert not names["eval"] & names["heldout"]
    assert names["train"] | names["eval"] | names["heldout"] == {t.name for t in tunes}
    assert corpus.split_tunes(list(reversed(tunes)), 5, 6, seed=0) == splits  # the order given does not matter
    assert corpus.split_tunes(tunes, 5, 6, seed=1)["heldout"] != splits["heldout"]
    with pytest.raises(ValueError, match="n_eval"):
        corpus.split_tunes(tunes, len(tunes), 0)
