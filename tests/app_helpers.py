"""Small, fast app set-ups shared by the app tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app import AppController, ids
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig
from nas_engine.storage import SQLiteStorage

TINY = {
    "dataset": "synthetic",
    "proxies": ("zico", "naswot", "synflow", "params"),
    "proxy": "zico",
    "proxy_C": 4,
    "proxy_N": 1,
    "proxy_batch_size": 8,
    "supernet_batch_size": 16,
    "steps_per_candidate": 1,
    "supernet_warmup": 20,  # a short warm-up: the default 500 steps dominated these tests
    "budget": 400,
}


#: The macro chain's tiny networks: it has a width option only, so the ``*_N`` stay unset.
TINY_MACRO = {
    **{k: v for k, v in TINY.items() if k != "proxy_N"},
    "space": "macro",
    "proxy_C": 4,
    "supernet_C": 4,
    "train_C": 4,
}


def make_controller(tmp: Path, *, db: str = "app.db", **overrides: Any) -> AppController:
    """A controller on the synthetic set with tiny networks and a PCA layout."""
    return _controller(tmp, SearchConfig(**{**TINY, **overrides}), db=db)


def make_macro_controller(tmp: Path, *, db: str = "app.db", **overrides: Any) -> AppController:
    """:func:`make_controller` serving the macro space (tiny widths, no depth option)."""
    return _controller(tmp, SearchConfig(**{**TINY_MACRO, **overrides}), db=db)


def _controller(tmp: Path, cfg: SearchConfig, *, db: str) -> AppController:
    storage = SQLiteStorage(tmp / db)
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    return AppController(
        storage,
        defaults=cfg,
        cache_dir=tmp / "cache",
        layout_method="pca",
        data=data,
        checkpoint_dir=tmp / "ckpt",
    )


#: A tab's identity, as the page's poll gives it (steering callbacks need one).
VIEWER_STORE = {"key": "0123abcd", "name": "viewer 1"}
DEFAULT_STATE = {(ids.VIEWER, "data"): VIEWER_STORE}


def post_callback(
    app: Any,
    target: tuple[str, str],
    value: Any,
    *,
    output: str = "",
    state: dict[tuple[str, str], Any] | None = None,
    values: dict[tuple[str, str], Any] | None = None,
) -> Any:
    """Post one callback the way the renderer does, with ``value`` as the input
    ``target`` (id, property) and every other input and state empty; ``output`` picks
    the callback whose output key contains it."""
    key, cb = next(
        (k, v)
        for k, v in app.callback_map.items()
        if output in k and any(_matches(i, target) for i in v["inputs"])
    )
    outs = [o.split(".", 1) for o in key.strip(".").split("...")]
    body = {
        "output": key,
        "outputs": [{"id": i, "property": p.split("@")[0]} for i, p in outs]
        if key.startswith("..")
        else {"id": outs[0][0], "property": outs[0][1].split("@")[0]},
        "inputs": [_input(i, target, value, values or {}) for i in cb["inputs"]],
        "changedPropIds": [f"{_id_text(target[0])}.{target[1]}"],
        "state": [
            {**s, "value": {**DEFAULT_STATE, **(state or {})}.get((s["id"], s["property"]))}
            for s in cb["state"]
        ],
    }
    return app.server.test_client().post(
        "/_dash-update-component", data=json.dumps(body), content_type="application/json"
    )


def _id_text(id_: Any) -> str:
    """A component id as Dash writes it in a prop id (dict ids as sorted, compact JSON)."""
    return json.dumps(id_, sort_keys=True, separators=(",", ":")) if isinstance(id_, dict) else id_


def _matches(spec: dict[str, Any], target: tuple[Any, str]) -> bool:
    """Whether a callback input spec is ``target`` (a wildcard spec matches a dict id of
    its type)."""
    id_, prop = target
    if spec["property"] != prop:
        return False
    pattern = _wildcard(spec)
    if pattern is None or isinstance(id_, str):
        return spec["id"] == id_
    return pattern.get("type") == id_.get("type")


def _wildcard(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The pattern of a wildcard input spec (its id is JSON text), else ``None``."""
    id_ = spec["id"]
    if isinstance(id_, dict):
        return id_
    return json.loads(id_) if isinstance(id_, str) and id_.startswith("{") else None


def _input(
    spec: dict[str, Any], target: tuple[Any, str], value: Any, values: dict[Any, Any]
) -> Any:
    """One input of the request body: ``value`` on the target, ``values`` or empty
    elsewhere (a wildcard input lists the target alone, or nothing)."""
    if _wildcard(spec) is not None:
        hit = _matches(spec, target)
        return [{"id": target[0], "property": spec["property"], "value": value}] if hit else []
    other = values.get((spec["id"], spec["property"]))
    return {**spec, "value": value if _matches(spec, target) else other}
