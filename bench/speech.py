"""The virtual agent's voice and ears: real-time factors and round-trip word error rate.

    python bench/speech.py [--sentences N]

English support sentences (Banking77's test messages when ../shared/data is present, else a fixed
list) are spoken by the packaged Piper voice and transcribed by the packaged Whisper base, on this
machine's CPU. Printed per language with a voice: TTS real-time factor (synthesis seconds / audio
seconds; below 1 is faster than speech), ASR real-time factor, mean word error rate, and the p50/p95
time of one reply (speak + transcribe), beside the baseline of reading the audio file alone.
Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BANKING77 = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77" / "test.csv"
FALLBACK = ["My new card has not arrived yet, can you check where it is?",
            "I was charged twice for the same order last week.",
            "Please cancel my subscription and refund the last payment.",
            "How do I reset the password of my online account?"]


def sentences(n: int) -> list[str]:
    if not BANKING77.exists():
        return FALLBACK[:n]
    with BANKING77.open(encoding="utf-8") as fh:
        rows = [r["text"] for r in csv.DictReader(fh) if 30 <= len(r["text"]) <= 120]
    step = max(len(rows) // n, 1)
    return rows[::step][:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=20)
    args = ap.parse_args()
    import io
    import wave

    from ml.speech import Transcriber, Voice, packaged_voices, packaged_whisper_dir, word_error_rate
    from service_insight.settings import get_settings

    folder = packaged_whisper_dir(get_settings().model_dir)
    ears = Transcriber(folder)
    for language, files in sorted(packaged_voices().items()):
        voice = Voice(*files)
        texts = sentences(args.sentences)
        tts_s = asr_s = audio_s = read_s = 0.0
        errors, turns = [], []
        for text in texts:
            started = time.perf_counter()
            said = voice.speak(text)
            spoken = time.perf_counter()
            heard = ears.transcribe(said.wav, language=None)
            done = time.perf_counter()
            with wave.open(io.BytesIO(said.wav)) as w:  # the baseline: only reading the audio back
                w.readframes(w.getnframes())
            read_s += time.perf_counter() - done
            tts_s, asr_s, audio_s = tts_s + spoken - started, asr_s + done - spoken, audio_s + said.seconds
            errors.append(word_error_rate(text, heard.text))
            turns.append(done - started)
        print(f"{language} ({voice.name} + {ears.name}, {len(texts)} sentences, {audio_s:.0f} s of speech): "
              f"TTS real-time factor {tts_s / audio_s:.3f}, ASR real-time factor {asr_s / audio_s:.3f}, "
              f"WER {np.mean(errors):.3f}, one reply p50 {np.percentile(turns, 50):.2f} s / p95 "
              f"{np.percentile(turns, 95):.2f} s (reading the WAV alone: {read_s / len(texts) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
