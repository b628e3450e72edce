"""Placing a knowledge-graph neighbourhood on a plane, and drawing it with plotly.

Why our own layout: no graph library is installed, and a neighbourhood is a tree of shortest
paths from one centre, so rings by distance read better than a force layout anyway. The centre
sits at the origin; nodes ``d`` hops away sit on the ring of radius ``d``, ordered by the angle
of the node they were reached from (then type, then id), so each node lands near its parent and
the same neighbourhood is always drawn the same way; a ring's nodes are evenly spaced, so none
overlap, and the ring is turned as a whole to sit as close as it can to the parents.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

TYPE_COLOURS = {
    "product": "#1f77b4", "product_category": "#aec7e8", "intent": "#d62728", "kb_article": "#2ca02c",
    "policy": "#98df8a", "team": "#9467bd", "role": "#c5b0d5", "city": "#8c564b", "order": "#7f7f7f",
}


def radial_layout(nodes: Sequence[dict[str, Any]], centre: str) -> dict[str, tuple[float, float]]:
    """x, y per node id: rings by ``depth``, each node near the node its ``path`` came from."""
    angle: dict[str, float] = {centre: 0.0}
    positions: dict[str, tuple[float, float]] = {centre: (0.0, 0.0)}
    by_depth: dict[int, list[dict[str, Any]]] = {}
    for node in nodes:
        if node["node_id"] != centre:
            by_depth.setdefault(max(int(node.get("depth") or 1), 1), []).append(node)
    for depth in sorted(by_depth):
        ring = by_depth[depth]

        def parent_angle(node: dict[str, Any]) -> float:
            path = node.get("path") or []
            parent = path[-2] if len(path) >= 2 else centre
            return angle.get(parent, 0.0)

        ring.sort(key=lambda n: (parent_angle(n), str(n.get("node_type")), str(n["node_id"])))
        slots = 2 * math.pi * np.arange(len(ring)) / len(ring)
        # Evenly spaced slots (no two nodes overlap), turned as a whole so that the slots sit as
        # close as they can to the parents' angles: the circular mean of the differences.
        offset = 0.0
        if depth > 1:
            diff = np.array([parent_angle(n) for n in ring]) - slots
            offset = float(np.angle(np.exp(1j * diff).mean())) if len(ring) else 0.0
        for node, theta in zip(ring, slots + offset):
            angle[node["node_id"]] = float(theta)
            positions[node["node_id"]] = (depth * math.cos(theta), depth * math.sin(theta))
    return positions


def network_figure(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]], centre: str,
                   height: int = 640) -> go.Figure:
    """An interactive network: lines per relation (legend toggles them), nodes coloured by type."""
    pos = radial_layout(nodes, centre)
    fig = go.Figure()
    relations = sorted({e["relation"] for e in edges})
    for relation in relations:
        xs: list[float | None] = []
        ys: list[float | None] = []
        mid_x, mid_y, mid_text = [], [], []
        for e in edges:
            if e["relation"] != relation or e["source_id"] not in pos or e["target_id"] not in pos:
                continue
            (x0, y0), (x1, y1) = pos[e["source_id"]], pos[e["target_id"]]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
            mid_x.append((x0 + x1) / 2)
            mid_y.append((y0 + y1) / 2)
            mid_text.append(f"{_plain(e['source_id'])} —{_plain(relation)}→ {_plain(e['target_id'])}<br>weight {e.get('weight', 0):.3g}"
                            f" · {e.get('evidence_count') or 0} pieces of evidence")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"width": 1}, opacity=0.45, name=relation,
                                 legendgroup=relation, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", marker={"size": 6, "opacity": 0},
                                 hovertext=mid_text, hoverinfo="text", legendgroup=relation, showlegend=False))
    for node_type in sorted({str(n.get("node_type")) for n in nodes}):
        members = [n for n in nodes if str(n.get("node_type")) == node_type and n["node_id"] in pos]
        fig.add_trace(go.Scatter(
            x=[pos[n["node_id"]][0] for n in members], y=[pos[n["node_id"]][1] for n in members],
            mode="markers+text", name=node_type, textposition="top center",
            text=[_plain(_short(n.get("name") or n["node_id"])) for n in members],
            hovertext=[f"<b>{_plain(n.get('name') or n['node_id'])}</b>"
                       + (f" / {_plain(n['name_zh'])}" if n.get("name_zh") else "")
                       + f"<br>{_plain(n['node_id'])} · {_plain(node_type)}<br>{n.get('mention_count') or 0} mentions"
                       + f"<br>{int(n.get('depth') or 0)} hop(s) from the centre" for n in members],
            hoverinfo="text",
            marker={"size": [30 if n["node_id"] == centre else 10 + 3 * math.log1p(n.get("mention_count") or 0)
                             for n in members],
                    "color": TYPE_COLOURS.get(node_type, "#17becf"),
                    "line": {"width": [3 if n["node_id"] == centre else 1 for n in members], "color": "#222"}},
        ))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="closest",
                      xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
                      legend={"orientation": "h", "y": -0.02})
    return fig


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain(text: object) -> str:
    """Names as text: Plotly reads a little HTML in labels (<a href>, <b>, <span style>), data must not."""
    return html.escape(str(text), quote=False)
