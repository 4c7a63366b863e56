"""glacier serve over HTTPS (--tls-cert, --tls-key) driven by boto3: a certificate from a
private CA made here with openssl, trusted through botocore's `verify` (what AWS_CA_BUNDLE and
the AWS CLI's --ca-bundle set), refused without it, and aws:SecureTransport true in policies."""

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from harness import ACCESS_KEY, ACCOUNT, OTHER_ACCESS_KEY, OTHER_ACCOUNT, OTHER_SECRET_KEY, SECRET_KEY, Server


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=glacier boto3 test CA", cwd=d)
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_server(pki):
    s = Server("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    yield s
    s.stop()


def client(server, verify, key=ACCESS_KEY, secret=SECRET_KEY):
    return boto3.client("glacier", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, verify=verify,
                        config=Config(retries={"max_attempts": 1}))


def test_boto3_round_trip_over_https(tls_server, pki):
    assert tls_server.endpoint.startswith("https://")
    g = client(tls_server, str(pki / "ca.pem"))
    name = f"tls-{uuid.uuid4().hex[:8]}"
    g.create_vault(vaultName=name)
    body = b"over TLS " * 10000
    up = g.upload_archive(vaultName=name, body=body)
    job = g.initiate_job(vaultName=name, jobParameters={"Type": "archive-retrieval", "ArchiveId": up["archiveId"]})
    for _ in range(200):
        if g.describe_job(vaultName=name, jobId=job["jobId"])["Completed"]:
            break
        time.sleep(0.05)
    out = g.get_job_output(vaultName=name, jobId=job["jobId"])
    assert out["body"].read() == body
    assert g.describe_vault(vaultName=name)["VaultName"] == name


def test_an_untrusted_certificate_is_refused(tls_server):
    g = client(tls_server, True)  # the system's roots only
    with pytest.raises(botocore.exceptions.SSLError):
        g.list_vaults()


def test_policies_see_secure_transport(tls_server, pki):
    """Another account may describe the vault only over TLS: on this server the condition
    aws:SecureTransport = true holds (on a plain-HTTP server it is false)."""
    g = client(tls_server, str(pki / "ca.pem"))
    other = client(tls_server, str(pki / "ca.pem"), OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    name = f"tls-policy-{uuid.uuid4().hex[:8]}"
    g.create_vault(vaultName=name)
    arn = f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{name}"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        "Action": "glacier:DescribeVault", "Resource": arn,
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
    g.set_vault_access_policy(vaultName=name, policy={"Policy": json.dumps(policy)})
    d = other.describe_vault(accountId=ACCOUNT, vaultName=name)
    assert d["VaultName"] == name
    policy["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "false"}}
    g.set_vault_access_policy(vaultName=name, policy={"Policy": json.dumps(policy)})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.describe_vault(accountId=ACCOUNT, vaultName=name)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def aws(server, *args, ca_bundle=None):
    """The AWS CLI (awscli from PyPI), as an operator would run it against this server."""
    venv_bin = pathlib.Path(sys.executable).parent
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_CA_BUNDLE", None)
    cmd = [str(venv_bin / "aws"), "glacier", *args, "--account-id", "-", "--endpoint-url", server.endpoint,
           "--output", "json"]
    if ca_bundle:
        cmd += ["--ca-bundle", str(ca_bundle)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_the_aws_cli_over_https(tls_server, pki, tmp_path):
    name = f"tls-cli-{uuid.uuid4().hex[:8]}"
    made = aws(tls_server, "create-vault", "--vault-name", name, ca_bundle=pki / "ca.pem")
    assert made.returncode == 0, made.stderr
    body = tmp_path / "body.bin"
    body.write_bytes(b"aws cli over TLS " * 4096)
    up = aws(tls_server, "upload-archive", "--vault-name", name, "--body", str(body), ca_bundle=pki / "ca.pem")
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["archiveId"]
    d = aws(tls_server, "describe-vault", "--vault-name", name, ca_bundle=pki / "ca.pem")
    assert d.returncode == 0, d.stderr
    assert json.loads(d.stdout)["VaultName"] == name
    refused = aws(tls_server, "list-vaults")
    assert refused.returncode != 0
    assert "SSL" in refused.stderr or "certificate" in refused.stderr.lower(), refused.stderr
