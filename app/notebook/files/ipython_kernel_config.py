# Preload for every notebook kernel (IPython startup): pandas, numpy,
# matplotlib, pyecharts and sql(), as researchers know them from the original.
c = get_config()  # noqa: F821
c.InteractiveShellApp.exec_files = ["/opt/cfps/startup.py"]
