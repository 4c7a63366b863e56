"""Backup and restore as DEPLOYMENT.md describes them, tried end to end: back the store up,
lose it entirely, restore it, and read every archive back byte for byte through boto3.

On a data directory: stop the server, copy the directory. On PostgreSQL + S3: `pg_dump` of the
database first, then a copy of the bucket prefix's objects (what `aws s3 sync` or `rclone copy`
does); restore is `pg_restore` into a new database and the objects copied back."""

import shutil
import subprocess

from botocore.exceptions import ClientError

from conftest import make_client
from harness import Server, eventually
from helpers import MIB, data, expect_error, retrieve, tree_hash


def fill(g, vault):
    """Archives a (single request) and c (multipart) stay; b is deleted. Returns {id: bytes}."""
    g.create_vault(vaultName=vault)
    kept = {}
    a = data(MIB + 7, 1)
    kept[g.upload_archive(vaultName=vault, body=a)["archiveId"]] = a
    b = g.upload_archive(vaultName=vault, body=data(10, 2))["archiveId"]
    c = data(2 * MIB + 3, 3)
    up = g.initiate_multipart_upload(vaultName=vault, partSize=str(MIB))["uploadId"]
    for start in range(0, len(c), MIB):
        chunk = c[start:start + MIB]
        g.upload_multipart_part(vaultName=vault, uploadId=up, body=chunk,
                                range=f"bytes {start}-{start + len(chunk) - 1}/*")
    done = g.complete_multipart_upload(vaultName=vault, uploadId=up, archiveSize=str(len(c)),
                                       checksum=tree_hash(c))
    kept[done["archiveId"]] = c
    g.delete_archive(vaultName=vault, archiveId=b)
    return kept


def check(g, vault, kept, after_backup):
    d = g.describe_vault(vaultName=vault)
    assert d["NumberOfArchives"] == len(kept)
    assert d["SizeInBytes"] == sum(len(b) for b in kept.values())
    for archive, body in kept.items():
        job = retrieve(g, vault, archive)
        assert g.get_job_output(vaultName=vault, jobId=job)["body"].read() == body
    # The restore is of the moment of the backup: what came after is not there.
    expect_error("ResourceNotFoundException", 404, g.initiate_job, vaultName=vault,
                 jobParameters={"Type": "archive-retrieval", "ArchiveId": after_backup})


class Backup:
    """Backs up and restores whichever parts of a Server's store there are: the data directory
    (SQLite metadata, blob files), a PostgreSQL database, a bucket prefix."""

    def __init__(self, server, where):
        self.s, self.where = server, where
        sh = server.shared or {}
        self.postgres = sh.get("postgres") and sh["postgres"].rsplit("/", 1)[0] + "/" + server.prefix
        self.s3 = server.s3() if sh.get("s3") else None
        self.bucket = sh.get("bucket")
        self.classes = {}

    def keys(self):
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.s.prefix}/")
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def take(self):
        self.where.mkdir()
        if self.s.data_dir.exists():
            shutil.copytree(self.s.data_dir, self.where / "data")
        # Metadata first, then the objects it refers to (they are never rewritten).
        if self.postgres:
            subprocess.run(["pg_dump", "--format=custom", "--file", str(self.where / "metadata.dump"),
                            self.postgres], check=True, capture_output=True)
        if self.s3:
            for key in self.keys():
                target = self.where / "objects" / key
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.download(key, target)
                except ClientError as e:
                    # A listing may still show an object deleted a moment ago (Garage's list
                    # lags its deletes); a copy tool skips what is gone, and so does this one.
                    if e.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                        raise

    def download(self, key, target):
        """Copies one object, restoring it first if it is archived (`aws s3api restore-object`,
        then `aws s3 sync --force-glacier-transfer`), and notes its storage class."""
        cls = self.s3.head_object(Bucket=self.bucket, Key=key).get("StorageClass", "STANDARD")
        if cls in ("GLACIER", "DEEP_ARCHIVE"):
            try:
                self.s3.restore_object(Bucket=self.bucket, Key=key, RestoreRequest={"Days": 1})
            except ClientError as e:
                if e.response["Error"]["Code"] != "RestoreAlreadyInProgress":
                    raise
            assert eventually(lambda: 'ongoing-request="false"' in self.s3.head_object(
                Bucket=self.bucket, Key=key).get("Restore", ""), timeout=30), key
        self.s3.download_file(self.bucket, key, str(target))
        self.classes[key] = cls

    def lose_and_restore(self):
        if self.s.data_dir.exists():
            shutil.rmtree(self.s.data_dir)
        if (self.where / "data").exists():
            shutil.copytree(self.where / "data", self.s.data_dir)
        if self.postgres:
            name = self.s.prefix
            for sql in (f"DROP DATABASE {name}", f"CREATE DATABASE {name}"):
                subprocess.run(["psql", "-q", self.s.shared["postgres"], "-c", sql], check=True)
            subprocess.run(["pg_restore", "--no-owner", "--dbname", self.postgres,
                            str(self.where / "metadata.dump")], check=True, capture_output=True)
        if self.s3:
            for key in self.keys():
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            assert eventually(lambda: self.keys() == []), self.keys()
            objects = self.where / "objects"
            for path in objects.rglob("*"):
                if path.is_file():
                    key = str(path.relative_to(objects))
                    cls = self.classes.get(key, "STANDARD")
                    extra = {"StorageClass": cls} if cls != "STANDARD" else None
                    self.s3.upload_file(str(path), self.bucket, key, ExtraArgs=extra)


def test_backup_and_restore(tmp_path):
    s = Server()
    try:
        kept = fill(make_client(s.endpoint), "precious")
        backup = Backup(s, tmp_path / "backup")
        if backup.postgres and backup.s3:
            backup.take()  # online, while the nodes serve
        else:
            s.restart(between=backup.take)  # with the server stopped
        later = make_client(s.endpoint).upload_archive(vaultName="precious", body=b"after the backup")
        s.restart(between=backup.lose_and_restore)
        check(make_client(s.endpoint), "precious", kept, later["archiveId"])
    finally:
        s.stop()
