"""Multi-hop retrieval over the knowledge graph (``marts.kg_nodes`` / ``marts.kg_edges``).

Why SQL with recursive CTEs: the graph lives in the warehouse as two dbt marts, and the answer
view reads the published snapshot read-only; walking it where it lies needs no graph database,
no copy in memory and no write access. Every function takes an open DuckDB connection (or
cursor) to either the writer's warehouse or a read-only snapshot: both hold ``marts.kg_*``.

Every value a caller passes is a bound parameter (``$name``); nothing a user types becomes SQL
text. Traversals track the path of node ids they have taken and never re-enter a node on it, so
cycles cannot loop. ``neighbourhood`` walks breadth first (a ``using key`` recursive CTE: each
node is reached once, at its shortest distance, by its strongest path), so its cost grows with
the nodes reached, not with the number of paths to them; ``fanout`` keeps only the strongest
edges of each relation at every node, so a hub (a popular intent, the customer role) cannot
flood the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import duckdb

NODES = "marts.kg_nodes"
EDGES = "marts.kg_edges"

#: product -> has_issue -> intent -> resolved_by -> kb_article -> applies -> policy
ANSWER_RELATIONS = ("has_issue", "resolved_by", "applies")
MAX_HOPS = 6

Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class Neighbourhood:
    """Nodes within ``hops`` of a centre (each with the shortest path that reached it) and the edges walked."""

    centre: str
    hops: int
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def node(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self.nodes if n["node_id"] == node_id), None)

    @property
    def node_ids(self) -> set[str]:
        return {n["node_id"] for n in self.nodes}


_NEIGHBOURHOOD_SQL = f"""
with recursive

edges as (
    select source_id, relation, target_id, weight, evidence_count, evidence
    from {EDGES}
    where $relations::varchar[] is null or list_contains($relations::varchar[], relation)
),

adjacent as (
    -- Both directions: an edge can be walked from either end.
    select source_id as node_id, target_id as neighbour_id, relation, source_id, target_id, weight
    from edges
    union all
    select target_id as node_id, source_id as neighbour_id, relation, source_id, target_id, weight
    from edges
    where source_id <> target_id
),

strongest as (
    -- At every node, the strongest edges of each relation and direction only.
    select *
    from adjacent
    qualify row_number() over (
        partition by node_id, relation, node_id = source_id
        order by weight desc, neighbour_id
    ) <= $fanout
),

walk(node_id, depth, path, relations, path_weight) using key (node_id) as (
    -- Breadth first: each hop reaches only nodes no earlier hop reached, each by its strongest
    -- path (ties broken by the path itself, so the answer is deterministic). The path is kept;
    -- a node already on it or already reached is never entered again, so there are no cycles.
    select
        node_id,
        0,
        [node_id],
        []::varchar[],
        0.0::double
    from {NODES}
    where node_id = $node_id
    union
    select
        strongest.neighbour_id,
        any_value(walk.depth) + 1,
        arg_max(
            list_append(walk.path, strongest.neighbour_id),
            {{'weight': walk.path_weight + strongest.weight, 'path': walk.path::varchar}}
        ),
        arg_max(
            list_append(walk.relations, strongest.relation),
            {{'weight': walk.path_weight + strongest.weight, 'path': walk.path::varchar}}
        ),
        max(walk.path_weight + strongest.weight)
    from walk
    inner join strongest on strongest.node_id = walk.node_id
    where walk.depth < $hops
        and not list_contains(walk.path, strongest.neighbour_id)
        and not exists (select 1 from recurring.walk as reached where reached.node_id = strongest.neighbour_id)
    group by strongest.neighbour_id
),

kept as (
    select
        walk.node_id,
        walk.depth,
        walk.path,
        walk.relations,
        nodes.node_type,
        nodes.name,
        nodes.name_zh,
        nodes.language,
        nodes.mention_count,
        nodes.attributes
    from walk
    inner join {NODES} as nodes on nodes.node_id = walk.node_id
    order by walk.depth, nodes.mention_count desc, walk.node_id
    limit $limit
),

kept_edges as (
    -- The walkable edges between returned nodes, at least one end inside the radius.
    select distinct
        edges.source_id,
        edges.relation,
        edges.target_id,
        edges.weight,
        edges.evidence_count,
        edges.evidence
    from strongest
    inner join kept as here on here.node_id = strongest.node_id
    inner join kept as there on there.node_id = strongest.neighbour_id
    inner join edges
        on edges.source_id = strongest.source_id
        and edges.relation = strongest.relation
        and edges.target_id = strongest.target_id
    where least(here.depth, there.depth) < $hops
)

select 'node' as kind, to_json(kept) as payload
from kept
union all
select 'edge' as kind, to_json(kept_edges) as payload
from kept_edges
"""


def neighbourhood(conn: Connection, node_id: str, hops: int = 2, relations: Sequence[str] | None = None,
                  limit: int = 200, fanout: int = 25) -> Neighbourhood:
    """Everything within ``hops`` edges of ``node_id``, walking edges in both directions.

    ``relations`` restricts the walk to those relation types; ``limit`` caps the nodes returned
    (nearest first, then the most mentioned); ``fanout`` is how many of the strongest edges of
    each relation (and direction) a node may be left by. Each node carries its distance, the
    path (node ids) and the relations of the strongest shortest walk that reached it; ``edges``
    are the walkable edges between returned nodes with at least one end inside the radius.
    """
    if not 0 <= int(hops) <= MAX_HOPS:
        raise ValueError(f"hops must be between 0 and {MAX_HOPS}, got {hops}; narrow the walk with relations=")
    if int(limit) < 1 or int(fanout) < 1:
        raise ValueError("limit and fanout must be positive")
    rows = conn.execute(_NEIGHBOURHOOD_SQL, {
        "node_id": node_id, "hops": int(hops), "relations": list(relations) if relations else None,
        "limit": int(limit), "fanout": int(fanout),
    }).fetchall()
    nodes = [json.loads(p) for kind, p in rows if kind == "node"]
    edges = [json.loads(p) for kind, p in rows if kind == "edge"]
    for n in nodes:
        n["attributes"] = _as_dict(n.get("attributes"))
    nodes.sort(key=lambda n: (n["depth"], -(n["mention_count"] or 0), n["node_id"]))
    edges.sort(key=lambda e: (e["relation"], e["source_id"], e["target_id"]))
    return Neighbourhood(centre=node_id, hops=int(hops), nodes=nodes, edges=edges)


_FOLLOW_SQL = f"""
with recursive walk(node_id, depth, path, weights) as (
    select
        node_id,
        0,
        [node_id],
        []::double[]
    from {NODES}
    where list_contains($start_ids::varchar[], node_id)
    union all
    select
        edges.target_id,
        walk.depth + 1,
        list_append(walk.path, edges.target_id),
        list_append(walk.weights, edges.weight)
    from walk
    inner join {EDGES} as edges
        on edges.source_id = walk.node_id
        and edges.relation = ($relations::varchar[])[walk.depth + 1]
    where walk.depth < len($relations::varchar[])
        and not list_contains(walk.path, edges.target_id)
        and (walk.depth + 1 <> $waypoint_step or edges.target_id = $waypoint)
)
select path, weights
from walk
where depth = len($relations::varchar[])
"""


def follow(conn: Connection, start_ids: Sequence[str], relations: Sequence[str],
           waypoint: tuple[int, str] | None = None) -> list[tuple[list[str], list[float]]]:
    """Paths that leave ``start_ids`` along exactly ``relations``, in order (a meta-path).

    ``waypoint=(step, node_id)`` pins the node reached after ``step`` edges. Returns (node ids,
    edge weights) per path.
    """
    step, node = waypoint if waypoint else (-1, "")
    rows = conn.execute(_FOLLOW_SQL, {
        "start_ids": list(start_ids), "relations": list(relations), "waypoint_step": int(step), "waypoint": node,
    }).fetchall()
    return [(list(path), list(weights)) for path, weights in rows]


_RESOLVE_SQL = f"""
select node_id
from {NODES}
where node_type = $node_type
    and (node_id = $text or node_id = $node_type || ':' || $text
         or lower(name) = lower($text) or name_zh = $text)
order by node_id = $text or node_id = $node_type || ':' || $text desc, mention_count desc, node_id
"""


def resolve(conn: Connection, node_type: str, text: str) -> list[str]:
    """Node ids of ``node_type`` that ``text`` names exactly: the id, its key, the name (any case) or the Chinese name."""
    return [r[0] for r in conn.execute(_RESOLVE_SQL, {"node_type": node_type, "text": text.strip()}).fetchall()]


_NODE_DETAILS_SQL = f"""
select node_id, node_type, name, name_zh, language, attributes
from {NODES}
where list_contains($ids::varchar[], node_id)
"""


def answer_path(conn: Connection, product: str, intent: str, language: str | None = None) -> list[dict[str, Any]]:
    """For this product and this problem: which article, under which policy.

    Walks product -has_issue-> intent -resolved_by-> kb_article -applies-> policy. ``product`` is
    a product id, node id, English name (any case) or Chinese name; ``intent`` an intent code or
    node id. When contacts have never tied the product to the intent the answer still comes from
    the intent's articles, with ``issue_conversations`` 0. ``language`` keeps articles in that
    language when there are any. One row per article, the requested language first; no rows
    when the product or the intent is unknown.
    """
    products = resolve(conn, "product", product)
    intents = resolve(conn, "intent", intent)
    if not products or not intents:
        return []
    product_id, intent_id = products[0], intents[0]
    paths = follow(conn, [product_id], ANSWER_RELATIONS, waypoint=(1, intent_id))
    if not paths:  # the product has not had this issue yet: the intent's own answer
        paths = [([product_id, *p], [0.0, *w]) for p, w in follow(conn, [intent_id], ANSWER_RELATIONS[1:])]
    ids = sorted({n for path, _ in paths for n in path})
    details = {r[0]: {"node_id": r[0], "node_type": r[1], "name": r[2], "name_zh": r[3], "language": r[4],
                      "attributes": _as_dict(r[5])}
               for r in conn.execute(_NODE_DETAILS_SQL, {"ids": ids}).fetchall()}
    answers = []
    for path, weights in paths:
        prod, inte, article, policy = (details[n] for n in path)
        answers.append({
            "product_id": prod["attributes"].get("product_id"), "product": prod["name"], "product_zh": prod["name_zh"],
            "intent": inte["name"], "intent_title_en": inte["attributes"].get("title_en"),
            "intent_title_zh": inte["attributes"].get("title_zh"), "issue_conversations": int(weights[0]),
            "article_id": article["attributes"].get("article_id"), "article_language": article["language"],
            "article_title": article["name"], "article_body": article["attributes"].get("body"),
            "policy_id": policy["attributes"].get("policy_id"), "policy": policy["name"],
            "policy_zh": policy["name_zh"], "path": path,
        })
    if language and any(a["article_language"] == language for a in answers):
        answers = [a for a in answers if a["article_language"] == language]
    order = {language: 0, "en": 1, "zh": 2}
    return sorted(answers, key=lambda a: (order.get(a["article_language"], 3), a["article_id"] or ""))


_SEARCH_SQL = f"""
select node_id, node_type, name, name_zh, language, mention_count
from {NODES}
where (contains(lower(name), lower($text))
       or contains(lower(coalesce(name_zh, '')), lower($text))
       or lower(substr(node_id, strpos(node_id, ':') + 1)) = lower($text)
       or node_id = $text)
    and ($node_types::varchar[] is null or list_contains($node_types::varchar[], node_type))
order by
    coalesce(lower(name) = lower($text) or name_zh = $text or node_id = $text
             or lower(substr(node_id, strpos(node_id, ':') + 1)) = lower($text), false) desc,
    mention_count desc,
    node_id
limit $limit
"""


def search_nodes(conn: Connection, text: str, node_types: Sequence[str] | None = None,
                 limit: int = 20) -> list[dict[str, Any]]:
    """Nodes whose name or Chinese name contains ``text`` (any case), or whose key is ``text`` (P001).

    Exact matches come first, then the most mentioned. ``text`` is matched literally: ``%`` and
    ``_`` are characters, not wildcards.
    """
    text = (text or "").strip()
    if not text:
        return []
    rows = conn.execute(_SEARCH_SQL, {"text": text, "node_types": list(node_types) if node_types else None,
                                      "limit": int(limit)}).fetchall()
    cols = ("node_id", "node_type", "name", "name_zh", "language", "mention_count")
    return [dict(zip(cols, r)) for r in rows]


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return json.loads(value)
