"""Authentication: requests signed by botocore's own SigV4 signer get in; unsigned, badly signed,
stale, tampered or replayed ones get Glacier's 403s and change nothing."""

import datetime
import hashlib
import json
import random
import string
import urllib.error
import urllib.parse
import urllib.request
import uuid
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import make_client
from harness import ACCESS_KEY, ACCOUNT, SECRET_KEY
from helpers import expect_error, tree_hash

VERSION = {"x-amz-glacier-version": "2012-06-01"}


def sign(endpoint, method, path, body=b"", headers=None, secret=SECRET_KEY, when=None, presign=None):
    """A request signed by botocore (header SigV4, or a presigned query valid `presign` seconds),
    as (method, url, headers, body)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=endpoint + path, data=body,
                                         headers={**VERSION, **(headers or {})})
    creds = botocore.credentials.Credentials(ACCESS_KEY, secret)
    signer = (botocore.auth.SigV4QueryAuth(creds, "glacier", "us-east-1", expires=presign) if presign
              else botocore.auth.SigV4Auth(creds, "glacier", "us-east-1"))
    now = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        signer.add_auth(req)
    prepared = req.prepare()
    return prepared.method, prepared.url, dict(prepared.headers), prepared.body or b""


def send(method, url, headers, body=b""):
    """Sends a request as it is; returns (status, parsed JSON body or None)."""
    req = urllib.request.Request(url, data=body if body else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    return status, (json.loads(raw) if raw else None)


def assert_refused(result, code, contains=None):
    status, body = result
    assert (status, body["code"]) == (403, code), body
    if contains:
        assert contains.lower() in body["message"].lower(), body


def vault_names(glacier):
    return {v["VaultName"] for v in glacier.list_vaults().get("VaultList", [])}


def test_signed_by_botocore_gets_in(server):
    name = f"auth-{uuid.uuid4().hex[:8]}"
    assert send(*sign(server.endpoint, "PUT", f"/-/vaults/{name}"))[0] == 201
    status, body = send(*sign(server.endpoint, "GET", f"/-/vaults/{name}"))
    assert status == 200 and body["VaultARN"].endswith(f":{ACCOUNT}:vaults/{name}")
    assert send(*sign(server.endpoint, "DELETE", f"/-/vaults/{name}"))[0] == 204


def test_wrong_secret_and_unknown_key(server, glacier):
    before = vault_names(glacier)
    wrong = make_client(server.endpoint, secret="not-the-secret")
    expect_error("InvalidSignatureException", 403, wrong.create_vault, vaultName="by-wrong-secret",
                 contains="signature we calculated does not match")
    unknown = make_client(server.endpoint, key="AKIDNOBODYKNOWS00000")
    expect_error("UnrecognizedClientException", 403, unknown.create_vault, vaultName="by-unknown-key",
                 contains="security token")
    expect_error("UnrecognizedClientException", 403, unknown.list_vaults)
    assert vault_names(glacier) == before


def test_unsigned_request(server, glacier):
    before = vault_names(glacier)
    assert_refused(send("PUT", f"{server.endpoint}/-/vaults/unsigned", dict(VERSION)),
                   "MissingAuthenticationTokenException")
    assert_refused(send("GET", f"{server.endpoint}/-/vaults", dict(VERSION)), "MissingAuthenticationTokenException")
    # Even a path that serves no operation needs a signature before it gets its 404.
    assert_refused(send("GET", f"{server.endpoint}/nothing/here", {}), "MissingAuthenticationTokenException")
    assert vault_names(glacier) == before


def test_stale_and_future_dates(server, glacier):
    before = vault_names(glacier)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    stale = sign(server.endpoint, "PUT", "/-/vaults/stale", when=now - datetime.timedelta(minutes=16))
    assert_refused(send(*stale), "InvalidSignatureException", contains="Signature expired")
    future = sign(server.endpoint, "PUT", "/-/vaults/future", when=now + datetime.timedelta(minutes=16))
    assert_refused(send(*future), "InvalidSignatureException", contains="not yet current")
    # Within the 15 minutes either way is fine.
    assert send(*sign(server.endpoint, "GET", "/-/vaults", when=now - datetime.timedelta(minutes=10)))[0] == 200
    assert vault_names(glacier) == before


def test_tampered_bodies(server, glacier, vault):
    blobs = server.blob_files()
    body = b"the archive as signed" * 1000
    digest = hashlib.sha256(body).hexdigest()
    headers = {"x-amz-content-sha256": digest, "x-amz-sha256-tree-hash": tree_hash(body),
               "Content-Length": str(len(body))}
    method, url, signed_headers, _ = sign(server.endpoint, "POST", f"/-/vaults/{vault}/archives", body, headers)
    tampered = body[:-1] + b"!"
    assert_refused(send(method, url, signed_headers, tampered), "InvalidSignatureException",
                   contains="x-amz-content-sha256")
    # A tampered body that also rewrites its hashes no longer matches the signature.
    forged = dict(signed_headers, **{"x-amz-content-sha256": hashlib.sha256(tampered).hexdigest(),
                                     "x-amz-sha256-tree-hash": tree_hash(tampered)})
    assert_refused(send(method, url, forged, tampered), "InvalidSignatureException", contains="Canonical String")
    # A JSON body (signed by its hash, no header) changed in flight.
    params = json.dumps({"Type": "inventory-retrieval", "Description": "as signed"}).encode()
    method, url, signed_headers, _ = sign(server.endpoint, "POST", f"/-/vaults/{vault}/jobs", params)
    assert_refused(send(method, url, signed_headers, params.replace(b"as signed", b"tampered!")),
                   "InvalidSignatureException")
    assert server.blob_files() == blobs
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 0
    assert glacier.list_jobs(vaultName=vault)["JobList"] == []
    # The untampered request goes through.
    method, url, signed_headers, _ = sign(server.endpoint, "POST", f"/-/vaults/{vault}/archives", body, headers)
    status, _ = send(method, url, signed_headers, body)
    assert status == 201


def test_replay_against_another_path_method_or_query(server, glacier):
    before = vault_names(glacier)
    method, url, headers, body = sign(server.endpoint, "PUT", "/-/vaults/replay-a")
    assert_refused(send(method, url.replace("replay-a", "replay-b"), headers), "InvalidSignatureException")
    assert_refused(send("DELETE", url, headers), "InvalidSignatureException")
    assert_refused(send(method, url + "?x=1", headers), "InvalidSignatureException")
    assert vault_names(glacier) == before


def test_presigned_requests(server):
    method, url, headers, _ = sign(server.endpoint, "GET", "/-/vaults", presign=60)
    assert "X-Amz-Signature=" in url and "Authorization" not in headers
    status, body = send(method, url, headers)
    assert status == 200 and "VaultList" in body
    assert_refused(send(method, url.replace("/-/vaults", "/-/vaults/x"), headers), "InvalidSignatureException")
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=5)
    method, url, headers, _ = sign(server.endpoint, "GET", "/-/vaults", presign=60, when=old)
    assert_refused(send(method, url, headers), "InvalidSignatureException", contains="expired")


def test_other_regions_sign_too(server):
    """By default any credential scope is accepted (boto 2 given an IP signs for '0/127')."""
    assert make_client(server.endpoint, region="eu-west-1").list_vaults()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_strict_scope():
    from harness import Server
    s = Server("--strict-scope")
    try:
        assert make_client(s.endpoint).list_vaults()["ResponseMetadata"]["HTTPStatusCode"] == 200
        expect_error("InvalidSignatureException", 403, make_client(s.endpoint, region="eu-west-1").list_vaults,
                     contains="region")
    finally:
        s.stop()


SAFE = string.ascii_letters + string.digits + "-_.~"


def random_request(rng, vault):
    """A random but valid request: a vault path (maybe missing), random query parameters and
    random signed x-amz-meta-* headers."""
    path = f"/-/vaults/{vault if rng.random() < 0.5 else 'missing-' + ''.join(rng.choices(SAFE, k=6))}"
    query = {"".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 6))):
             "".join(rng.choices(string.printable.strip(), k=rng.randint(0, 8)))
             for _ in range(rng.randint(0, 3))}
    if query:
        path += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="-_.~")
    headers = {f"x-amz-meta-{''.join(rng.choices(string.ascii_lowercase, k=5))}":
               "".join(rng.choices(string.ascii_letters + " ", k=rng.randint(1, 10))).strip() or "x"
               for _ in range(rng.randint(0, 2))}
    return path, headers


def test_random_botocore_signed_requests_verify_and_mutations_fail(server, glacier, vault):
    rng = random.Random(20261124)
    for i in range(60):
        path, headers = random_request(rng, vault)
        method, url, signed_headers, body = sign(server.endpoint, "GET", path, headers=headers)
        status, reply = send(method, url, signed_headers)
        # Authenticated: the vault, its absence, or a name the service refuses; never a 403.
        assert status in (200, 400, 404), (path, headers, reply)
        mutation = i % 4
        if mutation == 0:
            bad = (method, url.replace("/vaults/", "/vaults/x", 1), signed_headers)
        elif mutation == 1:
            bad = (method, url + ("&" if "?" in url else "?") + "extra=1", signed_headers)
        elif mutation == 2:
            bad = (method, url, dict(signed_headers, **{"x-amz-date": "20200101T000000Z"}))
        else:
            key = next((k for k in signed_headers if k.startswith("x-amz-meta-")), "x-amz-glacier-version")
            bad = (method, url, dict(signed_headers, **{key: signed_headers[key] + "z"}))
        status, reply = send(*bad)
        assert status == 403 and reply["code"] == "InvalidSignatureException", (bad, reply)


def test_logs_carry_request_ids_and_never_secrets(server):
    method, url, headers, _ = sign(server.endpoint, "GET", "/-/vaults")
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers, method=method), timeout=10) as resp:
        request_id = resp.headers["x-amzn-RequestId"]
    send("GET", f"{server.endpoint}/-/vaults", dict(VERSION))  # refused, and logged
    log = server.server_log()
    assert f"id={request_id}" in log, "the response's request id is in the log"
    assert SECRET_KEY not in log and headers["Authorization"] not in log and "Signature=" not in log
    for line in log.splitlines():
        if "status=" in line:
            assert "request{id=" in line, line

