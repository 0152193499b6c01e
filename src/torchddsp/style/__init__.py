"""torchddsp.style: audio-effect style transfer (EQ and compressor settings from a reference)."""
