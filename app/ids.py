"""Component IDs, as constants (callbacks and browser tests import them from here)."""

from __future__ import annotations

# polling and shared state
POLL = "poll"
VERSION = "snapshot-version"
SELECTION = "selection-store"
INSPECT = "inspect-store"
HIDE_TRUTH = "hide-truth"
REVEAL_TRUTH = "reveal-truth"

# status and controls
STATUS = "status"
ALERT = "alert"
STRATEGY = "strategy"
PROXY = "proxy"
BUDGET = "budget"
START = "btn-start"
PAUSE = "btn-pause"
RESUME = "btn-resume"
STOP = "btn-stop"

# supernet graph and steering
CELL_GRAPH = "cell-graph"
CHIPS = "chips"
CHIP = "chip"  # pattern-matching type: {"type": CHIP, "edge": e, "op": op}
CLICK_MODE = "click-mode"
IMPORTANCE_METRIC = "importance-metric"
NOTE = "steer-note"
UNDO = "btn-undo"
RESET = "btn-reset"
HISTORY = "history"

# embedding
EMBEDDING = "embedding"
COLOUR_BY = "colour-by"
COLOUR_SCALE = "colour-scale"
EMBED_INFO = "embedding-info"

# progress
PROGRESS = "progress-graph"
TIME_GRAPH = "time-graph"
SUPERNET = "supernet-graph"
THROUGHPUT = "throughput"
BEST_TABLE = "best-table"

# inspector
ARCH_INPUT = "arch-input"
INSPECT_BTN = "btn-inspect"
TRAIN_BTN = "btn-train"
INSPECT_CELL = "inspect-cell"
INSPECT_SCORES = "inspect-scores"
ATTRIBUTION = "attribution-graph"
ATTR_METRIC = "attribution-metric"
ZICO_LAYERS = "zico-layers-graph"
INSPECT_POLL = "inspect-poll"
EXPORT_JSON = "btn-export-json"
EXPORT_PY = "btn-export-py"
DOWNLOAD = "download"

# proxy comparison
CMP_X = "compare-x"
CMP_Y = "compare-y"
CMP_SCATTER = "compare-scatter"
CMP_METHOD = "compare-method"
CMP_HEATMAP = "compare-heatmap"
CMP_TOPK = "compare-topk"
CMP_K = "compare-k"
CMP_INFO = "compare-info"
