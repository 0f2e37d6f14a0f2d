"""Tell the researcher when a kernel died of the container's memory limit.

When a cell allocates past the limit, the kernel OOM-killer ends the kernel and
JupyterLab only says "kernel restarting". This kernel websocket connection
(ServerApp.kernel_websocket_connection_class) notes the last execute request
it forwarded; when the kernel dies and the container's cgroup counted a new
OOM kill, it first writes an explanation into that cell's output (an iopub
stream message whose parent is the request), then the usual restart status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

V1 = "v1.kernel.websocket.jupyter.org"
# The container's own memory cgroup: v2 (cgroup namespace), then v1.
COUNTERS = (Path("/sys/fs/cgroup/memory.events"), Path("/sys/fs/cgroup/memory/memory.oom_control"))


def oom_kills(paths=COUNTERS) -> int | None:
    """How many processes the kernel killed for memory in this container (None: unknown)."""
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def limit_text(env=os.environ) -> str:
    """The memory limit as researchers read it, from MEM_LIMIT (bytes, set by JupyterHub)."""
    try:
        size = int(env.get("MEM_LIMIT", ""))
    except ValueError:
        return ""
    if size <= 0:
        return ""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def message(limit: str) -> str:
    zh_limit = f"（{limit}）" if limit else ""
    en_limit = f" ({limit})" if limit else ""
    # Prose that mentions SQL, not a query (S608).
    return (
        f"内核因内存不足被系统终止：这个单元格用完了本容器的内存上限{zh_limit}，之前的变量都已丢失，内核正在重启。\n"  # noqa: S608
        "请一次少读一些数据（sql() 只选需要的列，加 WHERE 或 LIMIT），用 del 删除不再需要的大对象，"
        "然后从头重新运行单元格。如需更多内存，请联系管理员。\n"
        f"The kernel was stopped because it ran out of memory: this cell used up the container's "
        f"memory limit{en_limit}. All variables are lost and the kernel is restarting.\n"
        "Read less data at a time (select only the columns you need in sql(), add WHERE or LIMIT), "
        "free large objects you no longer need with del, then run the cells again from the top. "
        "Ask the administrator if you need more memory.\n"
    )


def execute_request_header(incoming, subprotocol: str | None, unpack) -> dict | None:
    """The header of a browser's execute request (shell channel), else None."""
    if subprotocol == V1:
        channel, parts = deserialize_msg_from_ws_v1(incoming)
        header = unpack(parts[0]) if channel == "shell" else None
    else:
        msg = json.loads(incoming)
        header = msg.get("header") if msg.get("channel") == "shell" else None
    return header if header and header.get("msg_type") == "execute_request" else None


class MemoryAwareConnection(ZMQChannelsWebsocketConnection):
    """The kernel websocket, saying so in the cell when the kernel died of memory."""

    _cfps_request = None
    _cfps_kills = None

    def connect(self):
        self._cfps_kills = oom_kills()
        return super().connect()

    def handle_incoming_message(self, incoming_msg) -> None:
        try:
            header = execute_request_header(incoming_msg, self.subprotocol, self.session.unpack)
        except Exception:  # noqa: BLE001 - the message is the server's to judge, as before
            header = None
            self.log.debug("cfps: could not read an incoming message header", exc_info=True)
        if header is not None:
            self._cfps_request = header
        super().handle_incoming_message(incoming_msg)

    def on_kernel_restarted(self):
        kills = oom_kills()
        if kills is not None and self._cfps_kills is not None and kills > self._cfps_kills:
            self.log.warning("kernel %s was killed for memory (oom_kill %s)", self.kernel_id, kills)
            self._cfps_write_stream(message(limit_text()))
        self._cfps_kills = kills
        super().on_kernel_restarted()

    def _cfps_write_stream(self, text: str) -> None:
        # Only the cell that was running shows it; without one there is no cell to tell.
        if self._cfps_request is None:
            return
        msg = self.session.msg("stream", {"name": "stderr", "text": text}, parent=self._cfps_request)
        if self.subprotocol == V1:
            self.write_message(serialize_msg_to_ws_v1(msg, "iopub", self.session.pack), binary=True)
        else:
            msg["channel"] = "iopub"
            self.write_message(json.dumps(msg, default=json_default))
