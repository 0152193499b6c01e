"""torchddsp.drums: descriptor-controlled drum synthesis."""
