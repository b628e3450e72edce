"""The contact-centre simulator behind ``service-insight generate``.

Why a simulator and not random rows: every later capability is checked against what was
planted here. Intent, per-turn emotion, QA violations, the right team, resolution, repeat
contacts, co-purchases and holiday peaks are decided first (the ground truth), and the text,
call records and voice features are then written to be consistent with those decisions.

The simulation walks contacts in time order and writes one file per source per day, so
memory stays flat from 1k to 1M conversations.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from sample_data import phrasebank as pb
from sample_data.calendar import CHANNELS, holiday_calendar, hourly_intensity
from sample_data.pii import ascii_handle, bank_card, cn_id_card, email_address, phone_number
from sample_data.text import add_typo, chat_style, code_switch, fill

LANGUAGE_SHARE = {"zh": 0.45, "en": 0.33, "es": 0.08, "fr": 0.07, "de": 0.07}
EMOTIONS = ("neutral", "satisfied", "confused", "anxious", "angry")
NEGATIVE = {"anxious", "angry"}
QA_DIMENSIONS = (
    "greeting", "identity_check", "empathy", "correct_information", "disclosure",
    "forbidden_language", "hold_etiquette", "solution_offered", "resolution_confirmed",
    "closing", "response_time", "emotion_handling",
)
_QA_BASE_RATE = {
    "greeting": 0.06, "identity_check": 0.10, "empathy": 0.25, "correct_information": 0.05,
    "disclosure": 0.08, "forbidden_language": 0.03, "hold_etiquette": 0.15,
    "solution_offered": 0.06, "resolution_confirmed": 0.12, "closing": 0.07,
    "response_time": 0.08, "emotion_handling": 0.30,
}
_IDENTITY_CATEGORIES = {"billing", "account", "returns"}
INTENT_BY_NAME = {i["name"]: i for i in pb.INTENTS}
TEAMS = sorted({i["team"] for i in pb.INTENTS})
TEAM_CATEGORY = {i["team"]: i["category"] for i in pb.INTENTS}
PRODUCT_BY_ID = {p["product_id"]: p for p in pb.PRODUCTS}

# Co-purchase structure planted in the baskets: (antecedent category words, consequent
# category words, probability). Resolved to product ids in :func:`planted_bundles`.
_BUNDLE_HINTS = (
    ("phone", ("case", "screen", "charger"), 0.55),
    ("laptop", ("mouse", "bag", "sleeve"), 0.5),
    ("camera", ("memory", "tripod", "card"), 0.6),
    ("coffee", ("bean", "filter", "capsule"), 0.6),
)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate; ``conversations`` spans 1k to 1M."""

    conversations: int = 3000
    days: int = 120
    end: date = date(2026, 10, 31)
    seed: int = 7
    bad_row_rate: float = 0.002
    duplicate_rate: float = 0.005
    annotation_rate: float = 0.25  # share of contacts both annotators label

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)


@dataclass
class Customer:
    customer_id: str
    language: str
    given: str
    family: str
    full_name: str
    phone: str
    email: str
    id_card: str
    bank_card: str
    city: str
    segment: str
    signup_date: date
    gender: str
    orders: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass
class Agent:
    agent_id: str
    name: str
    team: str
    languages: tuple[str, ...]
    skill: float
    hired_on: date
    site: str


@dataclass
class Contact:
    """One conversation, fully decided, ready to be written."""

    header: dict[str, Any]
    turns: list[dict[str, Any]]
    call: dict[str, Any] | None
    voice: list[dict[str, Any]]
    survey: dict[str, Any] | None
    truth: dict[str, Any]
    turn_truth: list[dict[str, Any]]
    qa_truth: list[dict[str, Any]]
    pii_truth: list[dict[str, Any]]


_CITIES = {
    "zh": ("上海", "北京", "深圳", "杭州", "成都", "武汉", "南京", "广州"),
    "en": ("London", "New York", "Singapore", "Sydney", "Toronto", "Manchester"),
    "es": ("Madrid", "Barcelona", "Valencia", "Sevilla"),
    "fr": ("Paris", "Lyon", "Marseille", "Toulouse"),
    "de": ("Berlin", "München", "Hamburg", "Köln"),
}


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def planted_bundles() -> list[dict[str, Any]]:
    """The co-purchase rules the baskets carry: antecedent product -> consequent product."""
    rules = []
    for anchor_word, partner_words, prob in _BUNDLE_HINTS:
        anchors = [p for p in pb.PRODUCTS if anchor_word in (p["name_en"] + " " + p["category"]).lower()
                   and not any(w in p["name_en"].lower() for w in partner_words)]
        partners = [p for p in pb.PRODUCTS if any(w in p["name_en"].lower() for w in partner_words)
                    and p not in anchors]
        for a in anchors[:2]:
            for c in partners[:2]:
                rules.append({"antecedent": a["product_id"], "consequent": c["product_id"], "probability": prob})
    return rules


class ContactCentreSimulator:
    """Decides customers, agents, orders and contacts from one seed."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.np_rng = np.random.default_rng(config.seed)
        self.customers = self._make_customers()
        self.agents = self._make_agents()
        self.agents_by_team: dict[str, list[Agent]] = {t: [] for t in TEAMS}
        for a in self.agents:
            self.agents_by_team[a.team].append(a)
        self.bundles = planted_bundles()
        self.orders = self._make_orders()
        self.first_product_of_order = {r["order_id"]: r["product_id"] for r in self.orders if r["line_number"] == 1}
        self.special_days = {h.day: h for h in holiday_calendar(config.start, config.end)}
        self.intensity, self.incidents = hourly_intensity(config.start, config.days, config.seed)
        self._pending_repeats: deque[tuple[datetime, datetime, str, str, str]] = deque()
        self._ticket_seq = 0

    # ---- reference data -------------------------------------------------------------
    def _make_customers(self) -> list[Customer]:
        n = max(150, self.config.conversations // 3)
        rng = self.rng
        out = []
        for i in range(n):
            lang = _weighted(rng, LANGUAGE_SHARE)
            given = rng.choice(pb.GIVEN_NAMES[lang])
            family = rng.choice(pb.FAMILY_NAMES[lang])
            full = f"{family}{given}" if lang == "zh" else f"{given} {family}"
            out.append(Customer(
                customer_id=f"C{i + 1:07d}", language=lang, given=given, family=family, full_name=full,
                phone=phone_number(rng, lang), email=email_address(rng, ascii_handle(given, family, rng)),
                id_card=cn_id_card(rng), bank_card=bank_card(rng), city=rng.choice(_CITIES[lang]),
                segment=_weighted(rng, {"new": 0.25, "regular": 0.6, "vip": 0.15}),
                signup_date=self.config.start - timedelta(days=rng.randint(0, 1500)),
                gender=rng.choice(("f", "m")),
            ))
        return out

    def _make_agents(self) -> list[Agent]:
        n = min(2000, max(3 * len(TEAMS), self.config.conversations // 150))
        rng = self.rng
        agents = []
        for i in range(n):
            team = TEAMS[i % len(TEAMS)]
            home = "zh" if i % 2 == 0 else "en"
            langs = [home] + [lang for lang in LANGUAGE_SHARE if lang != home and rng.random() < 0.3]
            if i < 2 * len(TEAMS):  # every team speaks both pivot languages
                langs = sorted(set(langs) | {"zh", "en"})
            # Agents go by a work name (given name only), as most contact centres do.
            name = rng.choice(pb.GIVEN_NAMES[home])
            agents.append(Agent(
                agent_id=f"A{i + 1:05d}", name=name, team=team, languages=tuple(langs),
                skill=round(rng.uniform(0.55, 1.0), 3),
                hired_on=self.config.start - timedelta(days=rng.randint(30, 2000)),
                site=rng.choice(("Shanghai", "Chengdu", "Dublin", "Manila")),
            ))
        return agents

    def _make_orders(self) -> list[dict[str, Any]]:
        """Baskets with planted co-purchases; spread over the simulated period."""
        rng = self.rng
        start = datetime.combine(self.config.start, datetime.min.time())
        span = self.config.days * 86400
        by_antecedent: dict[str, list[dict[str, Any]]] = {}
        for rule in self.bundles:
            by_antecedent.setdefault(rule["antecedent"], []).append(rule)
        popularity = [1.0 / (1 + i % 13) for i in range(len(pb.PRODUCTS))]
        lines: list[dict[str, Any]] = []
        seq = 0
        for cust in self.customers:
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6))):
                seq += 1
                order_id = f"O{seq:08d}"
                ts = start + timedelta(seconds=rng.randrange(span))
                basket: list[str] = []
                first = rng.choices(pb.PRODUCTS, weights=popularity)[0]["product_id"]
                basket.append(first)
                for rule in by_antecedent.get(first, []):
                    if rng.random() < rule["probability"] and rule["consequent"] not in basket:
                        basket.append(rule["consequent"])
                for _ in range(rng.choice((0, 0, 1, 1, 2))):
                    extra = rng.choices(pb.PRODUCTS, weights=popularity)[0]["product_id"]
                    if extra not in basket:
                        basket.append(extra)
                for n, pid in enumerate(basket, start=1):
                    lines.append({
                        "order_id": order_id, "line_number": n, "customer_id": cust.customer_id,
                        "ordered_at": ts, "product_id": pid, "quantity": rng.choice((1, 1, 1, 2)),
                        "unit_price": PRODUCT_BY_ID[pid]["price"],
                    })
                cust.orders.append((ts, order_id))
        for cust in self.customers:
            cust.orders.sort()
        lines.sort(key=lambda r: (r["ordered_at"], r["order_id"], r["line_number"]))
        return lines

    # ---- arrivals --------------------------------------------------------------------
    def arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        """Contact start times (seconds from start) and channel indexes, sorted by time."""
        weights = self.intensity.reshape(-1)
        counts = self.np_rng.multinomial(self.config.conversations, weights / weights.sum())
        cells = np.repeat(np.arange(weights.size), counts)
        hours = cells // len(CHANNELS)
        channel = cells % len(CHANNELS)
        seconds = hours * 3600 + self.np_rng.integers(0, 3600, size=cells.size)
        order = np.argsort(seconds, kind="stable")
        return seconds[order], channel[order]

    def _intent_weights(self, day: date) -> dict[str, float]:
        weights = {i["name"]: 1.0 for i in pb.INTENTS}
        for name in ("order_status", "delivery_delay", "product_usage", "refund_status", "return_request"):
            weights[name] = 2.2
        special = self.special_days.get(day)
        if special is not None and special.kind == "festival":
            for name in ("order_status", "delivery_delay", "coupon_not_applied", "payment_failed", "stock_availability"):
                weights[name] *= 2.5
        if special is not None and special.kind == "returns_wave":
            for name in ("return_request", "refund_status", "exchange_item", "damaged_item"):
                weights[name] *= 2.5
        if day in self.incidents:
            weights["app_bug"] *= 6
            weights["payment_failed"] *= 4
        return weights

    # ---- one contact -----------------------------------------------------------------
    def contact(self, seq: int, started: datetime, channel: str) -> Contact:
        rng = self.rng
        repeat = self._take_repeat(started)
        if repeat is not None:
            customer = self.customers[int(repeat[2][1:]) - 1]
            intent_name, previous_id = repeat[3], repeat[4]
        else:
            customer = rng.choice(self.customers)
            intent_name = _weighted(rng, self._intent_weights(started.date()))
            previous_id = None
        intent = INTENT_BY_NAME[intent_name]
        lang = customer.language if rng.random() < 0.92 else _weighted(rng, LANGUAGE_SHARE)
        conversation_id = f"CV{seq:08d}"
        correct_team = intent["team"]
        misrouted = rng.random() < 0.12
        entry_team = rng.choice([t for t in TEAMS if t != correct_team]) if misrouted else correct_team
        transferred = misrouted and rng.random() < 0.8
        final_team = correct_team if transferred else entry_team
        if not misrouted and rng.random() < 0.04:  # escalations to a specialist team
            transferred = True
        agent_pool = [a for a in self.agents_by_team[final_team] if lang in a.languages] or self.agents_by_team[final_team]
        agent = rng.choice(agent_pool)
        order_id = self._order_for(customer, started)
        product_id = self._product_of(order_id)
        product = PRODUCT_BY_ID[product_id]
        slots = {
            "product": product["name_zh"] if lang == "zh" else product["name_en"],
            "order_id": order_id, "amount": f"{product['price']:.2f}",
            "date": (started + timedelta(days=rng.randint(1, 5))).strftime("%Y-%m-%d"),
            "agent_name": agent.name, "name": customer.full_name if rng.random() < 0.7 else customer.given,
            "phone": customer.phone, "email": customer.email, "id_card": customer.id_card,
            "bank_card": customer.bank_card, "minutes": str(rng.choice((2, 3, 5))),
            "ticket_id": f"T{seq:08d}",
        }
        abandoned = False
        wait_seconds = 0
        if channel == "phone":
            load = float(self.intensity[(started.date() - self.config.start).days, started.hour].sum())
            wait_seconds = int(rng.expovariate(1 / (8 + 30 * load)))
            abandoned = wait_seconds > 10 + rng.expovariate(1 / 300)  # callers' patience
        if abandoned:
            return self._abandoned(conversation_id, started, customer, intent, entry_team, lang, wait_seconds, order_id)
        return self._conversation(
            conversation_id, started, channel, customer, agent, intent, lang, slots, entry_team,
            final_team, misrouted, transferred, wait_seconds, order_id, previous_id,
        )

    def _take_repeat(self, started: datetime) -> tuple | None:
        while self._pending_repeats and self._pending_repeats[0][1] < started:
            self._pending_repeats.popleft()  # the customer gave up on that one
        if self._pending_repeats and self._pending_repeats[0][0] <= started:
            return self._pending_repeats.popleft()
        return None

    def _order_for(self, customer: Customer, when: datetime) -> str:
        earlier = [oid for ts, oid in customer.orders if ts <= when]
        return earlier[-1] if earlier else customer.orders[0][1]

    def _product_of(self, order_id: str) -> str:
        return self.first_product_of_order.get(order_id, pb.PRODUCTS[0]["product_id"])

    def _abandoned(self, cid, started, customer, intent, entry_team, lang, wait, order_id) -> Contact:
        ring = self.rng.randint(2, 12)
        ended = started + timedelta(seconds=ring + wait)
        header = self._header(cid, "phone", started, ended, customer, None, entry_team, entry_team, lang,
                              order_id, "abandoned", 0, 0, None)
        call = self._call_row(cid, started, entry_team, customer, ring, wait, 0, 0, 0, 0, True)
        truth = self._truth_row(cid, "phone", started, intent, entry_team, lang, resolved=False, abandoned=True,
                                misrouted=entry_team != intent["team"], repeat_of=None, noisy=False, first_negative=None)
        return Contact(header, [], call, [], None, truth, [], [], [])

    def _conversation(self, cid, started, channel, customer, agent, intent, lang, slots, entry_team,
                      final_team, misrouted, transferred, wait_seconds, order_id, previous_id) -> Contact:
        rng = self.rng
        weak = 1.6 - agent.skill  # 0.6 (best) .. 1.05 (weakest)
        violated = {d: rng.random() < _QA_BASE_RATE[d] * weak for d in QA_DIMENSIONS}
        applicable = {d: True for d in QA_DIMENSIONS}
        applicable["identity_check"] = intent["category"] in _IDENTITY_CATEGORIES
        applicable["disclosure"] = channel == "phone"
        # (speaker, text, emotion of a customer turn, act of an agent turn: the macro step or "solution")
        turns: list[tuple[str, str, str | None, str | None]] = []
        evidence: dict[str, int | None] = {d: None for d in QA_DIMENSIONS}
        pii_kinds: dict[int, list[str]] = {}
        noisy = False

        def agent_say(step: str) -> int:
            turns.append(("agent", fill(rng.choice(pb.AGENT_LINES[lang][step]), slots), None, step))
            return len(turns) - 1

        def customer_say(text: str, emotion: str, carries_pii: bool = False) -> int:
            nonlocal noisy
            if channel == "chat":
                text = chat_style(text, rng)
            # Typos are not put into personal data: a misspelt name cannot be known, so cannot be masked.
            if not carries_pii and rng.random() < 0.1:
                text, noisy = add_typo(text, lang, rng), True
            if not carries_pii and lang in ("zh", "en") and rng.random() < 0.15:
                switched = code_switch(text, lang, rng)
                noisy = noisy or switched != text
                text = switched
            turns.append(("customer", text, emotion, None))
            return len(turns) - 1

        # Greeting and disclosure open the contact (email starts with the customer's message).
        if channel != "email":
            if not violated["greeting"]:
                evidence["greeting"] = agent_say("greeting")
            if applicable["disclosure"] and not violated["disclosure"]:
                evidence["disclosure"] = agent_say("disclosure")
        opening_emotion = self._opening_emotion(intent)
        opening = fill(rng.choice(pb.CUSTOMER_OPENINGS[lang][intent["name"]]), slots)
        if opening_emotion != "neutral":
            mood = fill(rng.choice(pb.CUSTOMER_FOLLOWUPS[lang][opening_emotion]), slots)
            opening = f"{opening} {mood}" if rng.random() < 0.5 else f"{mood} {opening}"
        first_customer = customer_say(opening, opening_emotion)
        if channel == "email":
            if not violated["greeting"]:
                evidence["greeting"] = agent_say("greeting")
        evidence["response_time"] = first_customer + 1  # the first agent reply after the opening
        if applicable["identity_check"] and not violated["identity_check"]:
            evidence["identity_check"] = agent_say("identity_check")
            template = rng.choice(pb.CUSTOMER_IDENTITY[lang])
            idx = customer_say(fill(template, slots), "neutral", carries_pii=True)
            pii_kinds[idx] = [n for n in ("name", "phone", "email", "id_card", "bank_card") if "{" + n + "}" in template]
        applicable["empathy"] = opening_emotion in NEGATIVE
        if applicable["empathy"] and not violated["empathy"]:
            evidence["empathy"] = agent_say("empathy")
        if transferred:
            agent_say("transfer")
        needs_hold = rng.random() < (0.35 if channel == "phone" else 0.2)
        applicable["hold_etiquette"] = needs_hold
        hold_seconds = 0
        hold_index = None
        if needs_hold:
            hold_index = len(turns)
            hold_seconds = rng.randint(30, 240)
            if violated["hold_etiquette"]:
                evidence["hold_etiquette"] = len(turns)
                if rng.random() < 0.5:
                    agent_say("hold_request")
            else:
                agent_say("hold_request")
                evidence["hold_etiquette"] = agent_say("hold_return")
        if opening_emotion == "confused" or rng.random() < 0.12:
            customer_say(fill(rng.choice(pb.CUSTOMER_FOLLOWUPS[lang]["confused"]), slots), "confused")
            agent_say("clarify")
        # The solution: the right one, a wrong one (another intent's answer) or none at all.
        solution_given = not violated["solution_offered"]
        if solution_given:
            answer_intent = intent["name"]
            if violated["correct_information"]:
                answer_intent = rng.choice([i["name"] for i in pb.INTENTS if i["name"] != intent["name"]])
            evidence["solution_offered"] = evidence["correct_information"] = len(turns)
            turns.append(("agent", fill(rng.choice(pb.AGENT_SOLUTIONS[lang][answer_intent]), slots), None, "solution"))
        else:
            evidence["solution_offered"] = len(turns)
            applicable["correct_information"] = False
            agent_say("ticket")
        resolve_p = 0.9 * (0.75 + 0.25 * agent.skill)
        if not solution_given or violated["correct_information"]:
            resolve_p -= 0.45
        if misrouted and not transferred:
            resolve_p -= 0.2
        resolved = rng.random() < max(0.05, resolve_p)
        # A customer who turns negative mid-conversation: the live-alert case.
        first_negative = None
        turns_negative = (not resolved and rng.random() < 0.55) or rng.random() < 0.06
        applicable["emotion_handling"] = turns_negative
        if turns_negative:
            emo = "angry" if rng.random() < 0.6 else "anxious"
            first_negative = customer_say(fill(rng.choice(pb.CUSTOMER_FOLLOWUPS[lang][emo]), slots), emo)
            if violated["forbidden_language"]:
                evidence["forbidden_language"] = agent_say("forbidden")
            if violated["emotion_handling"]:
                evidence["emotion_handling"] = first_negative
            else:
                evidence["emotion_handling"] = agent_say("empathy")
        elif violated["forbidden_language"]:
            evidence["forbidden_language"] = agent_say("forbidden")
        if not violated["resolution_confirmed"]:
            evidence["resolution_confirmed"] = agent_say("resolution_confirm")
        closing_kind = "resolved" if resolved else "unresolved"
        closing_emotion = "satisfied" if resolved else ("angry" if turns_negative else "anxious")
        customer_say(fill(rng.choice(pb.CUSTOMER_CLOSINGS[lang][closing_kind]), slots), closing_emotion)
        if not violated["closing"]:
            evidence["closing"] = agent_say("closing")
        for d in QA_DIMENSIONS:
            if not applicable[d]:
                violated[d] = False
                evidence[d] = None
        if violated["identity_check"]:
            evidence["identity_check"] = first_customer + 1 if first_customer + 1 < len(turns) else first_customer
        if violated["greeting"]:
            evidence["greeting"] = 0
        if violated["empathy"]:
            evidence["empathy"] = first_customer  # the upset message that went unacknowledged
        if violated["closing"] or violated["resolution_confirmed"] or violated["disclosure"]:
            for d in ("closing", "resolution_confirmed", "disclosure"):
                if violated[d]:
                    evidence[d] = len(turns) - 1 if d != "disclosure" else 0
        # Timestamps: a slow first answer is the response-time violation.
        timed, first_response, talk_seconds = self._timestamps(
            started, channel, turns, violated["response_time"], first_customer, hold_seconds, hold_index)
        ended = timed[-1]["ts"] + timedelta(seconds=rng.randint(5, 40))
        transfer_count = 1 if transferred else 0
        disposition = self._disposition(resolved, solution_given)
        wrap = rng.randint(15, 90)
        handle = talk_seconds + hold_seconds + wrap if channel == "phone" else int((ended - started).total_seconds())
        if channel == "email":
            handle = rng.randint(240, 900)  # agents' working time on the thread, not the elapsed days
        header = self._header(cid, channel, started, ended, customer, agent, entry_team, final_team, lang,
                              order_id, disposition, transfer_count, handle, first_response)
        turn_rows = [{
            "conversation_id": cid, "turn_index": i, "speaker": t["speaker"],
            "ts": t["ts"], "text": t["text"],
        } for i, t in enumerate(timed)]
        call = voice = None
        if channel == "phone":
            ring = rng.randint(2, 12)
            call = self._call_row(cid, started, entry_team, customer, ring, wait_seconds, talk_seconds,
                                  hold_seconds, wrap, transfer_count, False)
            voice = self._voice(cid, call["recording_id"], timed, customer, [t[2] for t in turns])
        if resolved is False and rng.random() < 0.65:
            lo = started + timedelta(days=1)
            self._pending_repeats.append((lo, lo + timedelta(days=5), customer.customer_id, intent["name"], cid))
        survey = self._survey(cid, ended, resolved, turns_negative, violated)
        truth = self._truth_row(cid, channel, started, intent, entry_team, lang, resolved, False, misrouted,
                                previous_id, noisy, first_negative)
        truth["transferred"] = transferred
        turn_truth = [{
            "conversation_id": cid, "turn_index": i, "speaker": t[0], "emotion": t[2], "act": t[3],
            "pii_kinds": ",".join(pii_kinds.get(i, [])),
        } for i, t in enumerate(turns)]
        qa_truth = [{
            "conversation_id": cid, "dimension": d, "applicable": applicable[d], "violated": bool(violated[d]),
            "evidence_turn": evidence[d],
        } for d in QA_DIMENSIONS]
        pii_truth = [{"conversation_id": cid, "kind": k, "value": v} for k, v in (
            ("name", customer.full_name), ("phone", customer.phone), ("email", customer.email),
            ("id_card", customer.id_card), ("bank_card", customer.bank_card)) if any(v in t[1] for t in turns)]
        return Contact(header, turn_rows, call, voice or [], survey, truth, turn_truth, qa_truth, pii_truth)

    def _opening_emotion(self, intent: dict[str, Any]) -> str:
        cat = intent["category"]
        if cat == "complaint":
            weights = {"angry": 0.5, "anxious": 0.3, "neutral": 0.2}
        elif intent["name"] in ("double_charge", "payment_failed", "account_locked", "missing_item"):
            weights = {"anxious": 0.45, "angry": 0.2, "neutral": 0.35}
        elif cat == "technical":
            weights = {"confused": 0.35, "neutral": 0.45, "anxious": 0.2}
        else:
            weights = {"neutral": 0.62, "confused": 0.14, "anxious": 0.14, "angry": 0.1}
        return _weighted(self.rng, weights)

    def _timestamps(self, started, channel, turns, slow_first, first_customer, hold_seconds, hold_index):
        rng = self.rng
        ts = started
        out = []
        first_response = None
        talk = 0
        for i, (speaker, text, _, _) in enumerate(turns):
            if i > 0:
                if channel == "email":
                    gap = rng.randint(3600, 20 * 3600)
                    if slow_first and i == first_customer + 1:
                        gap = rng.randint(26 * 3600, 60 * 3600)
                elif channel == "chat":
                    gap = rng.randint(8, 75)
                    if slow_first and i == first_customer + 1:
                        gap = rng.randint(150, 600)
                else:
                    gap = max(2, int(len(text) / (4.0 if text.isascii() else 1.6)))
                    if slow_first and i == first_customer + 1:
                        gap += rng.randint(25, 60)
                    talk += gap
                if hold_index is not None and i == hold_index + 1:
                    gap += hold_seconds  # the customer waits on hold before the next line
                ts = ts + timedelta(seconds=gap)
                if i == first_customer + 1:
                    first_response = int((ts - out[first_customer]["ts"]).total_seconds())
            out.append({"speaker": speaker, "text": text, "ts": ts})
        return out, first_response, talk

    def _disposition(self, resolved: bool, solution_given: bool) -> str:
        if resolved:
            return "resolved" if self.rng.random() < 0.95 else "follow_up"
        if not solution_given:
            return "ticket_created"
        return "resolved" if self.rng.random() < 0.2 else _weighted(self.rng, {"follow_up": 0.7, "escalated": 0.3})

    def _header(self, cid, channel, started, ended, customer, agent, entry_team, final_team, lang, order_id,
                disposition, transfers, handle, first_response) -> dict[str, Any]:
        locale = {"zh": "zh-CN", "en": "en-GB", "es": "es-ES", "fr": "fr-FR", "de": "de-DE"}[customer.language]
        return {
            "conversation_id": cid, "channel": channel, "started_at": started, "ended_at": ended,
            "customer_id": customer.customer_id, "agent_id": agent.agent_id if agent else None,
            "queue_id": f"Q_{entry_team}", "final_queue_id": f"Q_{final_team}", "ui_locale": locale,
            "order_id": order_id, "disposition": disposition, "transfer_count": transfers,
            "handle_seconds": handle, "first_response_seconds": first_response,
        }

    def _call_row(self, cid, started, team, customer, ring, wait, talk, hold, wrap, transfers, abandoned):
        digit = TEAMS.index(team) + 1
        return {
            "call_id": f"CL{cid[2:]}", "conversation_id": cid, "queue_id": f"Q_{team}",
            "ivr_path": f"1>{digit}" if self.rng.random() < 0.7 else f"1>9>{digit}",
            "caller_number": customer.phone, "started_at": started, "ring_seconds": ring, "wait_seconds": wait,
            "talk_seconds": talk, "hold_seconds": hold, "wrap_seconds": wrap, "transfers": transfers,
            "abandoned": abandoned, "recording_id": None if abandoned else f"R{cid[2:]}",
        }

    def _voice(self, cid, recording_id, timed, customer, emotions) -> list[dict[str, Any]]:
        """Prosody per utterance: arousal raises pitch, its spread, energy and tempo."""
        rng = self.rng
        base_pitch = 210.0 if customer.gender == "f" else 120.0
        effect = {  # (pitch shift, variance scale, energy dB shift, rate shift)
            None: (0.0, 1.0, 0.0, 0.0), "neutral": (0.0, 1.0, 0.0, 0.0),
            "satisfied": (0.06, 1.2, 1.5, 0.2), "confused": (-0.02, 0.9, -2.0, -0.6),
            "anxious": (0.12, 1.5, 2.5, 0.9), "angry": (0.18, 2.3, 7.0, 1.1),
        }
        rows = []
        start_ts = timed[0]["ts"]
        for i, t in enumerate(timed):
            if t["speaker"] == "agent":
                pitch0, emo = 190.0, None
            else:
                pitch0, emo = base_pitch, emotions[i]
            shift, var_scale, energy, rate = effect[emo]
            dur = max(1.0, len(t["text"]) / (14.0 if t["text"].isascii() else 4.5))
            rows.append({
                "recording_id": recording_id, "conversation_id": cid, "turn_index": i, "speaker": t["speaker"],
                "start_offset_s": round((t["ts"] - start_ts).total_seconds(), 1), "duration_s": round(dur, 2),
                "pitch_mean_hz": round(pitch0 * (1 + shift) * rng.gauss(1, 0.04), 1),
                "pitch_var": round(max(5.0, 380 * var_scale * rng.gauss(1, 0.15)), 1),
                "energy_db": round(62 + energy + rng.gauss(0, 1.8), 1),
                "speaking_rate_sps": round(max(1.5, 4.2 + rate + rng.gauss(0, 0.35)), 2),
            })
        return rows

    def _survey(self, cid, ended, resolved, negative, violated) -> dict[str, Any] | None:
        rng = self.rng
        if rng.random() > 0.3:
            return None
        score = 4.3 if resolved else 2.4
        score -= 0.8 if negative else 0.0
        score -= 0.15 * sum(violated.values())
        csat = int(min(5, max(1, round(rng.gauss(score, 0.7)))))
        nps = int(min(10, max(0, round(rng.gauss(csat * 2 - 0.5, 1.2)))))
        return {
            "survey_id": f"S{cid[2:]}", "conversation_id": cid,
            "responded_at": ended + timedelta(minutes=rng.randint(2, 600)), "csat": csat, "nps": nps,
        }

    def _truth_row(self, cid, channel, started, intent, entry_team, lang, resolved, abandoned, misrouted,
                   repeat_of, noisy, first_negative) -> dict[str, Any]:
        return {
            "conversation_id": cid, "channel": channel, "started_at": started, "day": started.date(),
            "intent": intent["name"], "category": intent["category"], "correct_team": intent["team"],
            "entry_team": entry_team, "misrouted": misrouted, "language": lang, "resolved": resolved,
            "abandoned": abandoned, "repeat_of": repeat_of, "noisy_text": noisy,
            "first_negative_turn": first_negative, "needs_follow_up": (not resolved) and not abandoned,
            "transferred": False,
        }
