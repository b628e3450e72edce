"""Everything a rendered Streamlit page would send to the browser, as text, for scans.

Why: "no PII on any page" and "injection strings stay text" are claims about what reaches the
browser. AppTest holds the page as the protobuf messages Streamlit would send; this walks that
tree and turns each element into text: table cells through their DataFrame, everything else
(Markdown bodies, labels, options, metric values, chart specs) through the protobuf text form.
"""

from __future__ import annotations

from google.protobuf import text_format
from streamlit.testing.v1 import AppTest


def page_texts(at: AppTest) -> list[tuple[str, str]]:
    """(element type, text) for every element of the page, sidebar included."""
    out: list[tuple[str, str]] = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            walk(child)
        kind = getattr(node, "type", "")
        if kind in ("arrow_data_frame", "dataframe", "table"):
            try:
                out.append((kind, node.value.to_csv(index=False)))
                return
            except Exception:  # an element AppTest cannot decode is scanned by its protobuf
                pass
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append((kind, text_format.MessageToString(proto, as_utf8=True)))

    walk(at._tree)
    return out


def markdown_bodies(at: AppTest) -> list[str]:
    """The Markdown sources the browser renders (markdown, captions, alerts, headings, labels)."""
    return [text for kind, text in page_texts(at) if kind not in ("arrow_data_frame", "dataframe", "table")]


def find_leaks(at: AppTest, values: set[str]) -> list[str]:
    """Values (case-insensitive) that appear anywhere on the page."""
    blob = "\n".join(text for _, text in page_texts(at)).lower()
    return sorted(v for v in values if v and v.lower() in blob)
