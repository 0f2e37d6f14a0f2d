# Every user's notebook server (read by jupyterhub-singleuser from the venv's etc/jupyter).
c = get_config()  # noqa: F821
# ECharts, its add-ons and maps, built into the image: served at <base>static/cfps-echarts/
# so pyecharts charts draw with no outside network (cfps_dvapis.echarts).
c.ServerApp.extra_static_paths = ["/opt/cfps/static"]
# Say so in the cell when a kernel dies of the container's memory limit (cfps_dvapis.oom).
c.ServerApp.kernel_websocket_connection_class = "cfps_dvapis.oom.MemoryAwareConnection"
