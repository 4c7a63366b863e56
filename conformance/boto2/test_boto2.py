import hashlib
import json
import time

from boto.glacier.concurrent import ConcurrentDownloader
from boto.glacier.exceptions import UnexpectedHTTPResponseError

MIB = 1024 * 1024


def data(n, seed):
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    return (block * (n // MIB + 1))[:n]


def wait(vault, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        job = vault.get_job(job_id)
        if job.completed:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not complete"
        time.sleep(0.05)


def test_vaults_read_by_name(layer2):
    vault = layer2.create_vault("boto2-vaults")
    got = layer2.get_vault("boto2-vaults")
    assert got.name == "boto2-vaults" and got.arn == vault.arn
    assert (got.number_of_archives, got.size, got.last_inventory_date) == (0, 0, None)
    assert "boto2-vaults" in [v.name for v in layer2.list_vaults()]
    layer2.delete_vault("boto2-vaults")


def test_upload_retrieve_download_verified(layer2, tmp_path):
    vault = layer2.create_vault("boto2-archives")
    body = data(5 * MIB + 3, seed=1)
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    single = vault.upload_archive(str(src), description="boto 2 single request")

    writer = vault.create_archive_writer(part_size=MIB, description="boto 2 writer")
    for i in range(0, len(body), 300_000):
        writer.write(body[i:i + 300_000])
    writer.close()
    multipart = writer.get_archive_id()

    for archive_id in (single, multipart):
        job = wait(vault, vault.retrieve_archive(archive_id).id)
        assert job.status_code == "Succeeded" and job.archive_size == len(body)
        out = tmp_path / "out.bin"
        job.download_to_file(str(out), chunk_size=MIB, verify_hashes=True)
        assert out.read_bytes() == body

        out2 = tmp_path / "concurrent.bin"
        ConcurrentDownloader(job, part_size=MIB, num_threads=4).download(str(out2))
        assert out2.read_bytes() == body

        part = job.get_output(byte_range=(MIB, 2 * MIB - 1), validate_checksum=True)
        assert part.read() == body[MIB:2 * MIB]


def test_inventory_and_errors(layer2):
    vault = layer2.create_vault("boto2-inventory")
    job_id = vault.retrieve_inventory(description="boto 2 inventory")
    job = wait(vault, job_id)
    assert job.action == "InventoryRetrieval" and job.description == "boto 2 inventory"
    doc = json.loads(job.get_output().read())
    assert doc["VaultARN"] == vault.arn and doc["ArchiveList"] == []
    try:
        vault.get_job("no-such-job")
    except UnexpectedHTTPResponseError as e:
        assert e.status == 404 and e.code == "ResourceNotFoundException"
    else:
        raise AssertionError("an unknown job must fail")


def test_signatures_are_checked(server):
    """boto 2 signs for region "0", service "127" when given an IP address; that is accepted,
    but a wrong secret or an unknown key is not."""
    from boto.glacier.layer2 import Layer2
    from boto.regioninfo import RegionInfo
    from harness import ACCESS_KEY

    host, port = server.endpoint.removeprefix("http://").split(":")
    for key, secret, code in [(ACCESS_KEY, "wrong-secret", "InvalidSignatureException"),
                              ("AKIDUNKNOWN000000000", "x", "UnrecognizedClientException")]:
        bad = Layer2(aws_access_key_id=key, aws_secret_access_key=secret, is_secure=False, port=int(port),
                     region=RegionInfo(name="us-east-1", endpoint=host))
        try:
            bad.create_vault("boto2-should-not-exist")
        except UnexpectedHTTPResponseError as e:
            assert e.status == 403 and e.code == code, (e.status, e.code)
        else:
            raise AssertionError(f"{code}: the request must be refused")
