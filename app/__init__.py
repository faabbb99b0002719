"""nasnav's Dash UI. It reads engine snapshots and sends commands; it never trains."""

from __future__ import annotations
