"""Live answer: what should the agent say to this message, and should a person take over?

The page is a thin view over ``ml.answer.AnswerEngine`` (one engine per snapshot version, kept in
``st.cache_resource``, so models load once per process and a new build swaps them).
"""

from __future__ import annotations

import streamlit as st

from dashboards.access import can_see_text
from dashboards.data import query
from dashboards.widgets import escape_markdown as esc, page_snapshot

EXAMPLES = {
    "English: damaged item": "The headphones I ordered arrived broken, I want a replacement",
    "中文：物流查询": "我的订单还没有到，已经一个星期了，帮我查一下物流",
    "Español: pedido": "¿Dónde está mi pedido? Lo compré hace una semana",
    "Français : remboursement": "Je voudrais être remboursé, le produit ne marche pas",
    "Deutsch: Passwort": "Ich habe mein Passwort vergessen und komme nicht in mein Konto",
    "Angry, wants a person": "This is the third time I'm calling, I want to speak to a supervisor now!",
}


@st.cache_resource(max_entries=2, show_spinner="Loading the models (once per build)…")
def _engine(version: str):
    from ml.answer import engine_from_settings

    return engine_from_settings()


ref = page_snapshot("Live answer")
if not all(t in ref.tables for t in ("marts.dim_kb_passages", "marts.dim_intent_prototypes")):
    st.info("This snapshot was published before the answer view existed: run a build (`make materialize`) and the "
            "knowledge base and intent prototypes it needs will be published.", icon=":material/hourglass_empty:")
    st.stop()
engine = _engine(ref.version)

with st.form("message"):
    left, right = st.columns([3, 1])
    example = right.selectbox("Or pick an example", ["—", *EXAMPLES], index=0)
    customers = query("select distinct customer_id from marts.fct_cross_sell_opportunities order by 1 limit 500") \
        if "marts.fct_cross_sell_opportunities" in ref.tables else None
    customer = right.selectbox("Customer (for offers)", ["—", *(customers["customer_id"].tolist()
                                                              if customers is not None and not customers.empty else [])])
    message = left.text_area("Customer message", value=EXAMPLES.get(example, ""), height=110,
                             placeholder="Type or paste what the customer wrote, in any language")
    with left.expander("Call: voice features of this turn (optional)"):
        use_voice = st.checkbox("This message is from a call", value=False)
        v1, v2, v3, v4 = st.columns(4)
        voice = {"energy_db": v1.number_input("Energy (dB vs caller)", value=0.0, step=1.0),
                 "log_pitch_var": v2.number_input("Pitch variance (log)", value=0.0, step=0.1),
                 "speaking_rate_sps": v3.number_input("Syllables / s", value=4.0, step=0.5),
                 "pitch_rise": v4.number_input("Pitch rise", value=0.0, step=0.1)}
    submitted = st.form_submit_button("Answer", type="primary", icon=":material/bolt:")

if not submitted and not message:
    st.caption("Type a message or pick an example, then press Answer.")
    st.stop()

result = engine.answer(message, customer_id=None if customer == "—" else customer, voice=voice if use_voice else None)
total_ms = sum(result.timings_ms.values())

if result.escalate:
    st.error("Hand over to a person: " + esc("; ".join(result.escalate_reasons)), icon=":material/support_agent:")
else:
    st.success("The assistant can answer this one.", icon=":material/check_circle:")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Language", esc(result.language), help=f"confidence {result.language_confidence:.0%}")
c2.metric("Intent", esc(result.intent) or "—", f"{result.intent_confidence:.0%} confident", delta_color="off",
          help=result.intent_source)
c3.metric("Emotion", esc(result.emotion) or "—", f"{result.emotion_confidence:.0%} ({result.emotion_source})",
          delta_color="off")
c4.metric("Answered in", f"{total_ms:.0f} ms")

if result.translation:
    st.markdown(f"**Translation ({esc(result.language)} → {esc(engine.pivot)})**: {esc(result.translation)}")
else:
    st.caption(f"Translation: {result.translation_note}")

st.subheader("Suggested reply" + (f" ({esc(result.reply_language)})" if result.reply_language else ""))
if result.suggested_reply:
    st.text_area("Reply", result.suggested_reply, height=120, label_visibility="collapsed")
    st.caption(f"From: {esc(result.reply_source or 'knowledge-base article')}")
else:
    st.caption("No article matches this message, and no past resolved question is close enough "
               f"(at least {engine.min_past_similarity:.0%} similar) to reuse its answer.")

st.subheader("Best answers from the knowledge base")
if not result.answers:
    st.caption("Nothing in the knowledge base is close to this message.")
for a in result.answers:
    with st.expander(f"{esc(a.title or a.article_id)} · {esc(a.intent)} · {esc(a.source)}", expanded=False):
        st.caption(f"Article {esc(a.article_id)} ({esc(a.language)})" + (f" · policy: {esc(a.policy)}" if a.policy else "")
                   + f" · score {a.score:g}")
        st.text(a.text)

st.subheader("Answers given before")
if not result.past_answers:
    st.caption("No resolved conversation in this snapshot has an agent reply to offer (a contact counts once "
               "it is closed as resolved, or, without wrap-up codes, once the customer did not come back).")
text_allowed = can_see_text()  # a past question is a customer's words: only roles that read conversation text
for a in result.past_answers:
    close = "close enough to reuse" if a.score >= engine.min_past_similarity else "for reference only"
    question = esc(a.title)[:90] if text_allowed else "a past customer question (text hidden for your role)"
    with st.expander(f"{question} · {a.score:.0%} similar ({close})", expanded=False):
        st.caption(f"{esc(a.source)} · intent {esc(a.intent) or 'none'} · reply in {esc(a.language)}")
        st.text(a.text)

if result.top_intents:
    st.caption("Other readings: " + ", ".join(f"{esc(name)} {p:.0%}" for name, p in result.top_intents[1:]))
if result.products:
    st.caption("Products named: " + ", ".join(esc(p) for p in result.products))

st.subheader("Offer")
if result.cross_sell:
    offer = result.cross_sell
    st.write({k: v for k, v in offer.items() if k in ("product_id", "product_name", "confidence", "lift",
                                                      "expected_revenue", "offer_rank")})
elif result.escalate:
    st.caption("No offer while the customer needs a person.")
else:
    st.caption("No offer for this customer (pick a customer above, or the value mart has none for them).")
