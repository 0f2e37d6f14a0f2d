"""One request to a Jupyter kernel over its websocket, as JupyterLab makes it
(messaging protocol 5.3), and what the kernel answered.

Used by scripts/check_url.py (websockets) and benchmarks/load.py (aiohttp):
each sends `request.text` and passes every message it receives to `take`
until `done`.
"""

import json
import uuid


class CellError(Exception):
    """The kernel answered with an error (an exception in the cell)."""

    def __init__(self, ename, evalue):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class Request:
    def __init__(self, msg_type, content, session, username):
        self.msg_id = uuid.uuid4().hex
        header = {
            "msg_id": self.msg_id,
            "msg_type": msg_type,
            "session": session,
            "username": username,
            "version": "5.3",
        }
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}
        self.text = json.dumps(message)
        self.printed, self.reply, self.idle = [], None, False

    @property
    def done(self):
        """The reply came and the kernel went idle again (on two channels: either may come first)."""
        return self.reply is not None and self.idle

    @property
    def output(self):
        return "".join(self.printed)

    def take(self, text):
        """One message the websocket received; raises CellError on the request's error."""
        msg = json.loads(text)
        if msg.get("parent_header", {}).get("msg_id") != self.msg_id:
            return
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            self.printed.append(content["text"])
        elif kind == "error":
            raise CellError(content["ename"], content["evalue"])
        elif kind == "status" and content["execution_state"] == "idle":
            self.idle = True
        elif kind.endswith("_reply"):
            self.reply = content


def execute(code, session, username):
    """A cell run as JupyterLab sends it."""
    content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
    return Request("execute_request", content, session, username)
