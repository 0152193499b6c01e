"""torchddsp.style: audio-effect style transfer (after Steinmetz et al., DeepAFx-ST, DAFx 2022).

A model hears an input and a reference and predicts the settings of a chain of torchddsp
effects (8-band parametric EQ, compressor, output gain) that make the input sound like the
reference; it trains self-supervised on any audio, with exact gradients through the chain
(or, for comparison, SPSA estimates).

Modules:
- ``settings``: the chain's settings, their ranges and the maps between ``[0, 1]`` and human units;
- ``chain``: :func:`~torchddsp.style.chain.apply_chain` and the ``StyleChain`` module;
- ``model``: encoder, controller, ``StyleTransfer``, saving and loading;
- ``spsa``: SPSA gradient estimates (a function's, and the chain's backward);
- ``training``: self-supervised examples, the loss and one training step;
- ``metrics``: evaluation metrics and the rule-based matching-EQ baseline;
- ``commands``: ``torchddsp style INPUT --reference REF -o OUT.wav``.
"""
