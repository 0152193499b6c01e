"""torchddsp.matching: synthesizer parameter estimation (sound matching with a trained network)."""
