"""The sample's per-question survey (the `survey_answers` landing contract), derived from its one-row surveys.

Why derived rather than simulated again: the contact's satisfaction is already decided by the simulator
(``ContactCentreSimulator._survey``); the per-question survey must agree with it (the CSAT question
carries the same score), and deriving it from a hash of the conversation id adds no draw to the
simulator's random stream, so every other file of the sample stays byte-identical.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

FIELDS = ("survey_id", "conversation_id", "survey_name", "question_id", "question", "measure", "scale_min",
          "scale_max", "sent_at", "answered_at", "answer_value", "answer_text")
QUESTIONS = (  # (id, wording, measure, scale)
    ("q_csat", "How satisfied are you with the help you got?", "csat", (1, 5)),
    ("q_effort", "How easy was it to get your issue handled?", "ces", (1, 7)),
    ("q_comment", "Anything we could do better?", "other", None),
)
EFFORT_FOR_CSAT = {5: 7, 4: 6, 3: 4, 2: 3, 1: 1}
SENT_WITHOUT_ANSWER = 45  # of every 100 contacts that gave no answer, this many were sent the survey
COMMENTS = {  # (unhappy, happy) per language of the contact's locale
    "zh": ("等了太久，问题也没有解决。", "客服很耐心，谢谢！"),
    "en": ("I waited far too long and it is still not fixed.", "Quick and friendly, thank you."),
    "es": ("Esperé demasiado y sigue sin resolverse.", "Rápido y amable, gracias."),
    "fr": ("J'ai attendu trop longtemps et ce n'est toujours pas réglé.", "Rapide et aimable, merci."),
    "de": ("Ich habe viel zu lange gewartet und es ist immer noch nicht gelöst.", "Schnell und freundlich, danke."),
}


def _bucket(conversation_id: str) -> int:
    return int(hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:8], 16) % 100


def survey_answers(header: dict[str, Any], survey: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The rows of one contact's post-contact survey: every question sent, answered when ``survey`` is."""
    cid, ended = header["conversation_id"], header.get("ended_at")
    bucket = _bucket(cid)
    if ended is None or (survey is None and bucket >= SENT_WITHOUT_ANSWER):
        return []
    sent = ended + timedelta(minutes=1)
    language = str(header.get("ui_locale") or "en")[:2]
    rows = []
    for question_id, question, measure, scale in QUESTIONS:
        value, text, answered = None, None, None
        if survey is not None:
            csat = int(survey["csat"])
            if measure == "csat":
                value = csat
            elif measure == "ces":
                value = EFFORT_FOR_CSAT[csat]
            elif csat <= 2 and bucket % 2 == 0 or csat == 5 and bucket % 4 == 0:  # some customers write a line
                text = COMMENTS.get(language, COMMENTS["en"])[0 if csat <= 2 else 1]
            if value is not None or text is not None:
                answered = survey["responded_at"]
        rows.append({"survey_id": f"PS{cid[2:]}", "conversation_id": cid, "survey_name": "post_contact",
                     "question_id": question_id, "question": question, "measure": measure,
                     "scale_min": scale[0] if scale else None, "scale_max": scale[1] if scale else None,
                     "sent_at": sent, "answered_at": answered, "answer_value": value, "answer_text": text})
    return rows
