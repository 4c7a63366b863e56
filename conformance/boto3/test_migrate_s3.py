"""`glacier migrate` from a Glacier server into an S3 bucket, on an S3-compatible server from
PyPI (moto) on loopback: objects named from mt2 descriptions, the storage class set, every byte
the same."""

import base64
import io
import json
import os
import subprocess

import boto3
import pytest
from botocore.utils import calculate_tree_hash
from moto.server import ThreadedMotoServer

from conftest import ACCESS_KEY, SECRET_KEY
from helpers import data


def mt2(path, mtime="20240102T030405Z"):
    doc = json.dumps({"filename": path, "mtime": mtime}).encode()
    return "mt2 " + base64.urlsafe_b64encode(doc).decode().rstrip("=")


@pytest.fixture
def s3_endpoint():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    yield f"http://127.0.0.1:{moto._server.server_port}"
    moto.stop()


def test_migrate_into_s3_deep_archive(server, glacier, vault, s3_endpoint, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    s3.create_bucket(Bucket="archive")
    bodies = {"photos/\u00e9t\u00e9.jpg": data(300_000, seed=1), "notes.txt": data(20, seed=2)}
    ids = {}
    for path, body in bodies.items():
        ids[path] = glacier.upload_archive(vaultName=vault, body=body, archiveDescription=mt2(path))["archiveId"]
    plain = data(1_500_000, seed=3)
    plain_id = glacier.upload_archive(vaultName=vault, body=plain, archiveDescription="no path here")["archiveId"]

    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               GLACIER_STATE_DIR=str(tmp_path / "state"))
    cmd = [server.binary, "migrate", "--from", server.endpoint, "--to", "s3://archive/vaults",
           "--vault", vault, "--s3-endpoint", s3_endpoint, "--storage-class", "DEEP_ARCHIVE",
           "--output", "json", "--quiet"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["vaults"][0]["copied"] == 3

    def read(key):
        # A DEEP_ARCHIVE object must be restored before it can be read, on S3 as on moto.
        assert s3.head_object(Bucket="archive", Key=key)["StorageClass"] == "DEEP_ARCHIVE"
        s3.restore_object(Bucket="archive", Key=key, RestoreRequest={"Days": 1})
        return s3.get_object(Bucket="archive", Key=key)["Body"].read()

    for path, body in bodies.items():
        assert read(f"vaults/{path}") == body
    assert read(f"vaults/{plain_id}") == plain

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["vaults"][0]["already_copied"] == 3, "a rerun copies nothing twice"
    for archive_id in list(ids.values()) + [plain_id]:
        glacier.delete_archive(vaultName=vault, archiveId=archive_id)


def test_migrate_splits_archives_over_the_object_limit(server, glacier, vault, s3_endpoint, tmp_path):
    """An archive larger than --max-object-size (5 TiB by default, S3-compatible stores' limit;
    here 1 MiB) arrives as several objects and a manifest that says how to join them; joined,
    they are the archive, with its size and tree hash."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    s3.create_bucket(Bucket="split")
    body = data(2_500_000, seed=4)
    archive_id = glacier.upload_archive(vaultName=vault, body=body, archiveDescription=mt2("big.bin"))["archiveId"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               GLACIER_STATE_DIR=str(tmp_path / "state"))
    cmd = [server.binary, "migrate", "--from", server.endpoint, "--to", "s3://split", "--vault", vault,
           "--s3-endpoint", s3_endpoint, "--storage-class", "STANDARD", "--max-object-size", "1M",
           "--output", "json", "--quiet"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    manifest = json.loads(s3.get_object(Bucket="split", Key="big.bin.manifest.json")["Body"].read())
    assert manifest["archive_id"] == archive_id and manifest["size"] == len(body)
    assert [p["key"] for p in manifest["parts"]] == ["big.bin.part00001", "big.bin.part00002", "big.bin.part00003"]
    assert [p["size"] for p in manifest["parts"]] == [1 << 20, 1 << 20, len(body) - (2 << 20)]
    joined = b"".join(s3.get_object(Bucket="split", Key=p["key"])["Body"].read() for p in manifest["parts"])
    assert joined == body
    assert manifest["sha256_tree_hash"] == calculate_tree_hash(io.BytesIO(joined))
    glacier.delete_archive(vaultName=vault, archiveId=archive_id)
