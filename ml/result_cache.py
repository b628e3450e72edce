"""Results of stateless fits, kept per data folder and reused while their inputs and code are unchanged.

Why: the forecast backtest, the forecasts and the team suggestions are refitted at every dbt build
(Prophet per series and fold, a classifier over every contact) although a scheduled run with no new
contacts hands them the very same inputs: 30 s of the sample build, far more on a big warehouse. A
result is filed under a SHA-256 of everything it depends on: the inputs (frames and values, by
content), the source of the modules that compute it and the versions of the libraries they call.
Any change to one of them is a different key, so a stale result cannot be served; what is not
reused by a call is removed after it, so the folder holds one generation per kind.

``SI_RESULT_CACHE=0`` turns it off (every call fits again: how the tests check that a fit itself
is deterministic). Files live in ``$SI_DATA_DIR/cache/<kind>/`` beside the warehouse they feed;
they hold model outputs only, never the texts themselves.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


def enabled() -> bool:
    from service_insight.settings import get_settings

    return get_settings().result_cache


def cache_dir(kind: str) -> Path:
    from service_insight.settings import get_settings

    return get_settings().data_dir / "cache" / kind


def code_fingerprint(modules: Iterable[str], packages: Iterable[str] = ()) -> str:
    """SHA-256 over the source files of ``modules`` and the versions of ``packages``."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for name in modules:
        source = getattr(importlib.import_module(name), "__file__", None)
        digest.update(name.encode() + b"\0" + (Path(source).read_bytes() if source else b"") + b"\0")
    for name in packages:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name}==absent\0".encode())
    return digest.hexdigest()


def _feed(digest, obj: Any) -> None:
    """Feed ``obj`` to ``digest`` by content: equal frames give equal bytes whatever their memory layout."""
    import numpy as np
    import pandas as pd

    digest.update(type(obj).__name__.encode() + b"\0")
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        digest.update(f"{obj.dtype}{obj.shape}".encode() + np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            _feed(digest, key)
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple, np.ndarray)):
        digest.update(str(len(obj)).encode())
        for item in obj:
            _feed(digest, item)
    elif obj is None or isinstance(obj, (str, bytes, bool, int, float, np.generic)):
        digest.update(repr(obj).encode())
    elif hasattr(obj, "__dataclass_fields__"):  # a config: its repr lists every field
        digest.update(repr(obj).encode())
    else:
        raise TypeError(f"no content hash for {type(obj).__name__}")
    digest.update(b"\1")


def input_key(code: str, *inputs: Any) -> str | None:
    """The key of one call, or None when an input has no content hash (then it is simply not cached)."""
    digest = hashlib.sha256(code.encode() + b"\0")
    try:
        _feed(digest, inputs)
    except Exception:
        return None
    return digest.hexdigest()


def _load(path: Path) -> tuple[bool, Any]:
    try:
        with path.open("rb") as handle:
            return True, pickle.load(handle)
    except Exception:  # unreadable (half-written by a killed run, disk trouble): fit again
        return False, None


def _store(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(value, handle, protocol=5)
        os.replace(tmp, path)  # a reader sees the whole file or none
    except OSError:
        pass  # a full or read-only disk costs a refit next time, never the build


def cached_map(kind: str, fn: Callable[[Any], Any], items: Sequence[Any], code: str,
               compute: Callable[[list[Any]], list[Any]]) -> tuple[list[Any], int]:
    """``[fn(item) for item in items]`` where results of earlier identical calls are reused.

    ``compute`` fits the items not found (in one batch, so a process pool still spreads them);
    returns (results in order, how many were reused). Entries of ``kind`` this call did not use are
    removed afterwards.
    """
    if not enabled():
        return list(compute(list(items))), 0
    folder = cache_dir(kind)
    keys = [input_key(code, getattr(fn, "__qualname__", repr(fn)), item) for item in items]
    results: list[Any] = [None] * len(items)
    todo: list[int] = []
    for i, key in enumerate(keys):
        found, value = _load(folder / f"{key}.pkl") if key else (False, None)
        if found:
            results[i] = value
        else:
            todo.append(i)
    if todo:
        for i, value in zip(todo, compute([items[i] for i in todo])):
            results[i] = value
            if keys[i]:
                _store(folder / f"{keys[i]}.pkl", value)
    keep = {f"{key}.pkl" for key in keys if key}
    if folder.exists():
        for old in folder.glob("*.pkl"):
            if old.name not in keep:
                old.unlink(missing_ok=True)
    return results, len(items) - len(todo)


def cached_call(kind: str, fn: Callable[..., Any], code: str, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, reused while the arguments and ``code`` are unchanged."""
    results, _ = cached_map(kind, fn, [(args, tuple(sorted(kwargs.items())))], code,
                            lambda calls: [fn(*a, **dict(kw)) for a, kw in calls])
    return results[0]
