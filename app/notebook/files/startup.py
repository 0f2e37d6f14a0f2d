# Loaded into every kernel by ipython_kernel_config.py. Keep it cheap: it runs
# before the first cell, and it must not open a database connection.
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyecharts
from pyecharts import options as opts
from pyecharts.charts import Bar, Line, Pie

from cfps_dvapis import label, sql, variables
from cfps_dvapis.echarts import configure as _configure_echarts

# pyecharts draws in JupyterLab from files on the user's own server (no internet).
_configure_echarts()
del _configure_echarts

# Chinese labels in matplotlib figures.
matplotlib.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "DejaVu Sans"]
matplotlib.rcParams["axes.unicode_minus"] = False

__all__ = ["Bar", "Line", "Pie", "label", "np", "opts", "pd", "plt", "pyecharts", "sql", "variables"]
