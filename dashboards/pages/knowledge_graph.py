"""Knowledge graph: what is this product, intent, team or city connected to, and how is it answered?

A view over ml/knowledge_graph.py on the published snapshot's marts.kg_nodes / kg_edges: search an
entity, see its neighbourhood as a network, follow a relation (a neighbour becomes the centre, the
trail keeps the way back) and ask for the answer path product -> intent -> article -> policy. A product
at the centre links to the contacts whose text names it (the Conversations page, whole snapshot).
The graph functions take a DuckDB connection: they get a cursor of a read-only connection to the
snapshot file, and their results are cached per snapshot version, so a new build refreshes them.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import streamlit as st

from dashboards.data import has_columns, query
from dashboards.graph_layout import network_figure
from dashboards.widgets import contacts_link, download_button, escape_markdown as esc, page_snapshot, require_marts
from ml.knowledge_graph import Neighbourhood, answer_path, neighbourhood, search_nodes


@st.cache_resource(max_entries=4)
def _snapshot_connection(path: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(path, read_only=True)


@st.cache_data(ttl=600, max_entries=128, show_spinner=False)
def _search(text: str, node_types: tuple[str, ...], version: str, path: str) -> list[dict]:
    cursor = _snapshot_connection(path).cursor()
    try:
        return search_nodes(cursor, text, list(node_types) or None, limit=30)
    finally:
        cursor.close()


@st.cache_data(ttl=600, max_entries=128, show_spinner="Walking the graph…")
def _neighbourhood(node_id: str, hops: int, relations: tuple[str, ...], limit: int, version: str,
                   path: str) -> Neighbourhood:
    cursor = _snapshot_connection(path).cursor()
    try:
        return neighbourhood(cursor, node_id, hops=hops, relations=list(relations) or None, limit=limit, fanout=12)
    finally:
        cursor.close()


@st.cache_data(ttl=600, max_entries=128, show_spinner=False)
def _answer(product: str, intent: str, language: str | None, version: str, path: str) -> list[dict]:
    cursor = _snapshot_connection(path).cursor()
    try:
        return answer_path(cursor, product, intent, language)
    finally:
        cursor.close()


def _set_centre(node_id: str) -> None:
    trail = st.session_state.setdefault("kg_trail", [])
    if not trail or trail[-1] != node_id:
        trail.append(node_id)
    st.session_state["kg_centre"] = node_id


def _on_search() -> None:
    # A new search starts a new walk.
    st.session_state.pop("kg_centre", None)
    st.session_state.pop("kg_pick", None)
    st.session_state["kg_trail"] = []


def _on_pick() -> None:
    st.session_state["kg_trail"] = []
    _set_centre(st.session_state["kg_pick"])


def _on_follow() -> None:
    target = st.session_state.get("kg_follow")
    if target:
        _set_centre(target)


def _on_back() -> None:
    trail = st.session_state.get("kg_trail", [])
    if len(trail) > 1:
        trail.pop()
        st.session_state["kg_centre"] = trail[-1]


def _product_contacts_link(node_id: str, name: str) -> None:
    """The contacts whose text names this product, on the Conversations page, over every period, channel and queue
    (the graph counts the whole snapshot; the link sets that scope, whatever the sidebar held)."""
    if not has_columns("fct_conversation_summary", "mentioned_products"):
        st.caption("The contacts behind this product's mentions can be listed once the next build has run.")
        return
    product_id = node_id.split(":", 1)[-1]
    found = query("select count(*) as contacts, min(started_date) as since, max(started_date) as until "
                  "from marts.fct_conversation_summary "
                  "where list_contains(string_split(coalesce(mentioned_products, ''), ', '), ?)", (product_id,))
    contacts = int(found["contacts"].iloc[0])
    if contacts == 0:
        st.caption("No contact names this product.")
        return
    contacts_link(f"The {contacts:,} contacts that name {name}", product=product_id,
                  since=pd.Timestamp(found["since"].iloc[0]).date().isoformat(),
                  until=pd.Timestamp(found["until"].iloc[0]).date().isoformat(), channel="all", queue="all")


ref = page_snapshot("Knowledge graph")
require_marts("This snapshot has no knowledge graph yet (marts.kg_nodes / kg_edges). Run a build "
              "(`make materialize`) and it is published with the other marts.", "kg_nodes", "kg_edges")
version, path = ref.version, str(ref.path)

types = query("select node_type, count(*) as nodes from marts.kg_nodes group by 1 order by nodes desc")
relations = query("select relation, count(*) as edges from marts.kg_edges group by 1 order by edges desc")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Entities", f"{int(types['nodes'].sum()):,}", f"{len(types)} kinds", delta_color="off", delta_arrow="off")
m2.metric("Relations", f"{int(relations['edges'].sum()):,}", f"{len(relations)} types", delta_color="off",
          delta_arrow="off")
counts = dict(zip(types["node_type"], types["nodes"]))
m3.metric("Products", f"{int(counts.get('product', 0)):,}")
m4.metric("Intents", f"{int(counts.get('intent', 0)):,}")
st.caption("Learned from the contacts, orders and knowledge base of this snapshot.")

st.subheader("Explore an entity")
left, right = st.columns([2, 1])
text = left.text_input("Search an entity", key="kg_search", on_change=_on_search,
                       placeholder="A product, intent, team, city, policy… e.g. Milk Frother, refund, P001, 南京")
kinds = right.multiselect("Kinds", types["node_type"].tolist(), key="kg_kinds", placeholder="All kinds")

if text.strip():
    matches = _search(text.strip(), tuple(kinds), version, path)
else:
    # Nothing typed yet: start from the most talked-about product so the page shows a graph at once.
    top = query("select node_id, node_type, name, name_zh, language, mention_count from marts.kg_nodes "
                "where node_type = 'product' order by mention_count desc, node_id limit 1")
    matches = top.to_dict("records")
if not matches:
    st.info(f"No entity matches “{esc(text.strip())}”. Try part of a name, a Chinese name or a key such as P001.")
    st.stop()
by_id = {m["node_id"]: m for m in matches}
st.selectbox("Matches", list(by_id), key="kg_pick", on_change=_on_pick,
             format_func=lambda i: f"{by_id[i]['name'] or i}"
                                   + (f" / {by_id[i]['name_zh']}" if by_id[i].get("name_zh") else "")
                                   + f" ({by_id[i]['node_type']}, {by_id[i]['mention_count'] or 0} mentions)")
centre = st.session_state.get("kg_centre") or st.session_state.get("kg_pick") or next(iter(by_id))
if not st.session_state.get("kg_trail"):
    st.session_state["kg_trail"] = [centre]

c1, c2, c3 = st.columns([1, 2, 1])
hops = c1.slider("Hops", 1, 3, 1, key="kg_hops", help="How many relations away from the centre to walk")
walk_relations = c2.multiselect("Relations to walk", relations["relation"].tolist(), key="kg_relations",
                                placeholder="All relations")
limit = c3.slider("Most entities shown", 20, 200, 60, step=10, key="kg_limit")
hood = _neighbourhood(centre, hops, tuple(walk_relations), limit, version, path)
if not hood.nodes:
    st.warning(f"{esc(centre)} is no longer in this snapshot's graph. Search again.")
    st.stop()

me = hood.node(centre) or {}
trail = st.session_state.get("kg_trail", [centre])
# Ids as code spans (shown literally); a backtick in an id would end the span, so it is dropped.
st.markdown("**Centre:** " + " → ".join(f"`{str(n).replace('`', '')}`" for n in trail))
st.caption(f"{esc(me.get('name') or centre)}" + (f" / {esc(me['name_zh'])}" if me.get("name_zh") else "")
           + f" · {esc(me.get('node_type'))} · {me.get('mention_count') or 0} mentions · "
           f"{len(hood.nodes) - 1} entities and {len(hood.edges)} relations within {hops} hop(s)")
if me.get("node_type") == "product":
    _product_contacts_link(centre, me.get("name") or centre)
st.plotly_chart(network_figure(hood.nodes, hood.edges, centre), width="stretch", key="kg_graph")

neighbours = [n for n in hood.nodes if n["node_id"] != centre]
if neighbours:
    first_step = {n["node_id"]: n for n in neighbours}
    f1, f2, f3 = st.columns([3, 1, 1])
    f1.selectbox("Follow a relation to", list(first_step), key="kg_follow",
                 format_func=lambda i: f"{' → '.join(first_step[i]['relations'])} → {first_step[i]['name'] or i} "
                                       f"({first_step[i]['node_type']})")
    f2.button("Make it the centre", key="kg_go", on_click=_on_follow, icon=":material/arrow_forward:")
    f3.button("Back", key="kg_back", on_click=_on_back, disabled=len(trail) < 2, icon=":material/arrow_back:")

node_table = pd.DataFrame([{
    "node_id": n["node_id"], "kind": n["node_type"], "name": n["name"], "name_zh": n["name_zh"],
    "hops": n["depth"], "via": " → ".join(n["relations"]), "mentions": n["mention_count"],
} for n in hood.nodes])
edge_table = pd.DataFrame(hood.edges, columns=["source_id", "relation", "target_id", "weight", "evidence_count"])
t1, t2 = st.tabs(["Entities", "Relations"])
with t1:
    st.dataframe(node_table, hide_index=True, width="stretch")
    download_button(node_table, f"kg_entities_{centre.replace(':', '_')}.csv", "Download the entities (CSV)")
with t2:
    st.dataframe(edge_table, hide_index=True, width="stretch")
    download_button(edge_table, f"kg_relations_{centre.replace(':', '_')}.csv", "Download the relations (CSV)")

st.subheader("Answer path: product → problem → article → policy")
products = query("select node_id, name, name_zh from marts.kg_nodes where node_type = 'product' "
                 "order by mention_count desc, node_id")
intents = query("select node_id, name from marts.kg_nodes where node_type = 'intent' order by name")
if products.empty or intents.empty:
    st.info("The graph has no products or intents to connect.")
    st.stop()
product_names = dict(zip(products["node_id"], products["name"] + " / " + products["name_zh"].fillna("")))
# The answer follows the graph: when the centre becomes a product, it is the product asked about.
if st.session_state.get("kg_answer_centre") != centre and centre in product_names:
    st.session_state["kg_answer_product"] = centre
st.session_state["kg_answer_centre"] = centre
if st.session_state.get("kg_answer_product") not in product_names:
    st.session_state["kg_answer_product"] = products["node_id"].iloc[0]
a1, a2, a3 = st.columns([2, 2, 1])
product = a1.selectbox("Product", list(product_names), format_func=lambda i: product_names.get(i, i),
                       key="kg_answer_product")
# Suggest first the problems contacts have actually tied to this product.
issues = query("select target_id, weight from marts.kg_edges where source_id = ? and relation = 'has_issue' "
               "order by weight desc, target_id", (product,))
ordered = issues["target_id"].tolist() + [i for i in intents["node_id"] if i not in set(issues["target_id"])]
seen = dict(zip(issues["target_id"], issues["weight"]))
intent = a2.selectbox("Problem (intent)", ordered, key="kg_answer_intent",
                      format_func=lambda i: i.split(":", 1)[-1] + (f" ({seen[i]:.0f} contacts)" if i in seen else ""))
language = a3.selectbox("Article language", ["any", "en", "zh", "de", "es", "fr"], key="kg_answer_language")
answers = _answer(product, intent, None if language == "any" else language, version, path)
if not answers:
    st.info("No article answers this problem for this product yet.")
    st.stop()
if answers[0]["issue_conversations"] == 0:
    st.caption("Contacts have not tied this product to this problem yet: the answer is the problem's own article.")
for a in answers:
    with st.container(border=True):
        st.markdown(f"**{esc(a['product'])}** → **{esc(a['intent'])}** → **{esc(a['article_title'])}** "
                    f"({esc(a['article_language'])}) → **{esc(a['policy'])}**"
                    + (f" / {esc(a['policy_zh'])}" if a.get("policy_zh") else ""))
        st.caption(f"{a['issue_conversations']} contacts about this product and problem · article "
                   f"{esc(a['article_id'])} · policy {esc(a['policy_id'])}")
        if a.get("article_body"):
            with st.expander("Article"):
                st.text(a["article_body"])
answer_table = pd.DataFrame(answers).drop(columns=["path", "article_body"], errors="ignore")
download_button(answer_table, "kg_answer_path.csv", "Download the answer path (CSV)")
