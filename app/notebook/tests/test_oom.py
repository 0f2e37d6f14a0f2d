"""cfps_dvapis.oom: the OOM counter, the message, and which requests it answers.

The whole path (a cell allocating past a real container's limit, the message in
that cell in Chromium) is proven in molecule/site.
"""

import json

from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

from cfps_dvapis import oom


def test_oom_kills_reads_cgroup_v2_then_v1(tmp_path):
    v2 = tmp_path / "memory.events"
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert oom.oom_kills((v2, v1)) == 3
    v2.write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n")
    assert oom.oom_kills((v2, v1)) == 2


def test_oom_kills_unknown_without_a_counter(tmp_path):
    assert oom.oom_kills((tmp_path / "absent",)) is None
    (tmp_path / "odd").write_text("oom_kill lots\n")
    assert oom.oom_kills((tmp_path / "odd",)) is None


def test_limit_text_from_jupyterhubs_mem_limit():
    assert oom.limit_text({"MEM_LIMIT": str(2**30)}) == "1.0 GiB"
    assert oom.limit_text({"MEM_LIMIT": str(3 * 2**29)}) == "1.5 GiB"
    assert oom.limit_text({"MEM_LIMIT": str(512 * 2**20)}) == "512 MiB"
    for unset in ({}, {"MEM_LIMIT": ""}, {"MEM_LIMIT": "0"}, {"MEM_LIMIT": "2G"}):
        assert oom.limit_text(unset) == ""


def test_message_says_what_happened_and_what_to_do_in_both_languages():
    text = oom.message("1.0 GiB")
    assert "内存不足" in text and "out of memory" in text
    assert text.count("1.0 GiB") == 2
    assert "del" in text and "sql()" in text
    assert "内存上限，" in oom.message("") and "memory limit." in oom.message("")


def test_execute_requests_are_recognised_in_both_websocket_protocols():
    session = Session()
    execute = session.msg("execute_request", {"code": "1 + 1"})
    info = session.msg("kernel_info_request", {})

    def v1(msg, channel):
        return oom.execute_request_header(serialize_msg_to_ws_v1(msg, channel, session.pack), oom.V1, session.unpack)

    def legacy(msg, channel):
        return oom.execute_request_header(json.dumps({**msg, "channel": channel}, default=str), None, session.unpack)

    for read in (v1, legacy):  # JupyterLab 4's binary protocol, and the JSON one
        assert read(execute, "shell")["msg_id"] == execute["header"]["msg_id"]
        assert read(info, "shell") is None
        assert read(execute, "control") is None
        assert read(execute, "iopub") is None
