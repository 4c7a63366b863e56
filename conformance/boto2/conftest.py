"""Drives a real `glacier serve` with the seed's own library, boto 2's `boto.glacier` (Debian's
python3-boto 2.49), run by Debian's Python 3.

boto 2 on Python 3 has a client-side bug: `boto.glacier.utils.bytes_to_hex` returns bytes, which
its downloaders compare with the str tree-hash header, so hash verification fails against any
server, Amazon's included. The `layer2` fixture patches `bytes_to_hex` (and the modules that
imported the name) to return str. Nothing else of boto is changed.
"""

import binascii
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from harness import ACCESS_KEY, SECRET_KEY, Server  # noqa: E402

import boto.glacier.concurrent  # noqa: E402
import boto.glacier.utils  # noqa: E402
import boto.glacier.writer  # noqa: E402
from boto.glacier.layer2 import Layer2  # noqa: E402
from boto.regioninfo import RegionInfo  # noqa: E402


def _bytes_to_hex_str(b):
    return binascii.hexlify(b).decode("ascii")


for _module in (boto.glacier.utils, boto.glacier.writer, boto.glacier.concurrent):
    _module.bytes_to_hex = _bytes_to_hex_str


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def layer2(server):
    host, port = server.endpoint.removeprefix("http://").split(":")
    return Layer2(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, is_secure=False,
                  port=int(port), region=RegionInfo(name="us-east-1", endpoint=host))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
    if report.failed and srv is not None:
        report.sections.append(("server log (tail)", srv.server_log()[-4000:]))
