"""The virtual agent's voice and ears: real-time factors and round-trip word error rate.

    python bench/speech.py [--sentences N]

Support sentences (English: Banking77's test messages, Chinese: SMP2019's, when ../shared/data is present,
else fixed lists) are spoken by each installed voice (the packaged Piper English voice, the Chinese voice
once `make voice` converted it) and transcribed by the packaged Whisper base, on this machine's CPU. Printed per language with a voice: TTS real-time factor (synthesis seconds / audio
seconds; below 1 is faster than speech), ASR real-time factor, mean word (English) or character (Chinese) error rate, and the p50/p95
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
SMP2019 = Path(__file__).resolve().parents[2] / "shared" / "data" / "smp2019_ecdt" / "test.jsonl"
FALLBACK_ZH = ["我的快递三天了还没有到，请帮我查一下物流。", "请问怎么修改收货地址？", "我想退货，这个尺码不合适。",
               "我的账户被锁了，怎么解锁？"]
FALLBACK = ["My new card has not arrived yet, can you check where it is?",
            "I was charged twice for the same order last week.",
            "Please cancel my subscription and refund the last payment.",
            "How do I reset the password of my online account?"]


def sentences(n: int, language: str = "en") -> list[str]:
    if language == "zh":
        if not SMP2019.exists():
            return FALLBACK_ZH[:n]
        import json

        rows = [json.loads(line)["text"] for line in SMP2019.open(encoding="utf-8") if line.strip()]
        rows = [r for r in rows if 6 <= len(r) <= 40]
        return rows[::max(len(rows) // n, 1)][:n]
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

    from ml.speech import (Transcriber, character_error_rate, open_voice, packaged_voices, packaged_whisper_dir,
                           word_error_rate)
    from service_insight.settings import get_settings

    folder = packaged_whisper_dir(get_settings().model_dir)
    ears = Transcriber(folder)
    for language, files in sorted(packaged_voices().items()):
        voice = open_voice(*files)
        texts = sentences(args.sentences, language)
        error_rate = character_error_rate if language in ("zh", "ja") else word_error_rate
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
            errors.append(error_rate(text, heard.text))
            turns.append(done - started)
        print(f"{language} ({voice.name} + {ears.name}, {len(texts)} sentences, {audio_s:.0f} s of speech): "
              f"TTS real-time factor {tts_s / audio_s:.3f}, ASR real-time factor {asr_s / audio_s:.3f}, "
              f"{'CER' if error_rate is character_error_rate else 'WER'} {np.mean(errors):.3f}, one reply p50 {np.percentile(turns, 50):.2f} s / p95 "
              f"{np.percentile(turns, 95):.2f} s (reading the WAV alone: {read_s / len(texts) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
