"""torchddsp.piano: a polyphonic, physics-informed piano played from MIDI."""
