"""Embedding enrichment in the warehouse: the knowledge-base index, answer checks, zero/few-shot intent, discovery.

- ``ml.kb_passages``: every knowledge-base title and step, embedded (the answer hub retrieves
  from it; the knowledge graph links articles to policies).
- ``ml.contact_embeddings``: the customer's first message of each conversation.
- ``ml.solution_checks``: the knowledge-base intent an agent's answer matches; the quality
  check "correct information" compares it with the contact's intent.
- ``ml.intent_similarity``: zero-shot (article titles and steps only) and few-shot (plus the
  reviewed examples) intent by nearest prototype, for taxonomies with few or no labels.
- ``ml.intent_clusters`` / ``ml.contact_clusters``: clusters of contacts; a cluster far from
  every known intent is a candidate new intent.

Every table is keyed by the text's SHA-256 and the embedding model, so re-runs embed only new
or changed text.
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence, Callable

import duckdb
import numpy as np
import pyarrow as pa

from ml.embeddings import Embedder, split_passages, text_sha, top_k
from ml.registry import ensure_tables
from ml.taxonomy import cluster_terms

TASK = "embeddings"


def ensure_retrieval_tables(conn: duckdb.DuckDBPyConnection, dim: int) -> None:
    ensure_tables(conn)
    conn.execute(f"""
        create table if not exists ml.kb_passages (
            passage_id varchar not null, article_id varchar not null, passage_index integer not null,
            language varchar, intent varchar, policy_id varchar, team_id varchar, text varchar not null,
            model_version varchar not null, text_sha varchar not null, embedding float[{dim}] not null,
            scored_at timestamp not null, primary key (passage_id, model_version))""")
    conn.execute(f"""
        create table if not exists ml.contact_embeddings (
            conversation_id varchar not null, model_version varchar not null, text_sha varchar not null,
            embedding float[{dim}] not null, scored_at timestamp not null,
            primary key (conversation_id, model_version))""")
    conn.execute("""
        create table if not exists ml.solution_checks (
            conversation_id varchar not null, turn_index integer not null, model_version varchar not null,
            matched_article_id varchar, matched_intent varchar, similarity double, text_sha varchar not null,
            scored_at timestamp not null, primary key (conversation_id, turn_index, model_version))""")
    conn.execute("""
        create table if not exists ml.intent_similarity (
            conversation_id varchar not null, model_version varchar not null, method varchar not null,
            intent varchar not null, similarity double not null, margin double, scored_at timestamp not null,
            primary key (conversation_id, model_version, method))""")
    conn.execute("alter table ml.intent_similarity add column if not exists top_intents varchar[]")
    conn.execute("""
        create table if not exists ml.intent_clusters (
            model_version varchar not null, cluster_id integer not null, size bigint not null,
            nearest_intent varchar, nearest_similarity double, unexplained_share double,
            is_candidate_new boolean not null,
            examples json, clustered_at timestamp not null, primary key (model_version, cluster_id))""")
    # Added after the first release of the table: warehouses built before it gain the column.
    conn.execute("alter table ml.intent_clusters add column if not exists unexplained_share double")
    # The centroids both intent paths compare against, so a live query (the answer view) is scored the same way
    # as the stored contacts without reading any contact's text or vector.
    conn.execute(f"""
        create table if not exists ml.intent_prototypes (
            intent varchar not null, model_version varchar not null, method varchar not null,
            examples integer not null, embedding float[{dim}] not null, accuracy double,
            computed_at timestamp not null, primary key (intent, model_version, method))""")
    conn.execute("alter table ml.intent_prototypes add column if not exists temperature double")
    conn.execute("alter table ml.intent_prototypes add column if not exists escalate_below double")
    conn.execute("alter table ml.intent_clusters add column if not exists terms varchar[]")
    ensure_taxonomy_table(conn)
    conn.execute("""
        create table if not exists ml.contact_clusters (
            conversation_id varchar not null, model_version varchar not null, cluster_id integer not null,
            similarity_to_centroid double, primary key (conversation_id, model_version))""")


def ensure_taxonomy_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists ml")
    conn.execute("""
        create table if not exists ml.intent_taxonomy (
            intent varchar not null primary key, description varchar, examples varchar[], team_id varchar,
            priority varchar, sla_hours double, source varchar not null, loaded_at timestamp not null)""")


def register_embedder(conn: duckdb.DuckDBPyConnection, embedder: Embedder) -> None:
    """The embedding model appears in the model registry like any other (no training, no metrics)."""
    ensure_tables(conn)
    known = conn.execute("select count(*) from ml.ml_model_runs where task = ? and model_version = ?",
                         [TASK, embedder.name]).fetchall()[0][0]
    if not known:
        conn.execute("update ml.ml_model_runs set is_current = false where task = ?", [TASK])
        conn.execute("""insert into ml.ml_model_runs (task, model_version, path, trained_at, labels, config, is_current)
                        values (?, ?, ?, now()::timestamp, '[]', ?, true)""",
                     [TASK, embedder.name, embedder.name, json.dumps({"dim": embedder.dim})])


def _replace(conn: duckdb.DuckDBPyConnection, table: str, keys: list[str], data: pa.Table) -> None:
    """Delete-then-insert the rows of ``data`` by key, in one transaction (bulk, via Arrow)."""
    conn.register("_incoming", data)
    try:
        conn.execute("begin transaction")
        match = " and ".join(f"t.{k} = i.{k}" for k in keys)
        conn.execute(f"delete from {table} as t where exists (select 1 from _incoming as i where {match})")
        cols = ", ".join(data.column_names)
        conn.execute(f"insert into {table} ({cols}) select {cols} from _incoming")
        conn.execute("commit")
    finally:
        conn.unregister("_incoming")


def _vectors(conn, sql: str, params: list) -> tuple[list, np.ndarray]:
    rows = conn.execute(sql, params).fetchall()
    if not rows:
        return [], np.zeros((0, 1), dtype=np.float32)
    return [r[:-1] for r in rows], np.asarray([r[-1] for r in rows], dtype=np.float32)


def index_knowledge_base(conn_factory: Callable, embedder: Embedder) -> dict:
    """Embed every new or changed knowledge-base passage (titles and steps)."""
    with conn_factory() as conn:
        ensure_retrieval_tables(conn, embedder.dim)
        register_embedder(conn, embedder)
        articles = conn.execute("""select article_id, language, intent, policy_id, team_id, title, body
                                   from staging.stg_raw__kb_articles order by article_id""").fetchall()
        known = {r[0]: r[1] for r in conn.execute(
            "select passage_id, text_sha from ml.kb_passages where model_version = ?", [embedder.name]).fetchall()}
    rows = []
    for article_id, language, intent, policy_id, team_id, title, body in articles:
        for i, text in enumerate([title, *split_passages(body or "")]):
            rows.append({"passage_id": f"{article_id}#{i}", "article_id": article_id, "passage_index": i,
                         "language": language, "intent": intent, "policy_id": policy_id, "team_id": team_id,
                         "text": text, "text_sha": text_sha(text)})
    todo = [r for r in rows if known.get(r["passage_id"]) != r["text_sha"]]
    current_ids = {r["passage_id"] for r in rows}
    with conn_factory() as conn:
        stale = [p for p in known if p not in current_ids]  # articles withdrawn from the KB
        if stale:
            conn.execute("delete from ml.kb_passages where model_version = ? and list_contains(?, passage_id)",
                         [embedder.name, stale])
    if todo:
        vectors = embedder.passages([r["text"] for r in todo])
        data = pa.Table.from_pylist(todo).append_column("model_version", pa.array([embedder.name] * len(todo)))
        data = data.append_column("embedding", pa.array(list(vectors), pa.list_(pa.float32(), embedder.dim)))
        data = data.append_column("scored_at", pa.array([np.datetime64("now", "us")] * len(todo)))
        with conn_factory() as conn:
            _replace(conn, "ml.kb_passages", ["passage_id", "model_version"], data)
    return {"passages": len(rows), "embedded": len(todo), "removed": len(stale)}


def kb_matrix(conn: duckdb.DuckDBPyConnection, model_version: str) -> tuple[list, np.ndarray]:
    """(passage_id, article_id, intent, language, text) rows and their vectors."""
    return _vectors(conn, """select passage_id, article_id, intent, language, text, embedding
                             from ml.kb_passages where model_version = ? order by passage_id""", [model_version])


def embed_new_contacts(conn_factory: Callable, embedder: Embedder) -> dict:
    """Embed the first customer message of every conversation not yet embedded (or changed)."""
    with conn_factory() as conn:
        ensure_retrieval_tables(conn, embedder.dim)
        todo = conn.execute("""
            select f.conversation_id, f.text from intermediate.int_ml__first_customer_messages as f
            left join ml.contact_embeddings as e on e.conversation_id = f.conversation_id and e.model_version = ?
            where e.conversation_id is null or e.text_sha != sha256(f.text)
            order by f.conversation_id""", [embedder.name]).fetchall()
    if not todo:
        return {"embedded": 0}
    vectors = embedder.queries([t for _, t in todo])
    data = pa.table({
        "conversation_id": [c for c, _ in todo], "model_version": [embedder.name] * len(todo),
        "text_sha": [text_sha(t) for _, t in todo],
        "embedding": pa.array(list(vectors), pa.list_(pa.float32(), embedder.dim)),
        "scored_at": pa.array([np.datetime64("now", "us")] * len(todo)),
    })
    with conn_factory() as conn:
        _replace(conn, "ml.contact_embeddings", ["conversation_id", "model_version"], data)
    return {"embedded": len(todo)}


def check_new_solutions(conn_factory: Callable, embedder: Embedder) -> dict:
    """Match every new agent answer (turns the quality-act model reads as 'solution') to the knowledge base."""
    with conn_factory() as conn:
        ensure_retrieval_tables(conn, embedder.dim)
        if not conn.execute("select count(*) from information_schema.tables where table_schema = 'ml' "
                            "and table_name = 'turn_acts'").fetchall()[0][0]:
            return {"checked": 0, "reason": "no quality-act readings yet"}
        todo = conn.execute("""
            with current_acts as (
                select a.conversation_id, a.turn_index from ml.turn_acts as a
                join ml.ml_model_runs as r on r.task = 'quality_act' and r.is_current and r.model_version = a.model_version
                where a.act = 'solution'
            )
            select t.conversation_id, t.turn_index, t.text
            from current_acts join staging.stg_raw__turns as t using (conversation_id, turn_index)
            left join ml.solution_checks as s
                on s.conversation_id = t.conversation_id and s.turn_index = t.turn_index and s.model_version = ?
            where s.conversation_id is null or s.text_sha != sha256(t.text)
            order by 1, 2""", [embedder.name]).fetchall()
        meta, matrix = kb_matrix(conn, embedder.name)
    if not todo or not meta:
        return {"checked": 0}
    steps = [i for i, m in enumerate(meta) if not m[0].endswith("#0")]  # answers are compared with steps, not titles
    vectors = embedder.passages([t for _, _, t in todo])
    idx, score = top_k(vectors, matrix[steps], k=1)
    data = pa.table({
        "conversation_id": [c for c, _, _ in todo],
        "turn_index": pa.array([i for _, i, _ in todo], pa.int32()),
        "model_version": [embedder.name] * len(todo),
        "matched_article_id": [meta[steps[int(j)]][1] for j in idx[:, 0]],
        "matched_intent": [meta[steps[int(j)]][2] for j in idx[:, 0]],
        "similarity": score[:, 0].astype(float),
        "text_sha": [text_sha(t) for _, _, t in todo],
        "scored_at": pa.array([np.datetime64("now", "us")] * len(todo)),
    })
    with conn_factory() as conn:
        _replace(conn, "ml.solution_checks", ["conversation_id", "turn_index", "model_version"], data)
    return {"checked": len(todo)}


def _prototypes(labels: list[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    names = sorted(set(labels))
    protos = np.vstack([vectors[[i for i, y in enumerate(labels) if y == n]].mean(axis=0) for n in names])
    return names, protos / np.linalg.norm(protos, axis=1, keepdims=True).clip(min=1e-9)


def calibrate_similarity(similarities: np.ndarray, truth: Sequence[int]) -> tuple[float, float]:
    """(temperature, escalate_below) for turning prototype similarities into a confidence.

    Cosine similarities of one encoder sit in a narrow band, so the softmax needs a temperature:
    the one (on a log grid) that gives the held-out reviewed contacts the highest likelihood of
    their true intent. The escalation threshold is then chosen as for the classifier: the lowest
    confidence at or above which the path is right often enough (ml.intent.escalation_threshold).
    """
    from ml.intent import escalation_threshold

    truth = np.asarray(truth)
    best_t, best_nll = 1.0, np.inf
    for t in np.geomspace(1.0, 500.0, 60):
        logits = similarities * t
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll = -log_p[np.arange(len(truth)), truth].mean()
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    p = np.exp((similarities - similarities.max(axis=1, keepdims=True)) * best_t)
    p /= p.sum(axis=1, keepdims=True)
    correct = p.argmax(axis=1) == truth
    return round(best_t, 3), float(escalation_threshold(p.max(axis=1), correct))


def _held_out(conversation_id: str) -> bool:
    return int(hashlib.md5(conversation_id.encode()).hexdigest(), 16) % 5 == 0  # the same split as the intent model


def _taxonomy_rows(taxonomy, embedder: Embedder) -> tuple[list[str], np.ndarray]:
    """One (intent, vector) row per description and example of the company's taxonomy (none without one)."""
    if taxonomy is None or not taxonomy.intents:
        return [], np.zeros((0, embedder.dim), dtype=np.float32)
    from ml.taxonomy import taxonomy_prototypes

    names, counts, vectors = taxonomy_prototypes(taxonomy, embedder)
    return [n for n, k in zip(names, counts) for _ in range(k)], vectors


def score_intent_similarity(conn_factory: Callable, embedder: Embedder, taxonomy=None) -> dict:
    """Zero-shot (taxonomy and KB only) and few-shot (plus reviewed training examples) intent for every contact.

    The zero-shot prototypes average what the company wrote before any review: each intent's
    description and example phrases in ``taxonomy`` (ml.taxonomy) and the knowledge-base passages
    filed under it; so a warehouse with no labels and no knowledge base still gets intents from a
    taxonomy file, and one with neither gets none (the page says so). Recomputed in full each run
    (a matrix product); accuracy against the reviewed labels of the held-out split is returned, so
    the page can say how far either path can be trusted.
    """
    with conn_factory() as conn:
        ensure_retrieval_tables(conn, embedder.dim)
        meta, kb = kb_matrix(conn, embedder.name)
        contacts, vectors = _vectors(conn, """select conversation_id, embedding from ml.contact_embeddings
                                              where model_version = ? order by conversation_id""", [embedder.name])
        reviewed = dict(conn.execute("select conversation_id, intent from intermediate.int_annotations__agreed_intents")
                        .fetchall())
    tax_labels, tax_vectors = _taxonomy_rows(taxonomy, embedder)
    filed = [i for i, m in enumerate(meta) if m[2]]  # passages filed under an intent
    prior_labels = [meta[i][2] for i in filed] + tax_labels
    prior = np.vstack([kb.reshape(-1, embedder.dim)[filed], tax_vectors])
    if not prior_labels or not contacts:
        # Nothing to compare with (e.g. the taxonomy file was removed): earlier readings must not linger as
        # the intent of record.
        with conn_factory() as conn:
            for table in ("ml.intent_similarity", "ml.intent_prototypes"):
                conn.execute(f"delete from {table} where model_version = ?", [embedder.name])
        return {"scored": 0, "reason": "no contacts embedded yet" if prior_labels else
                "no taxonomy file and no knowledge base: nothing to compare contacts with before review"}
    ids = [c[0] for c in contacts]
    zero_names, zero_protos = _prototypes(prior_labels, prior)
    train = [i for i, c in enumerate(ids) if c in reviewed and not _held_out(c)]
    few_labels = prior_labels + [reviewed[ids[i]] for i in train]
    few_names, few_protos = _prototypes(few_labels, np.vstack([prior, vectors[train]]) if train else prior)
    tables, facts = [], {"scored": len(ids), "taxonomy_intents": len(set(tax_labels)),
                         "kb_intents": len({meta[i][2] for i in filed})}
    now = np.datetime64("now", "us")
    counts = {"zero-shot": {n: prior_labels.count(n) for n in zero_names},
              "few-shot": {n: few_labels.count(n) for n in few_names}}
    for method, names, protos in (("zero-shot", zero_names, zero_protos), ("few-shot", few_names, few_protos)):
        idx, score = top_k(vectors, protos, k=3)
        best = [names[int(j)] for j in idx[:, 0]]
        margin = score[:, 0] - (score[:, 1] if score.shape[1] > 1 else 0)
        tables.append(pa.table({
            "conversation_id": ids, "model_version": [embedder.name] * len(ids), "method": [method] * len(ids),
            "intent": best, "similarity": score[:, 0].astype(float), "margin": margin.astype(float),
            "top_intents": [[names[int(j)] for j in row] for row in idx],
            "scored_at": pa.array([now] * len(ids)),
        }))
        evaluated = [(b, reviewed[c]) for b, c in zip(best, ids) if c in reviewed and _held_out(c)]
        held = [i for i, c in enumerate(ids) if c in reviewed and _held_out(c) and reviewed[c] in names]
        if held:
            temperature, threshold = calibrate_similarity(vectors[held] @ protos.T,
                                                          [names.index(reviewed[ids[i]]) for i in held])
            facts[f"{method}_temperature"], facts[f"{method}_escalate_below"] = temperature, threshold
        if evaluated:
            facts[f"{method}_accuracy"] = round(float(np.mean([b == y for b, y in evaluated])), 4)
            facts[f"{method}_eval_examples"] = len(evaluated)
    prototypes = pa.concat_tables([pa.table({
        "intent": names, "model_version": [embedder.name] * len(names), "method": [method] * len(names),
        "examples": pa.array([counts[method][n] for n in names], pa.int32()),
        "embedding": pa.array(list(protos.astype(np.float32)), pa.list_(pa.float32(), embedder.dim)),
        "accuracy": pa.array([facts.get(f"{method}_accuracy")] * len(names), pa.float64()),
        "temperature": pa.array([facts.get(f"{method}_temperature")] * len(names), pa.float64()),
        "escalate_below": pa.array([facts.get(f"{method}_escalate_below")] * len(names), pa.float64()),
        "computed_at": pa.array([now] * len(names)),
    }) for method, names, protos in (("zero-shot", zero_names, zero_protos), ("few-shot", few_names, few_protos))])
    facts.update({f"{m.replace('-', '_')}_prototypes": len(n) for m, n in (("zero-shot", zero_names),
                                                                             ("few-shot", few_names))})
    with conn_factory() as conn:
        conn.execute("delete from ml.intent_prototypes where model_version = ?", [embedder.name])
        _replace(conn, "ml.intent_prototypes", ["intent", "model_version", "method"], prototypes)
        conn.execute("delete from ml.intent_similarity where model_version = ?", [embedder.name])
        for t in tables:
            _replace(conn, "ml.intent_similarity", ["conversation_id", "model_version", "method"], t)
        for method in ("zero-shot", "few-shot"):
            if f"{method}_accuracy" in facts:
                _record_accuracy(conn, f"intent_{method.replace('-', '_')}", embedder.name,
                                 facts[f"{method}_accuracy"], facts[f"{method}_eval_examples"])
    return facts


def store_taxonomy(conn_factory: Callable, taxonomy) -> dict:
    """Replace ``ml.intent_taxonomy`` with the taxonomy file as read (empty when there is none).

    Why in the warehouse: ticket routing (team, priority, SLA per intent), the review queue's
    choices and the pages read the taxonomy with the rest of the data, in the same snapshot.
    """
    intents = taxonomy.intents if taxonomy is not None else []
    source = str(taxonomy.path) if taxonomy is not None and taxonomy.path else "taxonomy"
    data = pa.table({
        "intent": [i.name for i in intents], "description": [i.description or None for i in intents],
        "examples": pa.array([list(i.examples) for i in intents], pa.list_(pa.string())),
        "team_id": pa.array([i.team for i in intents], pa.string()),
        "priority": pa.array([i.priority for i in intents], pa.string()),
        "sla_hours": pa.array([i.sla_hours for i in intents], pa.float64()),
        "source": [source] * len(intents),
        "loaded_at": pa.array([np.datetime64("now", "us")] * len(intents), pa.timestamp("us")),
    })
    with conn_factory() as conn:
        ensure_taxonomy_table(conn)
        conn.register("_taxonomy", data)
        try:
            conn.execute("begin transaction")
            conn.execute("delete from ml.intent_taxonomy")
            conn.execute(f"insert into ml.intent_taxonomy ({', '.join(data.column_names)}) "
                         f"select {', '.join(data.column_names)} from _taxonomy")
            conn.execute("commit")
        finally:
            conn.unregister("_taxonomy")
    return {"taxonomy_intents": len(intents), "taxonomy_errors": len(taxonomy.errors) if taxonomy else 0}


def _record_accuracy(conn: duckdb.DuckDBPyConnection, task: str, version: str, accuracy: float, n: int) -> None:
    """Keep the held-out accuracy of an embedding path in the registry, beside the trained models'.

    The intent mart reads it to decide which path labels contacts nobody reviewed.
    """
    conn.execute("begin transaction")
    conn.execute("delete from ml.ml_model_runs where task = ? and model_version = ?", [task, version])
    conn.execute("update ml.ml_model_runs set is_current = false where task = ?", [task])
    conn.execute("""insert into ml.ml_model_runs (task, model_version, path, trained_at, eval_examples, accuracy,
                                                  labels, config, is_current)
                    values (?, ?, ?, now()::timestamp, ?, ?, '[]', '{}', true)""", [task, version, version, n, accuracy])
    conn.execute("commit")


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(min=1e-9)


def _centre_by_language(vectors: np.ndarray, texts: Sequence[str], min_group: int = 3) -> np.ndarray:
    """Vectors with each language's mean direction removed, for clustering by topic.

    Why: in a multilingual encoder the language of a message is one of the strongest directions,
    so k-means on raw vectors puts "the Chinese messages" in one cluster whatever they ask (seen on
    a mixed English/Chinese set: one cluster held every topic's Chinese messages). Removing the
    per-language mean keeps what the messages say. Languages with fewer than ``min_group``
    messages keep the overall mean removed instead.
    """
    from ml.language import detect_languages

    languages = np.array([lang for lang, _ in detect_languages(texts)])
    out = vectors - vectors.mean(axis=0)
    for lang in set(languages):
        members = languages == lang
        if members.sum() >= min_group:
            out[members] = vectors[members] - vectors[members].mean(axis=0)
    return _unit(out)


_CLUSTER_SCHEMA = pa.schema([
    ("model_version", pa.string()), ("cluster_id", pa.int32()), ("size", pa.int64()), ("nearest_intent", pa.string()),
    ("nearest_similarity", pa.float64()), ("unexplained_share", pa.float64()), ("is_candidate_new", pa.bool_()),
    ("examples", pa.string()), ("terms", pa.list_(pa.string())), ("clustered_at", pa.timestamp("us"))])


def discover_intents(conn_factory: Callable, embedder: Embedder, clusters: int | None = None,
                     novelty_quantile: float = 0.05, seed: int = 0, taxonomy=None) -> dict:
    """Cluster contacts; flag clusters most of whose members no known intent explains.

    A contact is unexplained when its similarity to the nearest intent prototype is below a
    data-driven bar: the ``novelty_quantile`` of reviewed contacts' similarity to their own
    intent's prototype. A cluster where most members are unexplained talks about something the
    taxonomy lacks. (Cluster centres are not compared directly: averaging pulls every centre
    towards the common direction of the embedding space, so centres all look familiar.)
    """
    from sklearn.cluster import KMeans

    with conn_factory() as conn:
        ensure_retrieval_tables(conn, embedder.dim)
        meta, kb = kb_matrix(conn, embedder.name)
        contacts, vectors = _vectors(conn, """
            select e.conversation_id, t.text, e.embedding from ml.contact_embeddings as e
            join intermediate.int_ml__first_customer_messages as t using (conversation_id)
            where e.model_version = ? order by e.conversation_id""", [embedder.name])
        reviewed = dict(conn.execute("select conversation_id, intent from intermediate.int_annotations__agreed_intents")
                        .fetchall())
    if len(contacts) < 20:
        with conn_factory() as conn:  # no stale topics from an earlier, larger warehouse
            for table in ("ml.intent_clusters", "ml.contact_clusters"):
                conn.execute(f"delete from {table} where model_version = ?", [embedder.name])
        return {"clusters": 0, "reason": f"only {len(contacts)} contacts embedded (clusters need 20)"}
    ids = [c[0] for c in contacts]
    labelled = [i for i, c in enumerate(ids) if c in reviewed]
    tax_labels, tax_vectors = _taxonomy_rows(taxonomy, embedder)
    filed = [i for i, m in enumerate(meta) if m[2]]
    known = [meta[i][2] for i in filed] + tax_labels + [reviewed[ids[i]] for i in labelled]
    names, protos = (_prototypes(known, np.vstack([kb.reshape(-1, embedder.dim)[filed], tax_vectors,
                                                   vectors[labelled]])) if known else ([], None))
    if labelled:
        own = np.array([vectors[i] @ protos[names.index(reviewed[ids[i]])] for i in labelled])
        bar = float(np.quantile(own, novelty_quantile))
    elif names:
        bar = float(np.quantile((vectors @ protos.T).max(axis=1), novelty_quantile))
    else:
        bar = None  # no intent known at all: every cluster is a candidate
    # Without a taxonomy the number of clusters follows the data: about one per 40 contacts, 8 to 40.
    k = clusters or (min(len(ids) // 5, max(8, int(len(names) * 1.5))) if names
                     else min(len(ids) // 5, max(8, min(40, len(ids) // 40))))
    topical = _centre_by_language(vectors, [c[1] for c in contacts])
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(topical)
    member_sim = (topical * _unit(km.cluster_centers_)[km.labels_]).sum(axis=1)
    # The centre compared with the known intents is the members' mean in the encoder's own space.
    centres = _unit(np.vstack([vectors[km.labels_ == c].mean(axis=0) if (km.labels_ == c).any()
                               else np.zeros(vectors.shape[1]) for c in range(k)]))
    unexplained = ((vectors @ protos.T).max(axis=1) < bar) if names else np.ones(len(ids), dtype=bool)
    named = cluster_terms([c[1] for c in contacts], km.labels_)
    rows, now = [], np.datetime64("now", "us")
    for c in range(k):
        members = np.where(km.labels_ == c)[0]
        if not len(members):
            continue
        near = members[np.argsort(-member_sim[members])[:3]]
        sims = protos @ centres[c] if names else None
        j = int(sims.argmax()) if names else None
        rows.append({"model_version": embedder.name, "cluster_id": c, "size": int(len(members)),
                     "nearest_intent": names[j] if names else None,
                     "nearest_similarity": float(sims[j]) if names else None,
                     "unexplained_share": float(unexplained[members].mean()),
                     "is_candidate_new": bool(unexplained[members].mean() >= 0.5),
                     "examples": json.dumps([contacts[i][1] for i in near], ensure_ascii=False),
                     "terms": named.get(c, []), "clustered_at": now})
    with conn_factory() as conn:
        conn.execute("delete from ml.intent_clusters where model_version = ?", [embedder.name])
        conn.execute("delete from ml.contact_clusters where model_version = ?", [embedder.name])
        _replace(conn, "ml.intent_clusters", ["model_version", "cluster_id"], pa.Table.from_pylist(rows, schema=_CLUSTER_SCHEMA))
        _replace(conn, "ml.contact_clusters", ["conversation_id", "model_version"], pa.table({
            "conversation_id": ids, "model_version": [embedder.name] * len(ids),
            "cluster_id": pa.array(km.labels_.astype(int), pa.int32()),
            "similarity_to_centroid": member_sim.astype(float)}))
    return {"clusters": len(rows), "candidate_new": sum(r["is_candidate_new"] for r in rows),
            "novelty_bar": round(bar, 4) if bar is not None else None, "known_intents": len(names),
            "contacts": len(ids)}
