"""The virtual agent's face: an SVG whose mouth follows the reply's phoneme timings while the audio plays.

Why hand-written: no Streamlit component lip-syncs, and the voice already says which mouth shape
each stretch of audio needs (``ml.speech.Speech.mouth``). The HTML holds the audio as a data URL and
a small script that, on every animation frame, draws the shape whose cue covers the audio's current
time; with sound off or before "play", the mouth rests. Name, colours and hair come from the brand file
(``service_insight.brand``).
"""

from __future__ import annotations

import base64
import html
import json

from service_insight.brand import Brand

# Mouth paths per shape, in a 200x200 face (centre 100, mouth around y=135).
MOUTHS = {
    "rest": "M75 135 Q100 140 125 135",
    "closed": "M75 136 L125 136",
    "mid": "M78 132 Q100 148 122 132 Q100 140 78 132",
    "wide": "M74 128 Q100 162 126 128 Q100 136 74 128",
    "round": "M88 128 Q100 152 112 128 Q100 120 88 128",
    "smile": "M72 131 Q100 152 128 131 Q100 141 72 131",
    "teeth": "M76 133 Q100 143 124 133 L124 136 Q100 146 76 136 Z",
}


def avatar_html(wav: bytes, cues: list[tuple[float, float, str]], brand: Brand, mood: str = "calm") -> str:
    """Self-contained HTML: the face in the brand's colours, an audio player and the script that moves the mouth.

    ``mood`` follows the customer: "concerned" (raised inner brows) when they read upset or the agent
    hands over, else "calm".
    """
    brows = "M70 78 L92 74 M108 74 L130 78" if mood == "calm" else "M70 74 L92 80 M108 80 L130 74"
    audio = base64.b64encode(wav).decode("ascii")
    name, colour = brand.name, brand.colour
    hair = (f'<path d="M32 92 Q36 26 100 26 Q164 26 168 92 Q150 52 100 50 Q50 52 32 92 Z" '
            f'fill="{html.escape(brand.hair)}"/>') if brand.hair else ""
    return f"""
<div style="display:flex;gap:16px;align-items:center;font-family:sans-serif">
  <svg id="face" width="160" height="160" viewBox="0 0 200 200" role="img" aria-label="{html.escape(name)}">
    <circle cx="100" cy="100" r="90" fill="{html.escape(colour)}" opacity="0.15"/>
    <circle cx="100" cy="100" r="70" fill="{html.escape(brand.skin)}"/>
    {hair}
    <path id="brows" data-mood="{html.escape(mood)}" d="{brows}" stroke="#5a3b2e" stroke-width="4" fill="none"/>
    <circle cx="80" cy="95" r="6" fill="{html.escape(brand.eyes)}"/>
    <circle cx="120" cy="95" r="6" fill="{html.escape(brand.eyes)}"/>
    <path id="mouth" d="{MOUTHS['rest']}" stroke="#8a3b3b" stroke-width="4" fill="#b85c5c"/>
  </svg>
  <div><div style="font-weight:600">{html.escape(name)}</div>
    <audio id="voice" controls src="data:audio/wav;base64,{audio}"></audio></div>
</div>
<script>
const cues = {json.dumps([[round(a, 3), round(b, 3), s] for a, b, s in cues])};
const shapes = {json.dumps(MOUTHS)};
const audio = document.getElementById("voice"), mouth = document.getElementById("mouth");
function draw() {{
  const t = audio.currentTime;
  const cue = audio.paused ? null : cues.find(c => t >= c[0] && t < c[1]);
  mouth.setAttribute("d", shapes[cue ? cue[2] : "rest"] || shapes.rest);
  requestAnimationFrame(draw);
}}
requestAnimationFrame(draw);
</script>"""
