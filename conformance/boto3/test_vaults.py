import uuid

from helpers import expect_error

# botocore drops null fields when parsing; the raw body is checked for them separately.
FIELDS = {"VaultARN", "VaultName", "CreationDate", "NumberOfArchives", "SizeInBytes"}


def test_create_describe_delete(glacier, server):
    name = f"life-{uuid.uuid4().hex[:8]}"
    r = glacier.create_vault(vaultName=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["location"] == f"/111122223333/vaults/{name}"
    again = glacier.create_vault(vaultName=name)
    assert again["location"] == r["location"], "creating an existing vault is idempotent"

    d = glacier.describe_vault(vaultName=name)
    assert d["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert FIELDS <= set(d), d
    assert d["VaultARN"] == f"arn:aws:glacier:us-east-1:111122223333:vaults/{name}"
    assert d["NumberOfArchives"] == 0 and d["SizeInBytes"] == 0
    assert d.get("LastInventoryDate") is None
    assert d["CreationDate"].endswith("Z") and "T" in d["CreationDate"]

    assert glacier.delete_vault(vaultName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("ResourceNotFoundException", 404, glacier.describe_vault, vaultName=name, contains=name)
    expect_error("ResourceNotFoundException", 404, glacier.delete_vault, vaultName=name)


def test_describe_vault_raw_json_has_null_fields(glacier, vault):
    """boto 2 reads every field by name: LastInventoryDate must be present as null."""
    raw = {}
    glacier.meta.events.register("after-call.glacier.DescribeVault",
                                 lambda http_response, **kw: raw.setdefault("body", http_response.content))
    glacier.describe_vault(vaultName=vault)
    assert b'"LastInventoryDate":null' in raw["body"], raw


def test_list_vaults_pagination(glacier):
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(5)]
    for n in names:
        glacier.create_vault(vaultName=n)
    try:
        seen, marker, pages = [], None, 0
        while True:
            kw = {"limit": "2"}
            if marker:
                kw["marker"] = marker
            page = glacier.list_vaults(**kw)
            assert len(page["VaultList"]) <= 2
            assert all(FIELDS <= set(v) for v in page["VaultList"])
            seen += [v["VaultName"] for v in page["VaultList"]]
            pages += 1
            marker = page.get("Marker")
            if not marker:
                break
        assert seen == sorted(seen), "vaults are listed in name order"
        assert [n for n in seen if n.startswith(prefix)] == names
        assert pages >= 3

        via_paginator = [v["VaultName"] for p in glacier.get_paginator("list_vaults").paginate(
            PaginationConfig={"PageSize": 2}) for v in p["VaultList"]]
        assert via_paginator == seen
        default = glacier.list_vaults()
        assert [v["VaultName"] for v in default["VaultList"]] == seen, "default limit is 1000"
        assert "Marker" not in default or default["Marker"] is None
    finally:
        for n in names:
            glacier.delete_vault(vaultName=n)


def test_bad_vault_names(glacier, server):
    before = glacier.list_vaults()["VaultList"]
    for bad in ["has space", "x" * 256, "star*", "caf\u00e9"]:
        expect_error("InvalidParameterValueException", 400, glacier.create_vault, vaultName=bad,
                     contains="vault name")
    assert glacier.list_vaults()["VaultList"] == before, "nothing was created"


def test_bad_limit_and_marker(glacier):
    expect_error("InvalidParameterValueException", 400, glacier.list_vaults, limit="0", contains="limit")
    expect_error("InvalidParameterValueException", 400, glacier.list_vaults, limit="1001", contains="limit")
    expect_error("InvalidParameterValueException", 400, glacier.list_vaults, limit="ten", contains="limit")
    expect_error("InvalidParameterValueException", 400, glacier.list_vaults, marker="not-an-arn",
                 contains="marker")
