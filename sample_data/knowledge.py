"""The sample centre's knowledge base and translation memory, as a help-desk tool would export them.

Why these exist: the answer hub needs articles to retrieve (one per intent, in Chinese and
English, each citing the policy it applies), the knowledge graph needs policies and their links,
and the translation model needs aligned text. The translation memory holds segments whose
wording is the same meaning in every language (agent macros, solutions, KB titles), filled with
slot values the way the contact centre actually sends them.
"""

from __future__ import annotations

import random
from typing import Any

from sample_data import phrasebank as pb
from sample_data.text import fill

KB_LANGUAGES = ("en", "zh")

_POLICY_FIELDS = ("policy_id", "name_en", "name_zh", "text_en", "text_zh")
POLICIES: tuple[dict[str, str], ...] = tuple(dict(zip(_POLICY_FIELDS, row)) for row in (
    ("POL-SHIP", "Shipping and delivery policy", "配送政策",
     "Orders ship within 48 hours; delivery takes 2 to 5 days and tracking updates every day.",
     "订单48小时内发货，配送时效2到5天，物流信息每天更新。"),
    ("POL-RETURN", "7-day no-reason return policy", "七天无理由退货政策",
     "Items can be returned within 7 days of delivery without a reason; damaged or missing items are replaced free of charge.",
     "签收后7天内可无理由退货；商品破损或缺件免费补发或更换。"),
    ("POL-REFUND", "Refund policy", "退款政策",
     "Refunds go back to the original payment method within 5 business days of the return arriving.",
     "退货签收后5个工作日内原路退款。"),
    ("POL-PAY", "Payment and billing policy", "支付与账单政策",
     "Duplicate or failed charges are reversed automatically within 3 business days; invoices are issued on request.",
     "重复扣款或支付失败的款项3个工作日内自动退回；发票可按需开具。"),
    ("POL-ACCOUNT", "Account security policy", "账号安全政策",
     "Account changes need identity verification; locked accounts unlock after verification.",
     "账号信息变更需要身份验证；账号锁定后验证身份即可解锁。"),
    ("POL-WARRANTY", "One-year warranty", "一年质保政策",
     "Devices carry a one-year warranty covering manufacturing faults; repairs take up to 10 days.",
     "设备享受一年质保，涵盖非人为故障，维修周期不超过10天。"),
    ("POL-PRICE", "Price protection policy", "价格保护政策",
     "If the price drops within 7 days of purchase the difference is refunded.",
     "购买后7天内降价可申请退还差价。"),
    ("POL-SERVICE", "Service commitment", "服务承诺",
     "Complaints are answered by a supervisor within 24 hours and may be compensated with a coupon.",
     "投诉将在24小时内由主管回复，并可获得优惠券补偿。"),
))

POLICY_BY_CATEGORY = {
    "orders": "POL-SHIP", "returns": "POL-RETURN", "billing": "POL-PAY", "account": "POL-ACCOUNT",
    "technical": "POL-WARRANTY", "sales": "POL-PRICE", "complaint": "POL-SERVICE", "general": "POL-SERVICE",
}
POLICY_OVERRIDES = {"refund_status": "POL-REFUND", "warranty_claim": "POL-WARRANTY", "price_match": "POL-PRICE"}

# Placeholders in an article read as the generic thing, not a particular customer's value.
_GENERIC_SLOTS = {
    "en": {"order_id": "[order number]", "product": "[product]", "amount": "[amount]", "date": "[date]",
           "agent_name": "[agent]", "minutes": "[n]", "ticket_id": "[ticket number]"},
    "zh": {"order_id": "[订单号]", "product": "[商品]", "amount": "[金额]", "date": "[日期]",
           "agent_name": "[客服]", "minutes": "[n]", "ticket_id": "[工单号]"},
}


def policy_of(intent: dict[str, Any]) -> str:
    return POLICY_OVERRIDES.get(intent["name"], POLICY_BY_CATEGORY[intent["category"]])


def kb_articles() -> list[dict[str, Any]]:
    """One article per intent and KB language: the resolution steps and the policy they apply."""
    policy = {p["policy_id"]: p for p in POLICIES}
    rows = []
    for n, intent in enumerate(pb.INTENTS, start=1):
        pol = policy[policy_of(intent)]
        for lang in KB_LANGUAGES:
            steps = [fill(t, _GENERIC_SLOTS[lang]) for t in pb.AGENT_SOLUTIONS[lang][intent["name"]]]
            body = ("\n".join(f"- {s}" for s in steps) + "\n" + pol[f"text_{lang}"])
            rows.append({
                "article_id": f"KB{n:03d}-{lang}", "language": lang, "intent": intent["name"],
                "title": intent[f"description_{lang}"], "body": body, "policy_id": pol["policy_id"],
                "policy_name": pol[f"name_{lang}"], "team_id": intent["team"],
            })
    return rows


def translation_memory(seed: int, fills_per_segment: int = 3) -> list[dict[str, Any]]:
    """Aligned segments (segment_id, language, text) from the macros and answers agents send.

    Only phrase-bank entries written as translations of each other are used: the first two
    variants of every agent macro and the aligned solution variants; KB titles and policies are
    aligned by construction. Each template is filled a few times with the same slot values in
    every language, so numbers, ids and product names are learnt as copied tokens.
    """
    rng = random.Random(seed + 999)
    languages = pb.LANGUAGES
    groups: list[tuple[str, dict[str, str]]] = []
    for step in pb.AGENT_LINES["en"]:
        for k in range(min(2, *(len(pb.AGENT_LINES[lang][step]) for lang in languages))):
            groups.append((f"macro-{step}-{k}", {lang: pb.AGENT_LINES[lang][step][k] for lang in languages}))
    for intent in pb.INTENTS:
        name = intent["name"]
        for k in range(min(len(pb.AGENT_SOLUTIONS[lang][name]) for lang in languages)):
            groups.append((f"solution-{name}-{k}", {lang: pb.AGENT_SOLUTIONS[lang][name][k] for lang in languages}))
        groups.append((f"title-{name}", {"en": intent["description_en"], "zh": intent["description_zh"]}))
    for pol in POLICIES:
        groups.append((f"policy-{pol['policy_id']}", {"en": pol["text_en"], "zh": pol["text_zh"]}))
        groups.append((f"policy-name-{pol['policy_id']}", {"en": pol["name_en"], "zh": pol["name_zh"]}))
    rows = []
    for segment, texts in groups:
        has_slots = any("{" in t for t in texts.values())
        for f in range(fills_per_segment if has_slots else 1):
            product = rng.choice(pb.PRODUCTS)
            slots = {
                "order_id": f"SO{rng.randint(10_000_000, 99_999_999)}", "amount": f"{product['price']:.2f}",
                "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "agent_name": rng.choice(("Li Na", "Wang Lei", "Emma", "Lucas", "Sofia")),
                "minutes": str(rng.choice((2, 3, 5))), "ticket_id": f"T{rng.randint(10_000_000, 99_999_999)}",
            }
            for lang, template in texts.items():
                product_name = product["name_zh"] if lang == "zh" else product["name_en"]
                rows.append({"segment_id": f"{segment}-{f}", "language": lang,
                             "text": fill(template, {**slots, "product": product_name})})
    return rows
