"""torchddsp.drums: descriptor-controlled drum synthesis (issue 19, point 3).

- :mod:`.descriptors`: brightness, depth and warmth after the AudioCommons timbral models;
- :mod:`.synth`: a differentiable one-shot drum synthesizer (transient, modal body, noise);
- :mod:`.model`: the network from (drum class, descriptors) to synth controls, and the bundled
  model (``torchddsp drums --drum snare --brightness 0.7 ... -o OUT.wav``);
- :mod:`.training`: its losses and training loop.

The submodules are imported on use (the CLI stays quick to start).
"""
