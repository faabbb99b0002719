"""The page: one screen of linked views. Static structure only; data comes in callbacks."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from app import ids
from nas_engine.proxies import list_proxies, proxy_class
from nas_engine.runner import SearchConfig
from nas_engine.strategies import STRATEGIES, list_strategies

HELP = {
    "graph": (
        "The NAS-Bench-201 cell: 4 nodes, 6 edges, each edge one of 5 ops. Chips show every "
        "op of every edge: solid = allowed, struck-out = pruned, outlined = pinned. A chip's "
        "colour says how candidates using that op on that edge score against the others "
        "(green better, red worse) on the chosen metric. Clicking a chip prunes/restores it, "
        "or pins/unpins it, and the search obeys the new mask from its next candidate."
    ),
    "embedding": (
        "All 15,625 cells laid out in 2-D (UMAP of one-hot encodings, cached on disk). Faint "
        "points are not evaluated yet, grey ones are excluded by the mask, solid ones are "
        "evaluated and coloured by the chosen metric. Box/lasso-select to filter the proxy "
        "comparison; click a point to inspect it."
    ),
    "progress": (
        "Best-so-far fitness against evaluations and time, the supernet's training curve, and "
        "throughput. Start creates a run (or continues the paused one with these settings)."
    ),
    "inspector": (
        "Why does this cell rank high? Each proxy with its percentile among evaluated cells; "
        "how the score and the ground truth change when one edge's op is swapped (computed in "
        "the background, then cached); ZiCo's per-layer terms. Export as JSON or PyTorch."
    ),
    "compare": (
        "Proxies against each other or against accuracy, on a rank scale, over the current "
        "selection (all evaluated cells when nothing is selected): scatter, Spearman/Kendall "
        "heatmap and top-k overlap."
    ),
}


def _help(key: str) -> html.Details:
    return html.Details([html.Summary("?"), html.P(HELP[key])], className="help")


def proxy_help() -> html.Details:
    """A table explaining every registered proxy (teaching aid)."""
    rows = []
    for name in list_proxies():
        cls = proxy_class(name)
        rows.append(
            html.Tr(
                [
                    html.Td(name),
                    html.Td(cls.description),
                    html.Td("higher" if cls.higher_is_better else "lower"),
                    html.Td("yes" if cls.needs_data else "no"),
                    html.Td(getattr(cls, "cost", "")),
                ]
            )
        )
    head = html.Tr([html.Th(h) for h in ("proxy", "what it measures", "better", "data?", "cost")])
    return html.Details(
        [html.Summary("What do the proxies measure?"), html.Table([head, *rows])],
        className="help proxy-help",
    )


def _chip_rows() -> list[html.Div]:
    """Static chip buttons (one per edge and op); callbacks only restyle them, so a click
    never lands on a node that a re-render replaced."""
    from app.plots import OP_SHORT
    from nas_engine.search_spaces import create_space

    space = create_space("nb201")
    rows = []
    for e, (i, j) in enumerate(space.edges):
        chips = [
            html.Button(OP_SHORT[op], id={"type": ids.CHIP, "edge": e, "op": op},
                        className="chip allowed", n_clicks=0)
            for op in space.ops
        ]  # fmt: skip
        rows.append(
            html.Div([html.Span(f"e{e} {i}→{j}", className="edge-label"), *chips],
                     className="chip-row")
        )  # fmt: skip
    return rows


def metric_dropdown_options() -> list[dict[str, str]]:
    """Initial metric options (callbacks narrow them to what the run has)."""
    from app.viewmodel import EXTRA_METRICS

    return [{"label": p, "value": p} for p in list_proxies()] + [
        {"label": lab, "value": m} for m, lab in EXTRA_METRICS.items()
    ]


def _card(title: str, help_key: str, *children: Any, cls: str = "") -> html.Div:
    return html.Div(
        [html.Div([html.H3(title), _help(help_key)], className="card-head"), *children],
        className=f"card {cls}".strip(),
    )


def build_layout(defaults: SearchConfig, *, poll_ms: int = 1000) -> html.Div:
    """The whole page.

    Args:
        defaults: Default run settings shown in the controls.
        poll_ms: Snapshot polling interval.

    Returns:
        The root component.
    """
    strategies = [
        {"label": f"{s} — {STRATEGIES.get(s).description}", "value": s} for s in list_strategies()
    ]
    proxies = [{"label": p, "value": p} for p in list_proxies()] + [
        {"label": "ensemble (rank)", "value": "ensemble"}
    ]
    controls = html.Div(
        [
            html.Label(
                [
                    "strategy",
                    dcc.Dropdown(strategies, defaults.strategy, id=ids.STRATEGY, clearable=False),
                ]
            ),
            html.Label(
                [
                    "fitness proxy",
                    dcc.Dropdown(proxies, defaults.proxy, id=ids.PROXY, clearable=False),
                ]
            ),
            html.Label(
                [
                    "budget",
                    dcc.Input(
                        id=ids.BUDGET,
                        type="text",
                        value=str(defaults.budget),
                        debounce=True,
                        size="6",
                    ),
                ]
            ),
            html.Button("Start", id=ids.START, className="btn primary"),
            html.Button("Pause", id=ids.PAUSE, className="btn"),
            html.Button("Resume", id=ids.RESUME, className="btn"),
            html.Button("Stop", id=ids.STOP, className="btn danger"),
            dcc.Checklist(
                [{"label": " hide ground truth (classroom)", "value": "hide"}],
                [],
                id=ids.HIDE_TRUTH,
                className="inline",
            ),
            html.Button("Reveal", id=ids.REVEAL_TRUTH, className="btn small"),
        ],
        className="controls",
    )
    graph_card = _card(
        "Supernet graph & steering",
        "graph",
        dcc.Graph(id=ids.CELL_GRAPH, config={"displayModeBar": False}),
        html.Div(
            [
                dcc.RadioItems(
                    [
                        {"label": " prune / restore", "value": "prune"},
                        {"label": " pin / unpin", "value": "pin"},
                    ],
                    "prune",
                    id=ids.CLICK_MODE,
                    inline=True,
                ),
                html.Label(
                    [
                        "colour chips by ",
                        dcc.Dropdown(
                            metric_dropdown_options(),
                            "fitness",
                            id=ids.IMPORTANCE_METRIC,
                            clearable=False,
                            className="small-dd",
                        ),
                    ]
                ),
            ],
            className="row",
        ),
        html.Div(_chip_rows(), id=ids.CHIPS, className="chips"),
        html.Div(
            [
                dcc.Input(
                    id=ids.NOTE,
                    type="text",
                    placeholder="optional note for the next action",
                    debounce=False,
                    className="note",
                ),
                html.Button("Undo", id=ids.UNDO, className="btn"),
                html.Button("Reset mask", id=ids.RESET, className="btn"),
            ],
            className="row",
        ),
        html.Ol(id=ids.HISTORY, className="history"),
    )
    embed_card = _card(
        "Embedding",
        "embedding",
        html.Div(
            [
                html.Label(
                    [
                        "colour by ",
                        dcc.Dropdown(
                            metric_dropdown_options(),
                            "fitness",
                            id=ids.COLOUR_BY,
                            clearable=False,
                            className="small-dd",
                        ),
                    ]
                ),
                dcc.RadioItems(
                    [
                        {"label": " rank", "value": "rank"},
                        {"label": " log", "value": "log"},
                        {"label": " linear", "value": "linear"},
                    ],
                    "rank",
                    id=ids.COLOUR_SCALE,
                    inline=True,
                ),
                html.Span(id=ids.EMBED_INFO, className="muted"),
            ],
            className="row",
        ),
        dcc.Graph(id=ids.EMBEDDING, config={"displaylogo": False}),
    )
    progress_card = _card(
        "Search progress",
        "progress",
        html.Div(id=ids.THROUGHPUT, className="muted"),
        dcc.Graph(id=ids.PROGRESS, config={"displayModeBar": False}),
        html.Div(
            [
                dcc.Graph(id=ids.TIME_GRAPH, config={"displayModeBar": False}),
                dcc.Graph(id=ids.SUPERNET, config={"displayModeBar": False}),
            ],
            className="two",
        ),
        html.Div(id=ids.BEST_TABLE),
    )
    inspector_card = _card(
        "Architecture inspector",
        "inspector",
        html.Div(
            [
                dcc.Input(
                    id=ids.ARCH_INPUT,
                    type="text",
                    debounce=True,
                    className="arch-input",
                    placeholder="|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|",
                ),
                html.Button("Inspect", id=ids.INSPECT_BTN, className="btn"),
                html.Button("Train from scratch", id=ids.TRAIN_BTN, className="btn"),
                html.Button("Export JSON", id=ids.EXPORT_JSON, className="btn"),
                html.Button("Export PyTorch", id=ids.EXPORT_PY, className="btn"),
                dcc.Download(id=ids.DOWNLOAD),
            ],
            className="row",
        ),
        html.Div(
            [
                html.Div(
                    [
                        dcc.Graph(id=ids.INSPECT_CELL, config={"displayModeBar": False}),
                        html.Div(id=ids.INSPECT_SCORES),
                    ]
                ),
                html.Div(
                    [
                        html.Label(
                            [
                                "attribution metric ",
                                dcc.Dropdown(
                                    [{"label": p, "value": p} for p in list_proxies()],
                                    defaults.proxy if defaults.proxy != "ensemble" else "zico",
                                    id=ids.ATTR_METRIC,
                                    clearable=False,
                                    className="small-dd",
                                ),
                            ]
                        ),
                        dcc.Graph(id=ids.ATTRIBUTION, config={"displayModeBar": False}),
                        dcc.Graph(id=ids.ZICO_LAYERS, config={"displayModeBar": False}),
                    ]
                ),
            ],
            className="two",
        ),
        dcc.Interval(id=ids.INSPECT_POLL, interval=700, disabled=True),
    )
    compare_card = _card(
        "Proxy comparison",
        "compare",
        html.Div(
            [
                html.Label(
                    [
                        "x ",
                        dcc.Dropdown(
                            metric_dropdown_options(),
                            "zico",
                            id=ids.CMP_X,
                            clearable=False,
                            className="small-dd",
                        ),
                    ]
                ),
                html.Label(
                    [
                        "y ",
                        dcc.Dropdown(
                            metric_dropdown_options(),
                            "fitness",
                            id=ids.CMP_Y,
                            clearable=False,
                            className="small-dd",
                        ),
                    ]
                ),
                dcc.RadioItems(
                    [
                        {"label": " Spearman", "value": "spearman"},
                        {"label": " Kendall", "value": "kendall"},
                    ],
                    "spearman",
                    id=ids.CMP_METHOD,
                    inline=True,
                ),
                html.Label(
                    [
                        "top-k ",
                        dcc.Input(id=ids.CMP_K, type="number", value=10, min=1, step=1, size="4"),
                    ]
                ),
                html.Span(id=ids.CMP_INFO, className="muted"),
            ],
            className="row",
        ),
        html.Div(
            [
                dcc.Graph(id=ids.CMP_SCATTER, config={"displayModeBar": False}),
                dcc.Graph(id=ids.CMP_HEATMAP, config={"displayModeBar": False}),
            ],
            className="two",
        ),
        dcc.Graph(id=ids.CMP_TOPK, config={"displayModeBar": False}),
        proxy_help(),
    )
    return html.Div(
        [
            html.Header(
                [html.H1("nasnav"), html.Span(id=ids.STATUS, className="status"), controls]
            ),
            html.Div(id=ids.ALERT, className="alert", role="alert"),
            html.Main(
                [graph_card, embed_card, progress_card, inspector_card, compare_card],
                className="grid",
            ),
            dcc.Interval(id=ids.POLL, interval=poll_ms),
            dcc.Store(id=ids.VERSION, data=-1),
            dcc.Store(id=ids.SELECTION, data=None),
            dcc.Store(id=ids.INSPECT, data=None),
        ],
        className="page",
    )
