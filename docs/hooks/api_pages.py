"""MkDocs hook: one API page per module of ``src/ebmlab`` (``api/ebmlab.<package>.<module>.md``), rendered by
mkdocstrings from the docstrings, and an index of them; generated at build time, so no page can go stale."""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from pathlib import Path

from mkdocs.structure.files import File

SKIP = {"__main__"}


def _modules(src: Path) -> list[str]:
    names = []
    for path in sorted((src / "ebmlab").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] in SKIP:
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def on_files(files, config):
    modules = _modules(Path(config.config_file_path).parent / "src")
    lines = [
        "# API reference",
        "",
        "Every module of ebmlab, its public classes and functions with their docstrings.",
        "",
    ]
    for name in modules:
        uri = f"api/{name}.md"  # flat, dotted: ebmlab.viz (a package) and ebmlab.viz.index (a module) apart
        files.append(File.generated(config, uri, content=f"# `{name}`\n\n::: {name}\n"))
        lines.append(f"- [`{name}`]({name}.md)")
    files.append(File.generated(config, "api/index.md", content="\n".join(lines) + "\n"))
    return files


# ---------------------------------------------------------------- cross-references in docstrings
# The docstrings name other objects with Sphinx roles (:func:`fista`, :class:`~ebmlab.runtime.Run`). On an API
# page, each becomes a link through mkdocs-autorefs to the object's canonical page; a name that resolves to
# nothing is a warning, which fails the strict build: a docstring cannot go on naming what no longer exists.

ROLE = re.compile(r":(func|class|mod|meth|attr|data|obj|exc):<code>(~?)([\w.]+)</code>")
log = logging.getLogger("mkdocs.hooks.api_pages")


def _lookup(path: str):
    """The object at dotted ``path`` (a module, then attributes), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj
    return None


def _canonical(path: str, obj) -> str:
    """Where mkdocstrings renders ``obj``: its defining module and qualified name (modules by their name)."""
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and module.startswith("ebmlab") and "<" not in qualname:
        return f"{module}.{qualname}"
    return path


def _resolve(name: str, module: str) -> str | None:
    """The identifier ``name`` means in a docstring of ``module``: absolute, relative to the module, or an
    attribute of one of the module's classes."""
    candidates = [name] if name.startswith("ebmlab") else [f"{module}.{name}"]
    if not name.startswith("ebmlab"):
        mod = _lookup(module)
        candidates += (
            [f"{module}.{cls}.{name}" for cls, obj in sorted(vars(mod).items()) if inspect.isclass(obj)] if mod else []
        )
    for path in candidates:
        obj = _lookup(path)
        if obj is not None:
            return _canonical(path, obj)
    return None


def on_page_content(html, page, config, files):
    uri = page.file.src_uri
    if not uri.startswith("api/ebmlab"):
        return html
    module = uri.removeprefix("api/").removesuffix(".md")

    def link(match: re.Match) -> str:
        _, short, name = match.groups()
        identifier = _resolve(name, module)
        title = name.rsplit(".", 1)[-1] if short else name
        if identifier is None:
            log.warning(f"{uri}: the docstring names {name!r}, which does not exist")
            return f"<code>{title}</code>"
        return f'<autoref identifier="{identifier}"><code>{title}</code></autoref>'

    return ROLE.sub(link, html)
