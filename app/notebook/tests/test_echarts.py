"""cfps_dvapis.echarts: pyecharts' JupyterLab output with its scripts behind our loader.

That the charts then draw in JupyterLab, with no outside network, is proven in
Chromium in molecule/site; here: mode, files, order, and that nothing runs early.
"""

import importlib.util
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from pyecharts.charts import Bar, Bar3D, Liquid, Map, Tab, WordCloud
from pyecharts.globals import CurrentConfig, NotebookType

from cfps_dvapis import echarts

FETCH = Path(__file__).resolve().parents[1] / "files" / "fetch-echarts"


@pytest.fixture(autouse=True)
def configured(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/jupyter/user/alice/")
    echarts.configure()


def fetched_files():
    """The files fetch-echarts puts into the image (targets; "maps/" = every province)."""
    loader = SourceFileLoader("fetch_echarts", str(FETCH))
    spec = importlib.util.spec_from_loader("fetch_echarts", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return {target for *_, files in module.PACKAGES for target in files.values()}


def scripts(html):
    return re.findall(r"<script\b([^>]*)>", html)


def loader_files(html):
    return re.search(r"\}\)\(document\.currentScript\.parentNode, (\[.*?\]), ", html).group(1)


def test_kernels_use_jupyterlab_mode_and_the_users_own_server():
    assert CurrentConfig.NOTEBOOK_TYPE == NotebookType.JUPYTER_LAB
    assert CurrentConfig.ONLINE_HOST == "/jupyter/user/alice/static/cfps-echarts/"


def test_configure_twice_keeps_one_template_layer():
    env = CurrentConfig.GLOBAL_ENV
    echarts.configure()
    assert CurrentConfig.GLOBAL_ENV is env
    assert "pyecharts/nb_jupyter_lab.html" in env.list_templates()


def test_only_the_loader_runs_when_jupyterlab_inserts_the_output():
    html = Bar().add_xaxis(["a", "b"]).add_yaxis("n", [1, 2]).render_notebook().data
    tags = scripts(html)
    assert tags.count("") == 1, tags  # the loader, plain
    assert all(t == ' type="text/x-cfps-echarts"' for t in tags if t), tags
    assert "setOption" in html and "echarts.init" in html
    assert loader_files(html) == '["echarts.min.js"]'
    assert html.startswith('<div class="cfps-echarts">') and html.rstrip().endswith("</div>")
    # Outside JupyterLab the loader falls back to the kernel's own server.
    assert '"/jupyter/user/alice/"' in html


@pytest.mark.parametrize(
    ("chart", "files"),
    [
        (Map().add("n", [("广东", 3)], "china"), ["echarts.min.js", "maps/china.js"]),
        (Map().add("n", [("广州市", 3)], "广东"), ["echarts.min.js", "maps/guangdong.js"]),
        (WordCloud().add("", [("教师", 3)]), ["echarts.min.js", "echarts-wordcloud.min.js"]),
        (Liquid().add("", [0.5]), ["echarts.min.js", "echarts-liquidfill.min.js"]),
        (Bar3D().add("", [[0, 0, 1]]), ["echarts.min.js", "echarts-gl.min.js"]),
    ],
)
def test_each_chart_loads_echarts_first_then_its_addon(chart, files):
    assert echarts.script_files([chart]) == files
    for name in files:
        assert name in fetched_files() or name.startswith("maps/") and "maps/" in fetched_files()


def test_a_tab_defers_its_switch_script_too_and_loads_each_file_once():
    tab = Tab().add(Map().add("n", [("广东", 3)], "china"), "map").add(WordCloud().add("", [("a", 1)]), "words")
    html = tab.render_notebook().data
    assert [t for t in scripts(html) if t == ""] == [""]
    assert loader_files(html) == '["echarts.min.js", "maps/china.js", "echarts-wordcloud.min.js"]'


def test_script_tags_with_attributes_are_deferred_too():
    html = echarts.defer_scripts('<script type="text/javascript" src="x.js"></script><SCRIPT>1</SCRIPT>')
    assert html == (
        '<script type="text/x-cfps-echarts" src="x.js"></script><script type="text/x-cfps-echarts">1</SCRIPT>'
    )
