import hashlib

import pytest
from botocore.exceptions import ClientError
from botocore.utils import calculate_tree_hash
import io

MIB = 1024 * 1024


def data(n, seed=0):
    """Deterministic bytes that differ per MiB and per seed."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 32768  # 1 MiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += bytes((b + i) % 256 for b in block[:64]) + block[64:]
        i += 1
    return bytes(out[:n])


def tree_hash(b):
    return calculate_tree_hash(io.BytesIO(b))


def expect_error(code, status, fn, *args, contains=None, **kwargs):
    """Calls fn and asserts that it fails with this Glacier error code and HTTP status."""
    with pytest.raises(ClientError) as info:
        fn(*args, **kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status, err
    message = err["Error"]["Message"]
    assert message, "every error says what was wrong"
    if contains:
        assert contains.lower() in message.lower(), message
    assert err["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"), "request id header"
    return message
