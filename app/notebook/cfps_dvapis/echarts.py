"""pyecharts in JupyterLab with no outside network.

pyecharts' JupyterLab mode writes charts that call a global `echarts`, which
JupyterLab does not have, and its default mode fetches ECharts from the
internet. Here every chart output loads, in order, the scripts it needs
(ECharts, its add-ons, a map) from the user's own notebook server
(`<base>static/cfps-echarts/`, files built into the image), then runs the
chart's own scripts. The base URL is read in the browser from JupyterLab's page
config, so a saved notebook draws in whoever opens it.

`configure()` is called by the kernel's startup file: `render_notebook()` then
works without any setup line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from markupsafe import Markup

# Where the notebook server serves the image's copies (extra_static_paths).
STATIC_DIR = "static/cfps-echarts/"
DEFERRED = "text/x-cfps-echarts"
TEMPLATES = Path(__file__).with_name("templates")

_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_TYPE_ATTR = re.compile(r"""\s+type\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)

# Runs when JupyterLab inserts the output: load the files one after the other
# (add-ons and maps need echarts first), once per page, then run the chart's
# scripts in their order. A file that cannot be loaded is reported in the
# output itself, where the researcher looks, in both languages.
_LOADER = """<script>
(function (box, files, fallbackBase) {
  var cfg = document.getElementById('jupyter-config-data');
  var base = cfg ? JSON.parse(cfg.textContent).baseUrl : fallbackBase;
  var root = base + '%(static)s';
  var cache = window.__cfpsEchartsFiles = window.__cfpsEchartsFiles || {};
  function add(el) {
    return new Promise(function (done) {
      el.onload = function () { done(null); };
      el.onerror = function () { done(el.src); };
      document.head.appendChild(el);
    });
  }
  function load(file) {
    if (!cache[file]) {
      var el = document.createElement('script');
      el.src = root + file;
      cache[file] = add(el).then(function (failed) {
        if (failed) { delete cache[file]; }
        return failed;
      });
    }
    return cache[file];
  }
  var missing = [];
  files.reduce(function (chain, file) {
    return chain.then(function () {
      return load(file).then(function (failed) { if (failed) { missing.push(failed); } });
    });
  }, Promise.resolve()).then(function () {
    if (missing.length) {
      var note = document.createElement('pre');
      note.className = 'cfps-echarts-error';
      note.textContent = '图表脚本未能加载 / Could not load the chart scripts: ' + missing.join(', ');
      box.insertBefore(note, box.firstChild);
    }
    var chain = Promise.resolve();
    box.querySelectorAll('script[type="%(deferred)s"]').forEach(function (old) {
      chain = chain.then(function () {
        var el = document.createElement('script');
        for (var i = 0; i < old.attributes.length; i++) {
          var a = old.attributes[i];
          if (a.name !== 'type') { el.setAttribute(a.name, a.value); }
        }
        el.textContent = old.textContent;
        if (!el.src) { old.parentNode.replaceChild(el, old); return; }
        old.parentNode.removeChild(old);
        return add(el);
      });
    });
  });
})(document.currentScript.parentNode, %(files)s, %(base)s);
</script>"""


def script_files(charts: Iterable) -> list[str]:
    """The files the charts need, relative to STATIC_DIR, ECharts first, no repeats."""
    from pyecharts.datasets import FILENAMES

    files: list[str] = []
    for chart in charts:
        deps = getattr(chart, "js_dependencies", None)  # tables and images have none
        for dep in deps.items if deps else []:
            if dep not in FILENAMES:
                continue  # an absolute URL (a map service): not ours to serve
            name, ext = FILENAMES[dep]
            if ext == "js" and f"{name}.js" not in files:
                files.append(f"{name}.js")
    files.sort(key=lambda f: f != "echarts.min.js")
    return files


def defer_scripts(html: str) -> str:
    """Mark every <script> of a chart's HTML so the browser leaves it to the loader."""

    def mark(match: re.Match) -> str:
        attrs = _TYPE_ATTR.sub("", match.group(1))
        return f'<script type="{DEFERRED}"{attrs}>'

    return _SCRIPT_TAG.sub(mark, html)


def lab_output(html: str, charts: Iterable) -> Markup:
    """A chart's JupyterLab HTML with its scripts deferred behind the loader."""
    charts = list(charts)
    loader = _LOADER % {
        "static": STATIC_DIR,
        "deferred": DEFERRED,
        "files": json.dumps(script_files(charts)),
        # Outside JupyterLab (no page config), the kernel's own server.
        "base": json.dumps(os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")),
    }
    # One element around it all: the loader finds the chart's scripts in it.
    # The chart's own HTML and scripts by design, as pyecharts renders them.
    return Markup(f'<div class="cfps-echarts">{defer_scripts(str(html))}{loader}</div>')  # noqa: S704


def configure() -> None:
    """pyecharts: JupyterLab mode, files from the notebook server, our lab templates."""
    from pyecharts.globals import CurrentConfig, NotebookType

    CurrentConfig.NOTEBOOK_TYPE = NotebookType.JUPYTER_LAB
    # chart.render() to an HTML file, opened from JupyterLab, loads the same files.
    CurrentConfig.ONLINE_HOST = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/") + STATIC_DIR
    if CurrentConfig.GLOBAL_ENV is _ENV:
        return
    theirs = CurrentConfig.GLOBAL_ENV.loader
    # pyecharts' settings; ours first, theirs also under "pyecharts/" so ours can include them.
    _ENV.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), theirs, PrefixLoader({"pyecharts": theirs})])
    CurrentConfig.GLOBAL_ENV = _ENV


# pyecharts' own settings: its templates write HTML and scripts, never escaped.
_ENV = Environment(keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)  # noqa: S701
_ENV.filters["cfps_lab_output"] = lab_output
