import hashlib

from harness import eventually

from helpers import MIB, data, expect_error, tree_hash


def test_upload_and_delete_archive(glacier, vault, server):
    body = data(3 * MIB + 17)
    r = glacier.upload_archive(vaultName=vault, body=body, archiveDescription="my backup 2024-01-01")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["checksum"] == tree_hash(body)
    assert len(r["archiveId"]) == 138
    assert r["location"] == f"/111122223333/vaults/{vault}/archives/{r['archiveId']}"
    d = glacier.describe_vault(vaultName=vault)
    assert (d["NumberOfArchives"], d["SizeInBytes"]) == (1, len(body))

    # An upload without a description, and one of a single byte.
    small = glacier.upload_archive(vaultName=vault, body=b"x")
    assert small["checksum"] == hashlib.sha256(b"x").hexdigest()

    expect_error("InvalidParameterValueException", 400, glacier.delete_vault, vaultName=vault,
                 contains="not empty")
    for a in (r, small):
        assert glacier.delete_archive(vaultName=vault, archiveId=a["archiveId"])[
            "ResponseMetadata"]["HTTPStatusCode"] == 204
    # DeleteArchive is idempotent: an archive deleted already answers 204 again and changes
    # nothing; an id that never existed is still unknown, and the deleted one cannot be retrieved.
    for _ in range(2):
        assert glacier.delete_archive(vaultName=vault, archiveId=r["archiveId"])[
            "ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("ResourceNotFoundException", 404, glacier.delete_archive, vaultName=vault,
                 archiveId="x" * 138, contains="archive")
    expect_error("ResourceNotFoundException", 404, glacier.initiate_job, vaultName=vault,
                 jobParameters={"Type": "archive-retrieval", "ArchiveId": r["archiveId"]})
    d = glacier.describe_vault(vaultName=vault)
    assert (d["NumberOfArchives"], d["SizeInBytes"]) == (0, 0)


def test_upload_to_unknown_vault(glacier, server):
    blobs = server.blob_files()
    expect_error("ResourceNotFoundException", 404, glacier.upload_archive, vaultName="no-such-vault",
                 body=b"data", contains="no-such-vault")
    assert server.blob_files() == blobs


def test_wrong_tree_hash_changes_nothing(glacier, vault, server):
    blobs = server.blob_files()
    wrong = tree_hash(b"something else")
    msg = expect_error("InvalidParameterValueException", 400, glacier.upload_archive, vaultName=vault,
                       body=data(MIB + 1), checksum=wrong, contains="checksum mismatch")
    assert wrong in msg
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 0
    assert server.blob_files() == blobs and server.tmp_files() == []


def test_wrong_content_sha256_changes_nothing(glacier, vault, server):
    def tamper(request, **kw):
        request.headers["x-amz-content-sha256"] = "0" * 64

    glacier.meta.events.register("before-send.glacier.UploadArchive", tamper)
    blobs = server.blob_files()
    expect_error("InvalidSignatureException", 403, glacier.upload_archive, vaultName=vault, body=b"abc",
                 contains="x-amz-content-sha256")
    glacier.meta.events.unregister("before-send.glacier.UploadArchive", tamper)
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 0
    assert server.blob_files() == blobs


def test_bad_descriptions(glacier, vault, server):
    blobs = server.blob_files()
    expect_error("InvalidParameterValueException", 400, glacier.upload_archive, vaultName=vault, body=b"a",
                 archiveDescription="d" * 1025, contains="1025")
    expect_error("InvalidParameterValueException", 400, glacier.upload_archive, vaultName=vault, body=b"a",
                 archiveDescription="tab\there", contains="printable")
    expect_error("InvalidParameterValueException", 400, glacier.upload_archive, vaultName=vault, body=b"a",
                 archiveDescription="caf\u00e9", contains="printable")
    ok = glacier.upload_archive(vaultName=vault, body=b"a", archiveDescription="d" * 1024)
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 1
    glacier.delete_archive(vaultName=vault, archiveId=ok["archiveId"])
    # An S3 listing (Garage) may show a deleted object for a moment.
    assert eventually(lambda: server.blob_files() == blobs)


def test_empty_archive_is_refused(glacier, vault):
    expect_error("InvalidParameterValueException", 400, glacier.upload_archive, vaultName=vault, body=b"",
                 contains="Content-Length")
