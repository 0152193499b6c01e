"""Pure, differentiable DSP functions: no ``nn.Module``, no global state.

Modules:
- ``controls``: ``Control`` and ``Rate``: the one control type (fixed / per item / per frame /
  per sample), normalised by ``control_values``.
- ``layout``: ``flatten_audio``/``restore_audio``: every op taking audio accepts ``(..., n_samples)``.
- ``conversions``: MIDI <-> Hz, amplitude/power <-> dB, ``exp_sigmoid``, ``smooth_limit``.
- ``resampling``: ``upsample`` (frame rate -> audio rate), ``resample`` (audio between rates).
- ``phase``: float64 phase accumulation shared by all oscillators.
- ``oscillators``: ``oscillator_bank``, ``harmonic_synthesis`` (both stream through ``state``).
- ``wavetable``: ``wavetable_synthesis``.
- ``fm``: ``fm_synthesis`` (operators, routing matrix, feedback).
- ``fir``: ``frequency_impulse_response``, ``sinc_impulse_response``, ``fft_convolve``,
  ``frequency_filter``, ``sinc_filter``.
- ``delay``: ``fractional_delay`` (time-varying, fractional).
- ``allpole``: ``allpole_filter`` (time-varying recursive filter, exact gradients, numba kernel).
- ``iir``: ``lfilter``, ``sosfilt`` (any order, fixed or per-sample coefficients, chunkable).
- ``biquad``: ``biquad`` (Audio EQ Cookbook designs, differentiable in cutoff, Q and gain).
- ``recurrence``: ``linear_recurrence`` (time-varying state-space recursion, exact gradients;
  numba kernel, parallel scan for GPUs, PyTorch loop).
- ``svf``: ``state_variable_filter`` (time-varying cutoff and resonance, stable for every value).
- ``dynamics``: ``compress``, ``gain_computer``, ``smooth_gain``, ``detect_level``
  (compressor, limiter, expander; attack/release ballistics with exact gradients).
- ``fdn``: ``fdn_impulse_response``, ``orthogonal_matrix``, ``fdn_delays`` (feedback delay
  network reverberation with per-band RT60).
- ``waveshaping``: ``waveshape`` (tanh, cubic soft clip, hard clip, Chebyshev; bias with static
  DC removal; band-limited oversampling without delay), ``chebyshev_polynomials``.
- ``phaser``: ``phaser``, ``allpass_cascade``, ``allpass_coefficient`` (time-varying first-order
  all-pass cascade with feedback, one state-space recursion, exact gradients).
- ``bandlimited``: ``bandlimited_oscillator`` (alias-free sine/triangle/square/saw from
  control-rate frequency and amplitude, mip-mapped tables, fused numba kernel + PyTorch path).
- ``envelopes``: ``adsr`` and ``lfo`` (control signals with finite gradients in every corner case).
- ``stable_poles``: ``resonator_coefficients``, ``reflection_to_lpc`` (stable by construction).
- ``partitioned``: ``partitioned_convolution`` (a long FIR filter streamed with no added
  latency: uniformly partitioned FFT convolution with a direct-form head).
- ``overlap_add``: frames placed every ``hop_size`` samples and summed.
- ``noise``: seeded uniform noise; ``counter_noise`` (a pure function of seed and sample index).
- ``partials``: ``partial_frequencies`` (per-harmonic shifts, inharmonicity ``B``).
- ``modal``: ``modal_synthesis`` (exponentially damped sinusoids).
- ``string``: ``karplus_strong`` (a plucked string: feedback delay line with a loss filter).

Conventions: audio ``(..., n_samples)``, its leading dimensions flattened into one batch and
restored (``layout``; states ``(..., state_size)`` follow them); controls at a stated rate
(``controls``: a bare value's layout states it, never a size that happens to match
``n_samples``); frame-rate controls ``(batch, n_frames, channels)``; frame ``i`` sits at sample
``i * hop`` (see ``resampling``); phase in radians, accumulated in float64; invalid input
raises ``validation.InputError`` (a ``ValueError``) naming the argument, a wrong type a
``TypeError``.

Edge inputs, the same rule for every op (tested as one table in
``tests/reliability/test_edge_inputs.py``):

- Empty audio: ``n_samples == 0`` (an empty input, or a requested length of 0) returns an
  empty output of the usual shape and dtype, as torch ops and ``scipy.signal.lfilter`` do, so
  a stream may hand over an empty block; streaming states come back unchanged. A length that
  cannot carry the op's meaning is a ``ValueError`` naming the argument: frame-rate controls
  with no frames to interpolate onto samples, a hop of 0.
- Dtypes: float32 and float64 compute natively (the output has the promoted dtype of the
  inputs, of the amplitude-like ones for oscillators; phases stay float64). float16 and bfloat16 are accepted as storage formats: the op
  computes in float32 (the compiled recursions, the CPU FFT and long sums have no
  half-precision form) and returns its float32 results in the half dtype it was given; a mix
  of half and float32/float64 tensors is promoted as torch promotes (half reads as float32).
  Integer and bool tensors raise ``ValueError`` naming the argument (not a ``TypeError``:
  the CLI reports ``ValueError`` as one line).
- NaN or infinity in any tensor input raises ``ValueError`` naming the argument
  (``validation.check_finite``), conversions included: ``amplitude_to_db(nan)`` is an error, not
  a silent NaN nor a number clamped to the dB floor.
"""

from .allpole import allpole_filter
from .bandlimited import bandlimited_oscillator
from .biquad import biquad

# The control type is importable from here, but __all__ lists ops only (tests/test_autograd.py
# and tests/reliability/test_edge_inputs.py give every name in it a row of their tables).
from .controls import Control as Control
from .controls import Rate as Rate
from .conversions import amplitude_to_db
from .conversions import db_to_amplitude
from .conversions import exp_sigmoid
from .conversions import frequencies_sigmoid
from .conversions import hz_to_midi
from .conversions import midi_to_hz
from .conversions import power_to_db
from .conversions import smooth_limit
from .delay import fractional_delay
from .dynamics import compress
from .dynamics import detect_level
from .dynamics import gain_computer
from .dynamics import smooth_gain
from .envelopes import adsr
from .envelopes import lfo
from .fdn import fdn_delays
from .fdn import fdn_impulse_response
from .fdn import orthogonal_matrix
from .fir import fft_convolve
from .fir import frequency_filter
from .fir import frequency_impulse_response
from .fir import sinc_filter
from .fir import sinc_impulse_response
from .fm import fm_synthesis
from .iir import lfilter
from .iir import sosfilt
from .modal import modal_synthesis
from .noise import counter_noise
from .noise import noise_seed
from .noise import uniform_noise
from .oscillators import harmonic_frequencies
from .oscillators import harmonic_synthesis
from .oscillators import normalize_harmonics
from .oscillators import oscillator_bank
from .overlap_add import overlap_add
from .partials import partial_frequencies
from .partitioned import PartitionedConvolutionState as PartitionedConvolutionState
from .partitioned import partitioned_convolution
from .partitioned import partitioned_convolution_state as partitioned_convolution_state
from .phase import cumulative_phase
from .phaser import allpass_cascade
from .phaser import allpass_coefficient
from .phaser import phaser
from .recurrence import linear_recurrence
from .resampling import resample
from .resampling import upsample
from .stable_poles import reflection_to_lpc
from .stable_poles import resonator_coefficients
from .string import karplus_strong
from .svf import state_variable_filter
from .waveshaping import chebyshev_polynomials
from .waveshaping import waveshape
from .wavetable import wavetable_synthesis

__all__ = [
    "partial_frequencies",
    "modal_synthesis",
    "karplus_strong",
    "smooth_limit",
    "adsr",
    "lfo",
    "bandlimited_oscillator",
    "counter_noise",
    "noise_seed",
    "waveshape",
    "chebyshev_polynomials",
    "phaser",
    "allpass_cascade",
    "allpass_coefficient",
    "compress",
    "detect_level",
    "gain_computer",
    "smooth_gain",
    "fdn_delays",
    "fdn_impulse_response",
    "orthogonal_matrix",
    "linear_recurrence",
    "state_variable_filter",
    "reflection_to_lpc",
    "resonator_coefficients",
    "biquad",
    "lfilter",
    "sosfilt",
    "allpole_filter",
    "amplitude_to_db",
    "db_to_amplitude",
    "exp_sigmoid",
    "frequencies_sigmoid",
    "hz_to_midi",
    "midi_to_hz",
    "power_to_db",
    "fractional_delay",
    "fft_convolve",
    "frequency_filter",
    "frequency_impulse_response",
    "sinc_filter",
    "sinc_impulse_response",
    "fm_synthesis",
    "overlap_add",
    "partitioned_convolution",
    "uniform_noise",
    "harmonic_frequencies",
    "harmonic_synthesis",
    "normalize_harmonics",
    "oscillator_bank",
    "cumulative_phase",
    "resample",
    "upsample",
    "wavetable_synthesis",
]
