"""Synthetic multi-genre music: the embedded, download-free default collection.

Each genre is a small arrangement recipe (tempo range, drum pattern, instruments, chord
progression and chord rhythm, effects) rendered with NumPy/SciPy. Every clip randomises key, tempo,
timbres, mix, room, noise and start offset inside its genre, so telling genres apart takes learning.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SYNTH_VERSION = 1
"""Bumped whenever the generator's output changes for a given seed."""

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", None)}
"""Output format name -> (libsndfile container, subtype)."""

MP3_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
"""Sample rates that the MP3 encoder accepts."""

_TAB = 2048  # wavetable length (power of two)
_VEL = {"X": 1.0, "x": 0.7, "o": 0.45, "g": 0.25}  # pattern letters -> velocity ("g" = ghost)

Inst = Callable[[int, int], np.ndarray]  # (midi note, held samples) -> waveform incl. release
Event = tuple[float, float, int, float]  # (start beat, length in beats, midi note, velocity)

_QUALITY: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m9": (0, 3, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14), "9": (0, 4, 7, 10, 14), "6": (0, 4, 7, 9),
    "m7b5": (0, 3, 6, 10), "sus2": (0, 2, 7), "sus4": (0, 5, 7), "add9": (0, 4, 7, 14),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Per-clip state and small DSP helpers
# ---------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Per-clip rendering state: sample rate, length, random source, tempo and key."""

    sr: int
    n: int
    rng: np.random.Generator
    bpm: float
    tonic: int

    @property
    def beat(self) -> float:
        """Samples per beat."""
        return 60.0 * self.sr / self.bpm

    @property
    def n_bars(self) -> int:
        """Bars (4/4) needed to cover the clip, with one to spare."""
        return int(self.n // (4 * self.beat)) + 2

    def at(self, beats: float) -> int:
        """Sample index of a position given in beats."""
        return int(round(beats * self.beat))

    def u(self, lo: float, hi: float) -> float:
        """A uniform random number in [lo, hi)."""
        return float(self.rng.uniform(lo, hi))

    def pick(self, options: Sequence):
        """One of ``options`` at random."""
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return bool(self.rng.random() < p)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _norm(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 1e-12 else x


def _add(out: np.ndarray, x: np.ndarray, i: int) -> None:
    """Add ``x`` into ``out`` starting at sample ``i``, clipping at both ends."""
    if i >= out.size or i + x.size <= 0:
        return
    lo = max(0, -i)
    hi = min(x.size, out.size - i)
    out[i + lo : i + hi] += x[lo:hi]


def _filt(
    x: np.ndarray, kind: str, cutoff: float | tuple[float, float], sr: int, order: int = 2
) -> np.ndarray:
    """Butterworth filter with the cut-offs kept safely below Nyquist."""
    top = 0.45 * sr
    if kind == "bandpass":
        lo, hi = cutoff  # type: ignore[misc]
        hi = min(hi, top)
        lo = min(lo, 0.7 * hi)
        wn: float | list[float] = [lo / (0.5 * sr), hi / (0.5 * sr)]
    else:
        c = float(cutoff)  # type: ignore[arg-type]
        if kind == "lowpass" and c >= top:
            return x
        wn = min(c, top) / (0.5 * sr)
    sos = signal.butter(order, wn, btype=kind, output="sos")
    return signal.sosfilt(sos, x)


def _decay(n: int, sr: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (sr * tau))


def _adsr(n_hold: int, sr: int, a: float, d: float, s: float, r: float) -> np.ndarray:
    """Attack/decay/sustain envelope for ``n_hold`` samples, then a linear release."""
    t = np.arange(max(1, n_hold)) / sr
    a = max(a, 1e-3)
    env = np.where(t < a, t / a, s + (1.0 - s) * np.exp(-(t - a) / max(d, 1e-3)))
    rel = env[-1] * np.linspace(1.0, 0.0, max(2, int(r * sr)))
    return np.concatenate([env, rel])


def _table(amps: np.ndarray) -> np.ndarray:
    """One period of a waveform with the given harmonic amplitudes (sine phase)."""
    spec = np.zeros(_TAB // 2 + 1, dtype=complex)
    spec[1 : amps.size + 1] = -1j * amps
    return _norm(np.fft.irfft(spec, _TAB))


def _phase_idx(hz: float, n: int, sr: int, phase: float, vib: tuple[float, float]) -> np.ndarray:
    """Wavetable indices for a tone of ``hz`` with optional vibrato (rate Hz, depth fraction)."""
    t = np.arange(n) / sr
    ph = 2.0 + phase + hz * t
    rate, depth = vib
    if depth > 0:
        ph -= hz * depth / (2 * np.pi * rate) * np.cos(2 * np.pi * rate * t)
    return (ph * _TAB).astype(np.int64) & (_TAB - 1)


def _bandlimited(cache: dict, amps: np.ndarray, hz: float, sr: int) -> np.ndarray:
    k = max(1, min(amps.size, int(0.45 * sr / hz)))
    if k not in cache:
        cache[k] = _table(amps[:k])
    return cache[k]


def _saw(k: int = 48, tilt: float = 1.0) -> np.ndarray:
    return 1.0 / np.arange(1, k + 1) ** tilt


def _square(k: int = 48, tilt: float = 1.0) -> np.ndarray:
    h = np.arange(1, k + 1)
    return np.where(h % 2 == 1, 1.0 / h**tilt, 0.0)


def _reverb(c: _Ctx, x: np.ndarray, rt60: float, damp: float) -> np.ndarray:
    """Convolution with a short exponentially decaying, low-passed noise impulse response."""
    n = max(16, int(rt60 * c.sr))
    ir = c.rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / n)
    ir = _filt(ir, "lowpass", damp, c.sr, 1)
    ir[: int(c.u(0.005, 0.03) * c.sr)] = 0.0
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    return signal.fftconvolve(x, ir)[: x.size]


def _distort(c: _Ctx, x: np.ndarray, drive: float, cab_hz: float) -> np.ndarray:
    """Asymmetric tanh overdrive followed by a speaker-cabinet band limit."""
    bias = c.u(0.0, 0.2)
    y = np.tanh(drive * (_norm(x) + bias)) - np.tanh(drive * bias)
    return _filt(_filt(y, "lowpass", cab_hz, c.sr, 2), "highpass", 90.0, c.sr, 1)


def _echo(c: _Ctx, x: np.ndarray, beats: float, feedback: float, taps: int = 4) -> np.ndarray:
    """Tempo-synced feedback delay (dub echo) built from shifted copies."""
    y = x.copy()
    d = c.at(beats)
    for k in range(1, taps + 1):
        if k * d >= x.size:
            break
        y[k * d :] += feedback**k * x[: x.size - k * d]
    return y


def _pink(c: _Ctx, n: int) -> np.ndarray:
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    return _norm(signal.lfilter(b, a, c.rng.standard_normal(n)))


# ---------------------------------------------------------------------------------------------
# Drum sounds, each rendered once per clip and placed by slicing adds
# ---------------------------------------------------------------------------------------------


def _kick(c: _Ctx, f0: float, f1: float, sweep: float, decay: float, click: float) -> np.ndarray:
    n = int(5 * decay * c.sr)
    t = np.arange(n) / c.sr
    f = f1 + (f0 - f1) * np.exp(-t / sweep)
    y = np.sin(2 * np.pi * np.cumsum(f) / c.sr) * np.exp(-t / decay)
    nc = max(2, int(0.004 * c.sr))
    y[:nc] += click * c.rng.standard_normal(nc) * np.linspace(1, 0, nc)
    return _norm(y)


def _snare(c: _Ctx, tone: float, decay: float, band: tuple[float, float], mix: float) -> np.ndarray:
    n = int(5 * decay * c.sr)
    t = np.arange(n) / c.sr
    body = np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.04)
    noise = _norm(_filt(c.rng.standard_normal(n), "bandpass", band, c.sr)) * np.exp(-t / decay)
    return _norm((1 - mix) * body + mix * noise)


def _brush(c: _Ctx, decay: float) -> np.ndarray:
    n = int(5 * decay * c.sr)
    t = np.arange(n) / c.sr
    noise = _filt(c.rng.standard_normal(n), "bandpass", (1500.0, 9000.0), c.sr)
    return _norm(noise * np.minimum(t / 0.012, 1.0) * np.exp(-t / decay))


def _hat(c: _Ctx, decay: float, metal: float) -> np.ndarray:
    n = int(5 * decay * c.sr)
    t = np.arange(n) / c.sr
    noise = _norm(_filt(c.rng.standard_normal(n), "highpass", c.u(6000, 8500), c.sr))
    sq = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (205.3, 304.4, 369.6, 522.7, 540, 800))
    sq = _norm(_filt(sq, "highpass", 7000.0, c.sr))
    return _norm(((1 - metal) * noise + metal * sq) * np.exp(-t / decay))


def _ride(c: _Ctx, base: float, decay: float) -> np.ndarray:
    n = int(3 * decay * c.sr)
    t = np.arange(n) / c.sr
    ratios = np.array([1.0, 1.47, 2.09, 2.56, 3.17, 3.93, 4.68])
    ping = sum(np.sin(2 * np.pi * base * r * t + c.u(0, 6)) / r for r in ratios)
    hiss = _norm(_filt(c.rng.standard_normal(n), "highpass", 5000.0, c.sr))
    return _norm((_norm(ping) * 0.6 + hiss * 0.4) * np.exp(-t / decay))


def _crash(c: _Ctx, decay: float) -> np.ndarray:
    n = int(3 * decay * c.sr)
    noise = _filt(c.rng.standard_normal(n), "highpass", c.u(2500, 4000), c.sr)
    return _norm(noise * _decay(n, c.sr, decay))


def _rim(c: _Ctx) -> np.ndarray:
    n = int(0.08 * c.sr)
    t = np.arange(n) / c.sr
    body = np.sin(2 * np.pi * c.u(420, 560) * t) * np.exp(-t / 0.012)
    click = _filt(c.rng.standard_normal(n), "bandpass", (1500.0, 5000.0), c.sr) * np.exp(-t / 0.006)
    return _norm(body + 0.6 * _norm(click))


def _clap(c: _Ctx, decay: float) -> np.ndarray:
    n = int((0.04 + 5 * decay) * c.sr)
    t = np.arange(n) / c.sr
    env = np.exp(-t / decay)
    for k in range(3):
        env += np.exp(-np.maximum(t - k * 0.011, 0) / 0.004) * (t >= k * 0.011)
    noise = _filt(c.rng.standard_normal(n), "bandpass", (800.0, c.u(2000, 3500)), c.sr)
    return _norm(noise * env)


# ---------------------------------------------------------------------------------------------
# Pitched instruments: closures (midi, held samples) -> waveform, cached per clip by the renderer
# ---------------------------------------------------------------------------------------------


def _tone(c: _Ctx, amps: np.ndarray, adsr: tuple[float, float, float, float], voices: int = 1,
          detune: float = 0.0, vib: tuple[float, float] = (5.0, 0.0)) -> Inst:  # fmt: skip
    """Band-limited wavetable tone (organ, pad, strings, saw, flute) with detuned unison."""
    tabs: dict = {}

    def play(m: int, n: int) -> np.ndarray:
        hz = _hz(m)
        tab = _bandlimited(tabs, amps, hz, c.sr)
        env = _adsr(n, c.sr, *adsr)
        y = np.zeros(env.size)
        for v in range(voices):
            cents = detune * (2 * v / (voices - 1) - 1) if voices > 1 else 0.0
            y += tab[_phase_idx(hz * 2 ** (cents / 1200), env.size, c.sr, c.u(0, 1), vib)]
        return y * env / voices

    return play


def _pluck(c: _Ctx, bright: np.ndarray, dull: np.ndarray, fast: float, slow: float,
           release: float = 0.05, mix: float = 0.6) -> Inst:  # fmt: skip
    """Struck/plucked tone whose bright harmonics die faster than its body (piano, bass)."""
    tb: dict = {}
    td: dict = {}

    def play(m: int, n: int) -> np.ndarray:
        hz = _hz(m)
        nr = int(release * c.sr)
        idx = _phase_idx(hz, n + nr, c.sr, 0.0, (5.0, 0.0))
        t = np.arange(n + nr) / c.sr
        y = mix * _bandlimited(tb, bright, hz, c.sr)[idx] * np.exp(-t / fast)
        y += (1 - mix) * _bandlimited(td, dull, hz, c.sr)[idx] * np.exp(-t / slow)
        y[: int(0.003 * c.sr)] *= np.linspace(0, 1, int(0.003 * c.sr))
        y[n:] *= np.linspace(1, 0, nr)
        return y

    return play


def _fm(c: _Ctx, ratio: float, index: float, index_decay: float, amp_decay: float,
        release: float = 0.1) -> Inst:  # fmt: skip
    """Two-operator FM voice (electric piano with ratio 1, bell with a non-integer ratio)."""

    def play(m: int, n: int) -> np.ndarray:
        hz = _hz(m)
        nr = int(release * c.sr)
        t = np.arange(n + nr) / c.sr
        idx = min(index, max(0.2, (0.45 * c.sr / hz - 1) / ratio - 1))
        mod = idx * np.exp(-t / index_decay) * np.sin(2 * np.pi * ratio * hz * t)
        y = np.sin(2 * np.pi * hz * t + mod) * np.exp(-t / amp_decay)
        y[: int(0.002 * c.sr)] *= np.linspace(0, 1, int(0.002 * c.sr))
        y[n:] *= np.linspace(1, 0, nr)
        return y

    return play


def _karplus(c: _Ctx, bright: float, t60: float, release: float = 0.04) -> Inst:
    """Karplus-Strong plucked string via ``lfilter`` with an all-pass for fine tuning."""

    def play(m: int, n: int) -> np.ndarray:
        hz = _hz(m)
        period = c.sr / hz
        d0 = int(period - 0.6)
        frac = period - 0.5 - d0
        ap = (1 - frac) / (1 + frac)
        g = min(0.9995, 10 ** (-3 / (t60 * hz)))
        nr = int(release * c.sr)
        x = np.zeros(n + nr)
        burst = signal.lfilter([bright], [1, bright - 1], c.rng.standard_normal(d0))
        x[:d0] = burst - burst.mean()
        a = np.zeros(d0 + 3)
        a[0], a[1] = 1.0, ap
        a[d0] -= 0.5 * g * ap
        a[d0 + 1] -= 0.5 * g * (1 + ap)
        a[d0 + 2] -= 0.5 * g
        y = signal.lfilter([1.0, ap], a, x)
        y[n:] *= np.linspace(1, 0, nr)
        return y

    return play


def _sub808(c: _Ctx, decay: float, drive: float) -> Inst:
    """Sine sub-bass with a short pitch drop and soft saturation."""

    def play(m: int, n: int) -> np.ndarray:
        hz = _hz(m)
        nr = int(0.05 * c.sr)
        t = np.arange(n + nr) / c.sr
        f = hz * (1 + 0.6 * np.exp(-t / 0.025))
        y = np.sin(2 * np.pi * np.cumsum(f) / c.sr) * np.exp(-t / decay)
        y = np.tanh(drive * y) / np.tanh(drive)
        y[n:] *= np.linspace(1, 0, nr)
        return y

    return play


# ---------------------------------------------------------------------------------------------
# Arrangement: drum grids, harmony, note events, rendering and mixing
# ---------------------------------------------------------------------------------------------


def _pos(step: int, steps: int, swing8: float, swing16: float) -> float:
    """Beat position of a grid step inside a bar, with 8th or 16th swing."""
    beats = step * 4.0 / steps
    if steps == 16 and step % 4 == 2:
        beats += swing8 / 6.0
    elif steps == 16 and step % 2 == 1:
        beats += swing16 / 12.0
    return beats


def _grid(c: _Ctx, pattern: str, swing8: float = 0.0, swing16: float = 0.0,
          ghost: float = 0.6, bars: range | None = None) -> list[tuple[float, float]]:  # fmt: skip
    """(beat, velocity) of every hit of a repeating 16-step-per-bar pattern over the clip."""
    per_bar = 16
    n_pat = max(1, len(pattern) // per_bar)
    hits = []
    for bar in bars if bars is not None else range(c.n_bars):
        seg = pattern[(bar % n_pat) * per_bar : (bar % n_pat + 1) * per_bar]
        for step, ch in enumerate(seg):
            v = _VEL.get(ch)
            if v is None or (ch == "g" and c.rng.random() > ghost):
                continue
            hits.append((bar * 4 + _pos(step, len(seg), swing8, swing16), v))
    return hits


def _drums(c: _Ctx, kit: dict[str, np.ndarray], pats: dict[str, str], *, swing8: float = 0.0,
           swing16: float = 0.0, ghost: float = 0.6, jitter: float = 0.004,
           fill: dict[str, str] | None = None, phrase: int = 4) -> np.ndarray:  # fmt: skip
    """Render a drum part: per-bar patterns (with optional fill bar) placed by slicing adds."""
    out = np.zeros(c.n)
    levels = {name: 10 ** (c.u(-2.5, 2.5) / 20) for name in kit}
    for bar in range(c.n_bars):
        cur = dict(pats)
        if fill and bar % phrase == phrase - 1:
            cur.update(fill)
        if "crash" in kit and bar % phrase == 0:
            cur.setdefault("crash", "X" + "." * 15)
        for name, pat in cur.items():
            for beat, v in _grid(c, pat, swing8, swing16, ghost, range(bar, bar + 1)):
                i = int(beat * c.beat + c.rng.normal(0.0, jitter * c.sr))
                _add(out, kit[name] * (levels[name] * v * c.u(0.85, 1.0)), i)
    return out


@dataclass
class _Harmony:
    """A looping chord progression: absolute pitch classes, qualities, beats per chord."""

    chords: list[tuple[int, str]]
    per: float

    def at(self, beat: float) -> tuple[int, str]:
        """Chord sounding at ``beat``."""
        return self.chords[int(beat // self.per) % len(self.chords)]

    def starts(self, c: _Ctx) -> list[float]:
        """Beats where a chord starts, over the whole clip."""
        return list(np.arange(0.0, c.n_bars * 4.0, self.per))


def _root(pc: int, low: int) -> int:
    return low + (pc - low) % 12


def _voicing(pc: int, quality: str, low: int) -> list[int]:
    """Close voicing of a chord inside the octave above ``low`` (power chords stay open)."""
    root = _root(pc, low)
    if quality == "5":
        return [root + i for i in _QUALITY["5"]]
    return sorted({low + (root + i - low) % 12 for i in _QUALITY[quality]})


def _guitar_voicing(pc: int, quality: str, low: int = 40) -> list[int]:
    """Five/six-string guitar-like voicing: root and fifth low, chord tones an octave up."""
    root = _root(pc, low)
    upper = sorted({root + 12 + i % 12 for i in _QUALITY[quality]})
    return [root, root + 7, *upper]


def _comp(c: _Ctx, h: _Harmony, rhythm: str, dur: float, low: int, *, swing8: float = 0.0,
          swing16: float = 0.0, strum: float = 0.0,
          voicing: Callable[[int, str], list[int]] | None = None) -> list[Event]:  # fmt: skip
    """Chord hits on a rhythm pattern, every chord tone per hit (optionally strummed)."""
    voice = voicing or (lambda pc, q: _voicing(pc, q, low))
    events: list[Event] = []
    for k, (beat, v) in enumerate(_grid(c, rhythm, swing8, swing16)):
        notes = voice(*h.at(beat + 1e-6))
        if strum and k % 2 == 1:
            notes = notes[::-1]
        for j, m in enumerate(notes):
            events.append((beat + j * strum, dur, m, v))
    return events


def _bassline(c: _Ctx, h: _Harmony, rhythm: str, dur: float, low: int,
              steps: Sequence[int] = (0,), swing8: float = 0.0,
              swing16: float = 0.0) -> list[Event]:  # fmt: skip
    """Bass notes on a rhythm: chord root plus a cycling list of interval offsets."""
    events: list[Event] = []
    for k, (beat, v) in enumerate(_grid(c, rhythm, swing8, swing16)):
        pc, _ = h.at(beat + 1e-6)
        events.append((beat, dur, _root(pc, low) + steps[k % len(steps)], v))
    return events


def _render(c: _Ctx, events: list[Event], inst: Inst, jitter: float = 0.003) -> np.ndarray:
    """Render note events with an instrument, reusing identical notes within the clip."""
    out = np.zeros(c.n)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for beat, dur, m, v in events:
        i = int(beat * c.beat + c.rng.normal(0.0, jitter * c.sr))
        if i >= c.n:
            continue
        key = (int(m), max(1, c.at(dur)))
        if key not in cache:
            cache[key] = inst(*key)
        _add(out, cache[key] * (v * c.u(0.85, 1.0)), i)
    return out


@dataclass
class _Part:
    """One rendered instrument track with its mix level (dB) and reverb send."""

    audio: np.ndarray
    level_db: float
    send: float = 0.0


def _mix(c: _Ctx, parts: list[_Part], rt60: float) -> np.ndarray:
    """RMS-normalise each part, apply levels, add a shared reverb bus."""
    dry = np.zeros(c.n)
    wet = np.zeros(c.n)
    for p in parts:
        rms = float(np.sqrt(np.mean(p.audio**2)))
        if rms < 1e-9:
            continue
        a = p.audio * (10 ** (p.level_db / 20) / rms)
        dry += a
        if p.send > 0:
            wet += a * p.send
    if np.any(wet):
        dry += _reverb(c, wet, rt60, c.u(2500, 8000))
    return dry


def _swell(c: _Ctx, lo: float, period: tuple[float, float]) -> np.ndarray:
    """Slow random dynamics (crescendo/decrescendo) as a gain curve."""
    t = np.arange(c.n) / c.sr
    return lo + (1 - lo) * 0.5 * (1 + np.sin(2 * np.pi * t / c.u(*period) + c.u(0, 6.3)))


# ---------------------------------------------------------------------------------------------
# Genres: each recipe returns its rendered parts; the tables below are its harmonic vocabulary
# ---------------------------------------------------------------------------------------------

_PROGRESSIONS: dict[str, tuple[str, ...]] = {
    "house": ("0:m9 5:m7", "0:m7 8:maj7 10:7 3:maj7", "0:m7 10:7 8:maj7 7:m7", "5:m9 0:m7",
              "0:maj7 9:m7 2:m7 7:9"),
    "rock": ("0:5 7:5 9:5 5:5", "0:5 5:5 7:5 5:5", "0:5 10:5 5:5 0:5", "0:5 8:5 10:5 0:5",
             "0:5 3:5 5:5 3:5"),
    "hiphop": ("0:m9 8:maj7", "0:m7 5:m7", "2:m7 7:9 0:maj9 0:maj9", "0:m7 3:maj7 8:maj7 7:7"),
    "jazz": ("2:m7 7:7 0:maj7 9:7", "0:maj7 9:m7 2:m7 7:7", "4:m7 9:7 2:m7 7:7",
             "2:m7b5 7:7 0:m7 0:m7", "0:6 0:6 2:m7 7:9"),
    "reggae": ("0:maj 5:maj", "0:min 5:min", "0:maj 7:maj 9:min 5:maj", "0:min 10:maj",
               "0:maj 10:maj 5:maj 0:maj"),
    "ambient": ("0:maj7 5:maj7", "0:add9 9:m7 5:maj7 7:sus4", "0:m9 8:maj7", "0:sus2 5:sus2 3:maj7",
                "0:maj9 2:m9"),
    "metal": ("0:5 1:5", "0:5 8:5 10:5 0:5", "0:5 0:5 6:5 5:5", "0:5 3:5 1:5 0:5"),
    "country": ("0:maj 5:maj 7:maj 0:maj", "0:maj 7:maj 5:maj 0:maj", "0:maj 0:maj 5:maj 7:7",
                "0:maj 9:min 5:maj 7:maj", "0:maj 2:7 7:7 0:maj"),
    "classical": ("0:maj 5:maj 7:7 0:maj", "0:maj 2:min 7:7 0:maj", "0:min 5:min 7:7 0:min",
                  "0:min 8:maj 5:min 7:7", "0:maj 7:maj 9:min 4:min 5:maj 0:maj 5:maj 7:maj"),
    "dnb": ("0:m7 8:maj7", "0:m9 5:m9", "0:min 10:maj 8:maj 7:min", "0:m7 3:maj7"),
}  # fmt: skip
"""Chord progressions per genre: ``semitones-above-tonic:quality`` per chord."""


def _harmony(c: _Ctx, genre: str, pers: Sequence[float]) -> _Harmony:
    """Pick one of the genre's progressions, transposed to the clip's key."""
    chords = []
    for item in c.pick(_PROGRESSIONS[genre]).split():
        off, quality = item.split(":")
        chords.append(((c.tonic + int(off)) % 12, quality))
    return _Harmony(chords, float(c.pick(pers)))


def _held(c: _Ctx, h: _Harmony, low: int, bass: bool = False) -> list[Event]:
    """Each chord held for its whole length (pads, strings); ``bass`` gives only the root."""
    events: list[Event] = []
    for b in h.starts(c):
        pc, q = h.at(b + 1e-6)
        notes = [_root(pc, low)] if bass else _voicing(pc, q, low)
        events += [(float(b), h.per, m, 1.0) for m in notes]
    return events


def _filter_sweep(c: _Ctx, x: np.ndarray, dark: float, bright: float, rate: float) -> np.ndarray:
    """Slow filter movement: crossfade of a dark and a bright low-passed copy by a sine LFO."""
    lfo = 0.5 * (1 + np.sin(2 * np.pi * rate * np.arange(c.n) / c.sr + c.u(0, 6.3)))
    lo = _filt(x, "lowpass", dark, c.sr)
    return lo + (1 - lfo) * (_filt(x, "lowpass", bright, c.sr) - lo)


def _house(c: _Ctx) -> list[_Part]:
    clap = _clap(c, c.u(0.05, 0.12)) if c.chance(0.6) else _snare(c, 200, 0.09, (1e3, 7e3), 0.8)
    kit = {
        "kick": _kick(
            c, c.u(120, 180), c.u(42, 56), c.u(0.02, 0.045), c.u(0.12, 0.25), c.u(0.1, 0.4)
        ),
        "clap": clap,
        "chat": _hat(c, c.u(0.015, 0.04), c.u(0, 0.6)) * 0.5,
        "ohat": _hat(c, c.u(0.08, 0.25), c.u(0, 0.6)) * 0.7,
    }
    pats = {
        "kick": "X...X...X...X...",
        "clap": c.pick(["....X.......X...", "....X.......X..g"]),
        "ohat": "..x...x...x...x.",
        "chat": c.pick(["x.x.x.x.x.x.x.x.", "gxggxgggxggxxgxg", "oooooooooooooooo"]),
    }
    drums = _drums(c, kit, pats, swing16=c.u(0, 0.25), jitter=0.001, phrase=8)
    h = _harmony(c, "house", [4, 8])
    low = int(c.u(53, 60))
    if c.chance(0.55):  # offbeat / syncopated stabs
        inst = c.pick([
            _tone(c, np.array([1, 0.8, 0.6, 0.5, 0, 0.4, 0, 0.3]), (0.003, 0.1, 0.7, 0.04)),
            _fm(c, 1.0, c.u(1.5, 3), 0.15, c.u(0.3, 0.6)),
            _tone(c, _saw(tilt=c.u(1, 1.6)), (0.003, 0.12, 0.3, 0.05), voices=2, detune=12),
        ])  # fmt: skip
        rhythm = c.pick(
            ["..x...x...x...x.", "x..x..x...x..x..", "...x..x....x..x.", "..x..x....x..x.."]
        )
        chords = _render(c, _comp(c, h, rhythm, c.u(0.2, 0.6), low), inst)
    else:  # sustained pad pumped by the kick (side-chain)
        inst = _tone(c, _saw(tilt=c.u(1.2, 2)), (0.05, 0.5, 0.8, 0.2), voices=3, detune=c.u(6, 15))
        chords = _render(c, _held(c, h, low), inst)
        since_beat = (np.arange(c.n) % c.beat) / c.sr
        chords *= 1 - c.u(0.4, 0.8) * np.exp(-since_beat / c.u(0.06, 0.15))
    chords = _filt(chords, "lowpass", c.u(1500, 6000), c.sr)
    bass_inst = _pluck(c, _saw(), _saw(tilt=2.5), c.u(0.05, 0.15), c.u(0.2, 0.5), mix=c.u(0.3, 0.7))
    rhythm = c.pick(["..X...X...X...X.", "..X..xX...X..xX.", "..X...X.x.X...X."])
    steps = c.pick([(0,), (0, 12), (0, 0, 7)])
    bass = _render(c, _bassline(c, h, rhythm, c.u(0.25, 0.45), int(c.u(31, 38)), steps), bass_inst)
    bass = _filt(bass, "lowpass", c.u(400, 1200), c.sr)
    return [
        _Part(drums, 0.0, c.u(0.0, 0.15)),
        _Part(chords, c.u(-6, -1), c.u(0.2, 0.5)),
        _Part(bass, c.u(-4, 0)),
    ]


def _rock(c: _Ctx) -> list[_Part]:
    kit = {
        "kick": _kick(
            c, c.u(90, 130), c.u(50, 65), c.u(0.01, 0.03), c.u(0.08, 0.15), c.u(0.3, 0.8)
        ),
        "snare": _snare(c, c.u(170, 230), c.u(0.1, 0.2), (c.u(700, 1500), 9e3), c.u(0.5, 0.8)),
        "hat": _hat(c, c.u(0.025, 0.06), c.u(0, 0.5)) * 0.55,
        "crash": _crash(c, c.u(0.8, 1.4)) * 0.7,
    }
    hat = c.pick(["x.x.x.x.x.x.x.x.", "X.x.X.x.X.x.X.x.", "xxxxxxxxxxxxxxxx"])
    if c.chance(0.3):
        kit["hat"] = _ride(c, c.u(350, 500), c.u(0.6, 1.0)) * 0.5
        hat = "x.x.x.x.x.x.x.x."
    pats = {
        "kick": c.pick(
            ["X.......X.X.....", "X......xX.x.....", "X.x.....X.x..x..", "X...X...X...X..."]
        ),
        "snare": c.pick(["....X.......X...", "....X.......X..g", "....X..g....X..."]),
        "hat": hat,
    }
    fill = {
        "snare": c.pick(["....X.......XxXx", "....X...X.X.XXXX", "....X.....XxXxXx"]),
        "hat": "x.x.x.x.x.......",
        "kick": "X.......X.......",
    }
    drums = _drums(c, kit, pats, fill=fill, phrase=c.pick([4, 8]))
    h = _harmony(c, "rock", [2, 4, 4, 8])
    if c.chance(0.45):  # open triads instead of power chords
        h.chords = [(pc, c.pick(["maj", "min"])) for pc, _ in h.chords]
    rhythm, dur = c.pick([("x.x.x.x.x.x.x.x.", 0.45), ("X.......X.x.x...", 0.45),
                          ("X.......X.......", 1.9), ("X.....X.....X...", 1.4),
                          ("X..x..x.X..x..x.", 0.7)])  # fmt: skip
    gtr = _tone(c, _saw(tilt=c.u(0.9, 1.3)), (0.003, 0.4, 0.75, 0.05), voices=2, detune=c.u(4, 12))
    guitar = _render(c, _comp(c, h, rhythm, dur, int(c.u(40, 50))), gtr)
    guitar = _distort(c, guitar, c.u(2, 6), c.u(3000, 5500))
    bass_inst = _pluck(c, _saw(), _square(tilt=2), c.u(0.06, 0.2), c.u(0.4, 1), mix=c.u(0.3, 0.6))
    bass = _render(c, _bassline(c, h, "x.x.x.x.x.x.x.x.", 0.45, int(c.u(28, 36))), bass_inst)
    bass = _filt(bass, "lowpass", c.u(600, 2000), c.sr)
    return [
        _Part(drums, 0.0, c.u(0.05, 0.25)),
        _Part(guitar, c.u(-4, 0), c.u(0.05, 0.25)),
        _Part(bass, c.u(-7, -3)),
    ]


def _crackle(c: _Ctx) -> np.ndarray:
    """Vinyl crackle: random high-passed clicks."""
    out = np.zeros(c.n)
    pops = c.rng.integers(0, c.n, int(c.u(3, 25) * c.n / c.sr))
    out[pops] = c.rng.standard_normal(pops.size)
    return _filt(out, "highpass", 1500.0, c.sr)


def _hiphop(c: _Ctx) -> list[_Part]:
    if c.chance(0.65):
        snare = _snare(c, c.u(160, 210), c.u(0.12, 0.22), (c.u(500, 1000), 6e3), c.u(0.6, 0.85))
    else:
        snare = _clap(c, c.u(0.08, 0.15))
    kit = {
        "kick": _kick(
            c, c.u(80, 120), c.u(40, 52), c.u(0.02, 0.05), c.u(0.15, 0.3), c.u(0.05, 0.3)
        ),
        "snare": snare,
        "hat": _hat(c, c.u(0.02, 0.05), c.u(0, 0.7)) * 0.45,
    }
    pats = {
        "kick": c.pick(
            ["X......xX.x.....", "X.x.......X.....", "X..x....x.X.....", "X......X..X..x.."]
        ),
        "snare": c.pick(["....X.......X...", "....X..g....X..g", "....X.......X.g."]),
        "hat": c.pick(["x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx", "x.xgx.x.x.xgx.x."]),
    }
    swing = c.u(0.15, 0.6)
    drums = _drums(c, kit, pats, swing16=swing, jitter=0.006)
    h = _harmony(c, "hiphop", [4, 8])
    inst = c.pick([
        _fm(c, 1.0, c.u(1.2, 2.5), c.u(0.1, 0.3), c.u(0.8, 1.6), 0.2),
        _pluck(c, _saw(tilt=1.2), _saw(tilt=3.0, k=8), c.u(0.15, 0.3), c.u(1, 2), 0.2),
    ])  # fmt: skip
    rhythm = c.pick(
        ["X...............", "X.....x.........", "X.........x.....", "x.....x...x....."]
    )
    keys = _render(c, _comp(c, h, rhythm, c.u(1.0, 3.0), int(c.u(55, 62)), swing16=swing), inst)
    keys = _filt(keys, "lowpass", c.u(1500, 4500), c.sr)  # "sampled" dusty keys
    sub = _sub808(c, c.u(0.4, 1.0), c.u(1, 3))
    line = _bassline(c, h, pats["kick"].upper(), c.u(0.6, 1.5), int(c.u(28, 36)), swing16=swing)
    parts = [
        _Part(drums, 0.0, c.u(0.0, 0.1)),
        _Part(keys, c.u(-7, -2), c.u(0.1, 0.3)),
        _Part(_render(c, line, sub), c.u(-5, -1)),
    ]
    if c.chance(0.6):
        parts.append(_Part(_crackle(c), c.u(-26, -16)))
    return parts


def _walking_bass(c: _Ctx, h: _Harmony, low: int) -> list[Event]:
    """Quarter-note walking line: root on chord starts, chord/scale tones, chromatic approach."""
    events: list[Event] = []
    prev = _root(h.chords[0][0], low)
    for b in range(c.n_bars * 4):
        pc, q = h.at(b + 1e-6)
        if b % h.per == 0:
            note = _root(pc, low)
        elif (b + 1) % h.per == 0:
            note = _root(h.at(b + 1 + 1e-6)[0], low) + c.pick([-1, 1, -1, -5])
        else:
            cands = [_root(pc, low) + i for i in (*_QUALITY[q][:4], 2, 9, 12)]
            note = min(cands, key=lambda m: abs(m - prev) + 3 * c.rng.random() + 9 * (m == prev))
        events.append((float(b), 0.9, int(note), c.pick([1.0, 0.8, 0.9])))
        prev = note
    return events


def _jazz_comping(c: _Ctx, h: _Harmony, swing: float) -> list[Event]:
    """Rootless chord voicings on a fresh syncopated rhythm every bar."""
    rhythms = ["x.....x.........", "......x.....x...", "X...............", "..x.......x.....",
               "...x......x.....", "......x...x....."]  # fmt: skip
    low = int(c.u(52, 58))
    events: list[Event] = []
    for bar in range(c.n_bars):
        for beat, v in _grid(c, c.pick(rhythms), swing8=swing, bars=range(bar, bar + 1)):
            pc, q = h.at(beat + 1e-6)
            rootless = [n for n in _voicing(pc, q, low) if n % 12 != pc] or _voicing(pc, q, low)
            dur = c.u(0.3, 1.5)
            events += [(beat, dur, m, v) for m in rootless]
    return events


def _jazz(c: _Ctx) -> list[_Part]:
    kit = {
        "ride": _ride(c, c.u(300, 520), c.u(0.7, 1.4)),
        "hatfoot": _hat(c, 0.03, 0.3) * 0.35,
        "kick": _kick(c, c.u(90, 120), c.u(60, 80), 0.02, c.u(0.08, 0.14), 0.1) * 0.3,
        "snare": _brush(c, c.u(0.08, 0.2))
        if c.chance(0.5)
        else _snare(c, 220, 0.12, (1e3, 8e3), 0.7),
    }
    pats = {
        "ride": c.pick(["X...x.xgX...x.xg", "X...X.x.X...X.x.", "x...X.x.x...X.x."]),
        "hatfoot": "....X.......X...",
        "kick": c.pick(["g...g...g...g...", "................", "g.........g....."]),
        "snare": c.pick(["......g.....g.g.", "..g.......g...g.", "g.....g...g....g"]),
    }
    swing = c.u(0.55, 1.0) if c.bpm < 170 else c.u(0.3, 0.7)
    drums = _drums(c, kit, pats, swing8=swing, ghost=0.5, jitter=0.006)
    h = _harmony(c, "jazz", [2, 4, 4])
    bass_inst = _pluck(c, _saw(16, 1.5), _saw(6, 2.5), c.u(0.05, 0.12), c.u(0.3, 0.7), 0.06,
                       mix=c.u(0.2, 0.5))  # fmt: skip
    bass = _render(c, _walking_bass(c, h, int(c.u(33, 41))), bass_inst, 0.008)
    piano = c.pick([
        _pluck(c, _saw(24, 1.1), _saw(8, 2.2), c.u(0.2, 0.4), c.u(1.2, 2.5), 0.12),
        _fm(c, 1.0, c.u(1.0, 2.0), c.u(0.1, 0.3), c.u(0.8, 1.5), 0.15),
        _tone(c, np.array([1, 0.9, 0.7, 0.5, 0, 0.3, 0, 0.25]), (0.004, 0.2, 0.8, 0.05)),
    ])  # fmt: skip
    keys = _render(c, _jazz_comping(c, h, swing), piano, 0.008)
    return [
        _Part(drums, c.u(-3, 0), c.u(0.1, 0.3)),
        _Part(_filt(bass, "lowpass", 900.0, c.sr), c.u(-3, 0), c.u(0.05, 0.15)),
        _Part(keys, c.u(-6, -1), c.u(0.15, 0.35)),
    ]


def _reggae(c: _Ctx) -> list[_Part]:
    rim = _rim(c) if c.chance(0.6) else _snare(c, c.u(250, 330), c.u(0.05, 0.1), (1e3, 7e3), 0.6)
    kit = {
        "kick": _kick(c, c.u(90, 120), c.u(45, 55), c.u(0.02, 0.04), c.u(0.15, 0.3), 0.1),
        "rim": rim,
        "hat": _hat(c, c.u(0.02, 0.05), c.u(0, 0.5)) * 0.4,
        "ohat": _hat(c, c.u(0.1, 0.2), 0.3) * 0.4,
    }
    pats = {  # one drop (kick and rim together on beat 3) or rockers
        "kick": c.pick(["........X.......", "........X.......", "X.......X......."]),
        "rim": c.pick(["........X.......", "........X.....g.", "....g...X......."]),
        "hat": c.pick(["x.x.x.x.x.x.x.x.", "x.xgx.x.x.xgx.x.", "x...x...x...x..."]),
        "ohat": c.pick(["................", "..............x.", "......x.......x."]),
    }
    swing = c.u(0.1, 0.6)
    drums = _drums(c, kit, pats, swing8=swing, jitter=0.005)
    h = _harmony(c, "reggae", [4, 8])
    skank_inst = c.pick([
        _karplus(c, c.u(0.6, 0.95), c.u(0.2, 0.5)),
        _tone(c, np.array([1, 0.6, 0.4, 0.5, 0.2, 0.3]), (0.002, 0.08, 0.3, 0.03)),
    ])  # fmt: skip
    rhythm = c.pick(["....X.......X...", "....X.x.....X.x.", "....X.......X.x."])
    events = _comp(c, h, rhythm, c.u(0.12, 0.25), int(c.u(58, 66)), swing8=swing, strum=0.012)
    skank = _filt(_render(c, events, skank_inst), "highpass", 300.0, c.sr)
    if c.chance(0.5):  # dub echo
        skank = _echo(c, skank, c.pick([0.75, 1.5, 0.5]), c.u(0.25, 0.5))
    bass_inst = _pluck(c, np.array([1, 0.3, 0.1]), np.array([1.0, 0.15]), c.u(0.1, 0.3),
                       c.u(0.6, 1.5), 0.05, mix=0.3)  # fmt: skip
    rhythm = c.pick(
        ["..X...x.X.x.....", "X.....x.X...x.x.", "....X.x.X..x..x.", "X..x..x...X.x..."]
    )
    steps = c.pick([(0, 7, 12, 10), (0, 0, 7, 5), (0, 3, 7, 12)])
    line = _bassline(c, h, rhythm, c.u(0.4, 0.9), int(c.u(31, 38)), steps, swing8=swing)
    bass = _filt(_render(c, line, bass_inst), "lowpass", c.u(300, 800), c.sr)
    parts = [
        _Part(drums, 0.0, c.u(0.1, 0.3)),
        _Part(skank, c.u(-8, -3), c.u(0.1, 0.3)),
        _Part(bass, c.u(0, 3)),
    ]
    if c.chance(0.5):  # organ bubble
        org = _tone(c, np.array([1, 0.5, 0.8, 0, 0.4]), (0.003, 0.05, 0.6, 0.03))
        bub = _comp(c, h, "..x.x.x...x.x.x.", 0.2, int(c.u(48, 55)), swing8=swing)
        parts.append(_Part(_render(c, bub, org), c.u(-14, -8), 0.1))
    return parts


def _ambient(c: _Ctx) -> list[_Part]:
    h = _harmony(c, "ambient", [8, 12, 16])
    pad_inst = _tone(
        c,
        c.pick([_saw(tilt=c.u(1.2, 2.2)), _square(tilt=1.5)]),
        (c.u(0.8, 2.5), 2.0, 0.8, c.u(1.0, 2.5)),
        voices=3,
        detune=c.u(6, 18),
        vib=(c.u(0.2, 5), c.u(0, 0.004)),
    )
    pad = _render(c, _held(c, h, int(c.u(50, 60))), pad_inst, 0.0)
    pad = _filter_sweep(c, pad, c.u(400, 900), c.u(1500, 4000), c.u(0.03, 0.2))
    drone_inst = _tone(c, np.array([1.0, 0.2, 0.05]), (2.0, 1.0, 1.0, 1.0))
    drone = _render(c, _held(c, h, int(c.u(33, 40)), bass=True), drone_inst, 0.0)
    parts = [_Part(pad, 0.0, c.u(0.5, 0.9)), _Part(drone, c.u(-12, -4), 0.3)]
    if c.chance(0.7):  # sparse bells from the pentatonic scale
        bell = _fm(c, c.pick([3.5, 1.4, 2.76]), c.u(1.5, 3.5), c.u(0.3, 1.0), c.u(1.0, 3.0), 0.5)
        n_notes = int(c.n / c.sr * c.u(0.3, 1.2)) + 1
        beats = np.sort(c.rng.uniform(0, c.n / c.beat, n_notes))
        top = _root(c.tonic, int(c.u(64, 72)))
        events = [
            (round(b * 2) / 2, 2.0, top + c.pick((0, 2, 4, 7, 9, 12, 14)), c.u(0.4, 1))
            for b in beats
        ]
        parts.append(_Part(_render(c, events, bell), c.u(-12, -5), c.u(0.6, 1.0)))
    if c.chance(0.5):  # filtered-noise wind
        band = (c.u(300, 800), c.u(1500, 4000))
        wind = _filt(c.rng.standard_normal(c.n), "bandpass", band, c.sr)
        parts.append(_Part(wind * _swell(c, 0.3, (5, 15)), c.u(-22, -12), 0.5))
    return parts


def _metal_riff(c: _Ctx, h: _Harmony, riff: str, low: int) -> list[Event]:
    """Palm-muted chugs on the root with accented power chords and chromatic passing notes."""
    moves = (0, 0, 0, 0, 0, 0, 1, 3, 6, 7, 12)
    events: list[Event] = []
    for k, (beat, v) in enumerate(_grid(c, riff)):
        root = _root(h.at(beat + 1e-6)[0], low)
        if k % 8 == 0:
            events += [(beat, 0.45, root + i, 1.0) for i in (0, 7, 12)]
        else:
            events.append((beat, 0.12, root + (c.pick(moves) if c.chance(0.25) else 0), v))
    return events


def _metal(c: _Ctx) -> list[_Part]:
    hat = _ride(c, c.u(400, 600), 0.5) if c.chance(0.5) else _hat(c, 0.04, 0.5)
    kit = {
        "kick": _kick(
            c, c.u(120, 170), c.u(55, 70), c.u(0.005, 0.015), c.u(0.05, 0.09), c.u(0.8, 1.5)
        ),
        "snare": _snare(c, c.u(200, 260), c.u(0.08, 0.15), (c.u(1500, 2500), 9e3), c.u(0.6, 0.8)),
        "hat": hat * 0.5,
        "crash": _crash(c, c.u(0.6, 1.2)) * 0.8,
    }
    pats = {
        "kick": c.pick(
            ["XxXxXxXxXxXxXxXx", "X.xxX.xxX.xxX.xx", "XxXxXxXxX.X.XxXx", "XxXxXxXxXxXxX.X."]
        ),
        "snare": c.pick(["....X.......X...", "........X.......", "X...X...X...X..."]),
        "hat": c.pick(["x.x.x.x.x.x.x.x.", "X...X...X...X...", "x.x.x.x.x.x.x.x."]),
    }
    drums = _drums(c, kit, pats, jitter=0.002, phrase=c.pick([2, 4]))
    h = _harmony(c, "metal", [4, 8])
    low = int(c.u(28, 38))
    riff = c.pick(["XxxxXxxxXxxxXxxx", "X.xxX.xxX.xxX.xx", "XxXxX.XxXxXxX.Xx", "x.x.x.x.xxx.x.x."])
    events = _metal_riff(c, h, riff, low)
    gtr = _tone(c, _saw(tilt=c.u(0.8, 1.2)), (0.002, 0.08, 0.5, 0.02), voices=2, detune=c.u(5, 15))
    guitar = _distort(c, _render(c, events, gtr, 0.002), c.u(25, 60), c.u(2500, 4500))
    double = _distort(c, _render(c, events, gtr, 0.002), c.u(25, 60), c.u(2500, 4500))
    bass_inst = _pluck(c, _saw(), _square(tilt=2), 0.05, 0.3, mix=0.5)
    line = _bassline(c, h, riff, 0.2, low - 12)
    bass = _filt(_render(c, line, bass_inst), "lowpass", 800.0, c.sr)
    return [
        _Part(drums, c.u(-2, 1), c.u(0.05, 0.2)),
        _Part(guitar + 0.7 * double, c.u(-2, 1), c.u(0.05, 0.2)),
        _Part(bass, c.u(-9, -4)),
    ]


def _phrase_rhythm(c: _Ctx, durs: Sequence[float]) -> list[tuple[float, float]]:
    """Consecutive (start, length) note slots covering the clip, lengths drawn from ``durs``."""
    out = []
    b = 0.0
    while b < c.n_bars * 4:
        d = float(c.pick(durs))
        out.append((b, d))
        b += d
    return out


def _country(c: _Ctx) -> list[_Part]:
    brush = _brush(c, c.u(0.05, 0.12)) if c.chance(0.6) else _snare(c, 200, 0.08, (1500, 8e3), 0.8)
    kit = {
        "kick": _kick(c, c.u(90, 120), c.u(55, 70), 0.02, c.u(0.08, 0.15), 0.3),
        "snare": brush,
        "hat": _hat(c, 0.03, 0.2) * 0.3,
    }
    if c.chance(0.6):  # train beat
        pats = {
            "kick": "X.......X.......",
            "snare": c.pick(["xoxoXoxoxoxoXoxo", "xgxgXgxgxgxgXgxg"]),
        }
    else:  # boom-chick
        pats = {"kick": "X.......X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."}
    drums = _drums(c, kit, pats, ghost=0.8, jitter=0.004)
    h = _harmony(c, "country", [4, 8])
    gtr = _karplus(c, c.u(0.4, 0.9), c.u(0.8, 2.0))
    if c.chance(0.5):  # boom-chuck: bass string on 1 and 3, strum on 2 and 4
        upper = lambda pc, q: _guitar_voicing(pc, q)[2:]  # noqa: E731
        events = _comp(c, h, "....x.......x...", 0.9, 0, strum=c.u(0.01, 0.03), voicing=upper)
        events += _bassline(c, h, "X.......X.......", 1.5, 40, (0, 7))
    else:  # down-up strumming
        rhythm = c.pick(["X.x.x.xxX.x.x.xx", "X...x.xxX.x.x.x.", "X.x.X.x.X.x.X.x."])
        events = _comp(c, h, rhythm, 0.9, 0, strum=c.u(0.008, 0.02), voicing=_guitar_voicing)
    guitar = _render(c, events, gtr, 0.005)
    bass_inst = _pluck(c, _saw(12, 1.5), _saw(5, 2.5), 0.1, c.u(0.4, 0.8), mix=0.3)
    bass = _render(c, _bassline(c, h, "X.......X.......", 1.6, int(c.u(28, 36)), (0, 7)), bass_inst)
    parts = [
        _Part(drums, c.u(-5, -1), c.u(0.05, 0.2)),
        _Part(guitar, 0.0, c.u(0.1, 0.3)),
        _Part(_filt(bass, "lowpass", 1000.0, c.sr), c.u(-6, -2)),
    ]
    if c.chance(0.5):  # fiddle lead on the major pentatonic
        vib = (c.u(5, 6.5), c.u(0.003, 0.008))
        fiddle = _tone(c, _saw(24, 1.3), (0.05, 0.3, 0.8, 0.1), vib=vib)
        top = _root(c.tonic, 64)
        slots = _phrase_rhythm(c, (1.0, 2.0, 0.5))
        events = [(b, d, top + c.pick((0, 2, 4, 7, 9, 12)), 1.0) for b, d in slots]
        lead = _filt(_render(c, events, fiddle), "bandpass", (400.0, 5000.0), c.sr)
        parts.append(_Part(lead, c.u(-10, -5), 0.3))
    return parts


def _alberti(c: _Ctx, h: _Harmony) -> list[Event]:
    """Broken-chord accompaniment (Alberti bass, arpeggios) in 8ths, 16ths or triplets."""
    pattern = c.pick([(0, 2, 1, 2), (0, 1, 2, 1), (0, 1, 2, 3), (0, 2, 1, 2, 0, 2, 1, 2)])
    rate = c.pick([0.5, 0.5, 0.25, 1 / 3])
    low = int(c.u(45, 52))
    events: list[Event] = []
    for k, b in enumerate(np.arange(0, c.n_bars * 4, rate)):
        notes = _voicing(*h.at(b + 1e-6), low)
        events.append((float(b), rate * 1.5, notes[pattern[k % len(pattern)] % len(notes)], 0.8))
    return events


def _classical(c: _Ctx) -> list[_Part]:
    h = _harmony(c, "classical", [2, 4, 4])
    ensemble = c.pick(["piano", "strings", "mixed"])
    piano = _pluck(c, _saw(30, c.u(1.0, 1.4)), _saw(8, 2.2), c.u(0.2, 0.5), c.u(1.5, 3), 0.15)
    adsr = (c.u(0.15, 0.5), 0.5, 0.9, c.u(0.3, 0.6))
    vib = (c.u(4.5, 6), c.u(0.002, 0.005))
    strings = _tone(c, _saw(tilt=c.u(1.1, 1.6)), adsr, voices=3, detune=c.u(5, 12), vib=vib)
    parts: list[_Part] = []
    if ensemble in ("piano", "mixed"):
        parts.append(_Part(_render(c, _alberti(c, h), piano, 0.008), 0.0, c.u(0.3, 0.5)))
    if ensemble in ("strings", "mixed"):
        low = int(c.u(50, 57))
        events = _held(c, h, low) + _held(c, h, low - 12, bass=True)
        section = _filt(_render(c, events, strings, 0.01), "lowpass", c.u(2000, 5000), c.sr)
        parts.append(_Part(section, c.u(-3, 0), c.u(0.3, 0.6)))
    flute = _tone(c, np.array([1, 0.3, 0.1, 0.05]), (0.08, 0.3, 0.9, 0.15), vib=(5.0, 0.004))
    lead = piano if ensemble == "piano" else c.pick([strings, flute])
    minor = h.chords[0][1] == "min"
    scale = (0, 2, 3, 5, 7, 8, 11, 12) if minor else (0, 2, 4, 5, 7, 9, 11, 12)
    deg = 3
    events = []
    for b, d in _phrase_rhythm(c, (0.5, 1.0, 1.0, 2.0)):  # stepwise melody
        deg = int(np.clip(deg + c.pick([-2, -1, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
        events.append((b, d, _root(c.tonic, 67) + scale[deg], 0.9))
    parts.append(_Part(_render(c, events, lead, 0.01), c.u(-6, -1), c.u(0.3, 0.5)))
    gain = _swell(c, c.u(0.3, 0.8), (6, 20))
    return [_Part(p.audio * gain, p.level_db, p.send) for p in parts]


def _dnb(c: _Ctx) -> list[_Part]:
    kit = {
        "kick": _kick(
            c, c.u(120, 160), c.u(45, 60), c.u(0.01, 0.03), c.u(0.1, 0.18), c.u(0.3, 0.7)
        ),
        "snare": _snare(c, c.u(180, 240), c.u(0.1, 0.18), (c.u(800, 1500), 9e3), c.u(0.6, 0.8)),
        "hat": _hat(c, c.u(0.015, 0.04), c.u(0, 0.6)) * 0.4,
        "crash": _ride(c, c.u(400, 600), 0.8) * 0.4,
    }
    pats = {
        "kick": c.pick(
            ["X.........X.....", "X.X.......X.....", "X.........X..x..", "X.....X...X....."]
        ),
        "snare": c.pick(
            ["....X..g.g..X...", "....X.......X...", "....X..g.g..X..g", "....X.g...g.X..."]
        ),
        "hat": c.pick(["x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx", "gxgxgxgxgxgxgxgx"]),
    }
    drums = _drums(c, kit, pats, swing16=c.u(0, 0.2), jitter=0.002, phrase=8, ghost=0.7)
    h = _harmony(c, "dnb", [8, 16])
    reese = _tone(c, _saw(tilt=c.u(0.9, 1.3)), (0.01, 0.5, 0.9, 0.1), voices=2, detune=c.u(12, 30))
    low = int(c.u(28, 35))
    twice = _Harmony([ch for ch in h.chords for _ in (0, 1)], h.per / 2)  # re-attack per half
    bass = _render(c, _held(c, twice, low, bass=True), reese, 0.0)
    bass = _filter_sweep(c, bass, c.u(150, 300), c.u(500, 1200), c.u(0.2, 1.0))
    bass = np.tanh(c.u(1, 3) * _norm(bass))
    pad_inst = _tone(c, _saw(tilt=1.8), (c.u(0.5, 1.5), 1.0, 0.8, 1.0), voices=3, detune=c.u(6, 15))
    pad = _render(c, _held(c, h, int(c.u(55, 62))), pad_inst, 0.0)
    pad = _filt(pad, "lowpass", c.u(1000, 3000), c.sr)
    return [
        _Part(drums, 0.0, c.u(0.05, 0.2)),
        _Part(bass, c.u(-4, 0)),
        _Part(pad, c.u(-14, -6), c.u(0.4, 0.8)),
    ]


@dataclass(frozen=True)
class GenreInfo:
    """How one synthetic genre is made: tempo range (BPM), reverb time range (s), description."""

    name: str
    tempo: tuple[float, float]
    room: tuple[float, float]
    summary: str
    compose: Callable[[_Ctx], list[_Part]] = field(repr=False, compare=False)


_INFO = (
    GenreInfo("house", (116, 130), (0.5, 1.5), "four-on-the-floor kick, offbeat open hats, clap "
              "on 2/4, minor 7th/9th stabs or side-chained pads, offbeat synth bass", _house),
    GenreInfo("rock", (98, 145), (0.4, 1.2), "backbeat snare on 2/4 with fills and crashes, "
              "crunchy power chords or open triads (8ths or held), pick bass", _rock),
    GenreInfo("hiphop", (80, 102), (0.3, 1.0), "swung boom-bap breakbeat, dusty FM/piano "
              "7th-chord loop, 808 sub-bass, vinyl crackle", _hiphop),
    GenreInfo("jazz", (105, 200), (0.6, 1.6), "swing ride pattern, hi-hat on 2/4, brushes, "
              "walking bass, rootless 7th-chord comping on ii-V-I progressions", _jazz),
    GenreInfo("reggae", (66, 88), (0.6, 1.8), "one-drop drums, off-beat skank chords with dub "
              "echo, deep melodic bass, organ bubble", _reggae),
    GenreInfo("ambient", (60, 92), (2.5, 5.0), "no drums: slow detuned pads with moving filter, "
              "drone, sparse FM bells, wind, long reverb", _ambient),
    GenreInfo("metal", (142, 205), (0.3, 1.0), "double-kick 16ths, heavily distorted palm-muted "
              "chugs and power chords, chromatic riffs, crashes", _metal),
    GenreInfo("country", (88, 126), (0.4, 1.2), "train beat or boom-chick brushes, "
              "Karplus-Strong strummed acoustic guitar, root-fifth bass, fiddle", _country),
    GenreInfo("classical", (60, 140), (1.8, 3.2), "no drums: piano Alberti/broken chords and/or "
              "string section, stepwise melody, slow dynamics, hall reverb", _classical),
    GenreInfo("dnb", (160, 180), (0.8, 2.0), "fast breakbeat with ghost snares, detuned reese "
              "bass with moving filter, atmospheric pads", _dnb),
)  # fmt: skip

GENRE_INFO: dict[str, GenreInfo] = {g.name: g for g in _INFO}
"""Every synthetic genre by name."""

GENRES: tuple[str, ...] = tuple(g.name for g in _INFO)
"""Synthetic genre names in their fixed order; collections use the first ``n_genres``."""


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _master(c: _Ctx, y: np.ndarray) -> np.ndarray:
    """Random master tone, optional soft limiting and background noise."""
    y = _filt(y, "highpass", c.u(20, 50), c.sr, 1)
    if c.chance(0.5):
        y = _filt(y, "lowpass", c.u(4000, 11000), c.sr, 1)
    if c.chance(0.3):
        y = np.tanh(c.u(1.5, 3.0) * _norm(y))
    rms = float(np.sqrt(np.mean(y**2))) + 1e-12
    w = c.u(0, 1)
    noise = w * _norm(c.rng.standard_normal(c.n)) + (1 - w) * _pink(c, c.n)
    return y + noise * rms * 10 ** (-c.u(22, 50) / 20)


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _check_sr(sr: int) -> None:
    if not _is_int(sr) or not 8000 <= sr <= 192000:
        raise ValueError(f"sample rate must be an integer between 8000 and 192000 Hz, got {sr!r}")


def _check_seconds(seconds: float) -> None:
    if not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    if seconds > 3600:
        raise ValueError(f"seconds must be at most 3600 (one hour) per clip, got {seconds!r}")


def generate_clip(genre: str, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render one random clip of a synthetic genre: float32 mono, finite, peak in [0.5, 0.95].

    Key, tempo, timbres, mix, room, noise and start offset are all drawn from ``rng``.
    """
    if genre not in GENRE_INFO:
        raise ValueError(f"unknown synthetic genre {genre!r}; known genres: {', '.join(GENRES)}")
    _check_seconds(seconds)
    _check_sr(sr)
    info = GENRE_INFO[genre]
    n = max(1, int(round(seconds * sr)))
    bpm = float(rng.uniform(*info.tempo))
    offset = int(rng.uniform(0.0, 1.0) * 4 * 60.0 * sr / bpm)
    c = _Ctx(sr=int(sr), n=n + offset, rng=rng, bpm=bpm, tonic=int(rng.integers(12)))
    y = _master(c, _mix(c, info.compose(c), c.u(*info.room)))[offset : offset + n]
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return (_norm(y) * c.u(0.5, 0.95)).astype(np.float32)


def _check_collection_args(n_genres: int, clips_per_genre: int, seconds: float, sr: int, seed: int,
                           fmt: str) -> str:  # fmt: skip
    """Validate collection settings; returns the normalised format name."""
    fmt_key = str(fmt).lower().lstrip(".")
    if fmt_key not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not _is_int(n_genres) or not 1 <= n_genres <= len(GENRES):
        raise ValueError(f"n_genres must be an integer from 1 to {len(GENRES)}, got {n_genres!r}")
    if not _is_int(clips_per_genre) or clips_per_genre < 1:
        raise ValueError(f"clips_per_genre must be an integer >= 1, got {clips_per_genre!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    _check_seconds(seconds)
    _check_sr(sr)
    if fmt_key == "mp3" and sr not in MP3_RATES:
        raise ValueError(f"mp3 cannot store {sr} Hz; use one of {sorted(MP3_RATES)} or wav/flac")
    return fmt_key


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a hidden temporary file in the same folder, then rename into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _readme(n_genres: int, clips: int, seconds: float, sr: int, seed: int, fmt: str) -> str:
    lines = [
        "SYNTHETIC MUSIC COLLECTION - not real recordings.",
        "",
        "Every clip was generated by genrenet.data.synth (NumPy/SciPy sound synthesis:",
        "wavetable, FM and Karplus-Strong instruments, synthesized drums, distortion,",
        "convolution reverb, background noise).",
        "Genres are imitations of real genres' rhythm, timbre and harmony; a model trained here is",
        "a smoke test of the pipeline, not a real-music genre classifier.",
        "",
        f"generator version: {SYNTH_VERSION}",
        f"seed: {seed}",
        f"genres: {n_genres}",
        f"clips per genre: {clips}",
        f"seconds per clip: {seconds}",
        f"sample rate: {sr} Hz",
        f"format: {fmt}",
        "layout: <genre>/<genre>.<NNNN>." + fmt,
        "",
        "Same seed and settings give the same clips (clip k of genre g uses",
        "numpy SeedSequence([seed, g, k]) with g the genre's index in the list below).",
        "",
        "Genres (tempo range in BPM: what is in it):",
    ]
    for info in _INFO[:n_genres]:
        lo, hi = info.tempo
        lines.append(f"  {info.name} ({lo:g}-{hi:g}): {info.summary}")
    return "\n".join(lines) + "\n"


def generate_collection(out: Path, *, n_genres: int = 8, clips_per_genre: int = 20,
                        seconds: float = 10.0, sr: int = 22050, seed: int = 0, fmt: str = "wav",
                        progress: bool | Callable[..., object] = False) -> list[Path]:  # fmt: skip
    """Write a labelled synthetic collection ``out/<genre>/<genre>.<NNNN>.<fmt>`` plus README.txt.

    Deterministic: the same seed and settings give byte-identical wav/flac files. ``progress`` may
    be True (a line per clip on stderr) or a callable called as ``progress(path, "ok")``.
    """
    fmt = _check_collection_args(n_genres, clips_per_genre, seconds, sr, seed, fmt)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    container, subtype = FORMATS[fmt]
    paths: list[Path] = []
    total = n_genres * clips_per_genre
    for g, genre in enumerate(GENRES[:n_genres]):
        folder = out / genre
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_genre):
            rng = np.random.default_rng(np.random.SeedSequence([seed, g, k]))
            y = generate_clip(genre, seconds, sr, rng)
            path = folder / f"{genre}.{k:04d}.{fmt}"
            _write_atomic(
                path, lambda p, y=y: sf.write(p, y, sr, format=container, subtype=subtype)
            )
            paths.append(path)
            if callable(progress):
                progress(path, "ok")
            elif progress:
                print(f"[{len(paths)}/{total}] {path}", file=sys.stderr)
    text = _readme(n_genres, clips_per_genre, seconds, sr, seed, fmt)
    _write_atomic(out / "README.txt", lambda p: p.write_text(text, encoding="utf-8"))
    return paths
