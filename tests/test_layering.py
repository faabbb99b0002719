"""The layers hold: the engine never loads the UI, and the UI reaches the engine through
the controller and the viewmodel only. A view is one module plus one registry line."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app"
#: The only app modules allowed to import the engine (see app/controller.py's docstring).
ENGINE_DOORS = ("app/controller/", "app/viewmodel/")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, top level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _app_files() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _rel(p: Path) -> str:
    return p.relative_to(REPO).as_posix()


def test_engine_modules_load_no_ui() -> None:
    """Import every nas_engine module in a fresh interpreter: no dash, plotly or app."""
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import nas_engine
        names = [m.name for m in pkgutil.walk_packages(nas_engine.__path__, "nas_engine.")
                 if not m.name.endswith(".__main__")]  # running one is not importing it
        for name in names:
            importlib.import_module(name)
        ui = sorted({m.split(".")[0] for m in sys.modules} & {"dash", "plotly", "app"})
        print(len(names), ui)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    n, ui = res.stdout.strip().split(" ", 1)
    assert int(n) >= 20  # the walk found the engine's modules
    assert ui == "[]", f"engine imports load UI modules: {ui}"


def test_only_the_controller_and_viewmodel_import_the_engine() -> None:
    offenders = {
        _rel(p): sorted(m for m in _imports(p) if m.split(".")[0] == "nas_engine")
        for p in _app_files()
        if not _rel(p).startswith(ENGINE_DOORS)
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"app modules importing the engine directly: {offenders}"
    assert any("nas_engine" in m for m in _imports(APP / "controller" / "__init__.py"))


def test_the_cli_serves_through_the_app_entry_point() -> None:
    cli = "".join(p.read_text() for p in (REPO / "nas_engine" / "cli").glob("*.py"))
    assert "app.serve" in cli and "create_app" not in cli and "AppController" not in cli


def _view_ids(module: object) -> dict[str, str]:
    return {
        k: v
        for k, v in vars(module).items()
        if k.isupper() and isinstance(v, str) and k not in ("TITLE", "HELP", "PLACEHOLDER")
    }


def test_each_view_is_one_module_plus_one_registry_line() -> None:
    """For every registered view, count the files that know it: its own module, and the
    registry's one line naming it. Its component IDs appear in no other app file."""
    from app.views import VIEWS, load_views

    registry = (APP / "views" / "__init__.py").read_text()
    sources = {_rel(p): p.read_text() for p in _app_files()}
    # the registry names each view once; that line is counted above, not as a use of an ID
    sources["app/views/__init__.py"] = re.sub(r'(?m)^\s*"\w+",\s*$', "", registry)
    seen_ids: dict[str, str] = {}
    for name, module in zip(VIEWS, load_views(VIEWS), strict=True):
        own = _rel(Path(module.__file__))
        assert own == f"app/views/{name}.py"
        assert len(re.findall(rf'^\s*"{name}",\s*$', registry, flags=re.M)) == 1
        knowing = {
            f
            for f, text in sources.items()
            if f != own
            and (
                re.search(rf"app\.views\.{name}\b|from app\.views import .*\b{name}\b", text)
                or any(f'"{v}"' in text for v in _view_ids(module).values())
            )
        }
        assert knowing == set(), f"view {name!r} is known outside its module: {knowing}"
        for k, v in _view_ids(module).items():
            assert v not in seen_ids, f"{name}.{k} reuses the ID {v!r} of {seen_ids[v]}"
            seen_ids[v] = f"{name}.{k}"


def test_the_worked_example_view_plugs_in(tmp_path: Path, monkeypatch) -> None:
    """docs/architecture.md's example view: written as its own module and added to the
    views, it appears on the page with its callback, and its data function works."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    code = re.search(r"```python\n(# app/views/mask_versions\.py.*?)```", doc, flags=re.S)
    assert code, "the worked example is missing from docs/architecture.md"
    (tmp_path / "mask_versions_example.py").write_text(code.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))

    from app import VIEWS, create_app
    from tests.app_helpers import make_controller

    controller = make_controller(tmp_path)
    try:
        app = create_app(controller, views=(*VIEWS, "mask_versions_example"))
        import mask_versions_example as ex

        layout = app.server.test_client().get("/_dash-layout").get_data(as_text=True)
        assert ex.TABLE in layout and ex.TITLE in layout
        assert any(ex.TABLE in out for out in app.callback_map)
        import pandas as pd

        df = pd.DataFrame(
            {"mask_version": [0, 0, 1, 2, 2, 2], "fitness": [1.0, 3.0, 2.0, 5.0, 4.0, None]}
        )
        rows = ex.mask_version_rows(df)
        assert rows["candidates"].tolist() == [3, 1, 2]  # newest version first
        assert rows["best fitness"].tolist() == [5.0, 2.0, 3.0]
    finally:
        controller.close()
        controller.storage.close()


def test_a_view_without_register_is_refused(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "half_view.py").write_text("def layout(vc):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from app.views import load_views

    with pytest.raises(TypeError, match="register"):
        load_views(["half_view.py".removesuffix(".py")])
