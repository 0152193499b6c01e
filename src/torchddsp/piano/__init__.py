"""torchddsp.piano: a polyphonic, physics-informed piano played from MIDI (issue 19).

- :mod:`~torchddsp.piano.midi`: our Standard MIDI File reader (:func:`read_midi` -> :class:`Note`);
- :mod:`~torchddsp.piano.voices`: notes -> a fixed number of voices and a piano roll;
- :mod:`~torchddsp.piano.model`: :class:`PianoModel`, inharmonic detuned strings with a learned
  ``B`` per key, a context network, shared noise and reverb (DDSP-Piano's design);
- :mod:`~torchddsp.piano.render`: play notes or a MIDI file, save and load model folders (the
  bundled one: ``load_piano_model("piano")``); ``torchddsp piano MIDI --model piano -o OUT.wav``.
"""

from .midi import Note
from .midi import read_midi
from .model import PianoConfig
from .model import PianoModel
from .render import load_piano_model
from .render import render_midi
from .render import render_notes
from .voices import allocate_voices
from .voices import piano_roll

__all__ = [
    "Note",
    "read_midi",
    "PianoConfig",
    "PianoModel",
    "load_piano_model",
    "render_midi",
    "render_notes",
    "allocate_voices",
    "piano_roll",
]
