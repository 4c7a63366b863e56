import json

from helpers import expect_error

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "deny-young-deletes", "Effect": "Deny", "Principal": "*", "Action": "glacier:DeleteArchive",
    "Resource": "arn:aws:glacier:us-east-1:111122223333:vaults/*",
    "Condition": {"NumericLessThan": {"glacier:ArchiveAgeInDays": "365"}}}]})


def test_tags(glacier, vault):
    assert glacier.list_tags_for_vault(vaultName=vault)["Tags"] == {}
    glacier.add_tags_to_vault(vaultName=vault, Tags={"team": "photos", "tier": "cold"})
    glacier.add_tags_to_vault(vaultName=vault, Tags={"team": "video"})
    assert glacier.list_tags_for_vault(vaultName=vault)["Tags"] == {"team": "video", "tier": "cold"}
    glacier.remove_tags_from_vault(vaultName=vault, TagKeys=["tier", "absent"])
    assert glacier.list_tags_for_vault(vaultName=vault)["Tags"] == {"team": "video"}

    expect_error("InvalidParameterValueException", 400, glacier.add_tags_to_vault, vaultName=vault,
                 Tags={"aws:owner": "x"}, contains="aws:")
    expect_error("InvalidParameterValueException", 400, glacier.add_tags_to_vault, vaultName=vault,
                 Tags={"k" * 129: "x"}, contains="128")
    expect_error("InvalidParameterValueException", 400, glacier.add_tags_to_vault, vaultName=vault,
                 Tags={"k": "v" * 257}, contains="256")
    glacier.add_tags_to_vault(vaultName=vault, Tags={f"k{i}": str(i) for i in range(49)})
    assert len(glacier.list_tags_for_vault(vaultName=vault)["Tags"]) == 50
    glacier.add_tags_to_vault(vaultName=vault, Tags={"k1": "overwritten"})
    expect_error("LimitExceededException", 400, glacier.add_tags_to_vault, vaultName=vault,
                 Tags={"one-more": "x"}, contains="50")
    tags = glacier.list_tags_for_vault(vaultName=vault)["Tags"]
    assert len(tags) == 50 and "one-more" not in tags and tags["k1"] == "overwritten"
    expect_error("ResourceNotFoundException", 404, glacier.list_tags_for_vault, vaultName="no-such-vault")


def test_access_policy(glacier, vault):
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_access_policy, vaultName=vault,
                 contains="access policy")
    glacier.set_vault_access_policy(vaultName=vault, policy={"Policy": POLICY})
    assert glacier.get_vault_access_policy(vaultName=vault)["policy"]["Policy"] == POLICY
    expect_error("InvalidParameterValueException", 400, glacier.set_vault_access_policy, vaultName=vault,
                 policy={"Policy": "{not json"}, contains="not valid JSON")
    expect_error("InvalidParameterValueException", 400, glacier.set_vault_access_policy, vaultName=vault,
                 policy={"Policy": "{}"}, contains="Statement")
    assert glacier.get_vault_access_policy(vaultName=vault)["policy"]["Policy"] == POLICY, "unchanged"
    glacier.delete_vault_access_policy(vaultName=vault)
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_access_policy, vaultName=vault)


def test_vault_lock_state_machine(glacier, vault):
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_lock, vaultName=vault)
    lock_id = glacier.initiate_vault_lock(vaultName=vault, policy={"Policy": POLICY})["lockId"]
    lock = glacier.get_vault_lock(vaultName=vault)
    assert (lock["State"], lock["Policy"]) == ("InProgress", POLICY)
    assert lock["ExpirationDate"] > lock["CreationDate"]
    expect_error("AccessDeniedException", 403, glacier.initiate_vault_lock, vaultName=vault,
                 policy={"Policy": POLICY}, contains="in progress")
    expect_error("InvalidParameterValueException", 400, glacier.complete_vault_lock, vaultName=vault,
                 lockId="wrong", contains="lock id")
    glacier.abort_vault_lock(vaultName=vault)
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_lock, vaultName=vault)
    glacier.abort_vault_lock(vaultName=vault)  # idempotent

    lock_id = glacier.initiate_vault_lock(vaultName=vault, policy={"Policy": POLICY})["lockId"]
    glacier.complete_vault_lock(vaultName=vault, lockId=lock_id)
    glacier.complete_vault_lock(vaultName=vault, lockId=lock_id)  # idempotent once locked
    lock = glacier.get_vault_lock(vaultName=vault)
    assert lock["State"] == "Locked" and lock.get("ExpirationDate") is None
    expect_error("AccessDeniedException", 403, glacier.complete_vault_lock, vaultName=vault, lockId="wrong")
    expect_error("AccessDeniedException", 403, glacier.abort_vault_lock, vaultName=vault, contains="locked")
    expect_error("AccessDeniedException", 403, glacier.initiate_vault_lock, vaultName=vault,
                 policy={"Policy": POLICY}, contains="locked")
    assert glacier.get_vault_lock(vaultName=vault)["State"] == "Locked"


def test_data_retrieval_policy(glacier):
    default = glacier.get_data_retrieval_policy()["Policy"]
    assert default["Rules"][0]["Strategy"] == "None"
    glacier.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "BytesPerHour", "BytesPerHour": 10737418240}]})
    assert glacier.get_data_retrieval_policy()["Policy"]["Rules"] == [
        {"Strategy": "BytesPerHour", "BytesPerHour": 10737418240}]
    for bad, contains in [({"Rules": [{"Strategy": "BytesPerHour"}]}, "BytesPerHour"),
                          ({"Rules": [{"Strategy": "FreeTier", "BytesPerHour": 5}]}, "only allowed"),
                          ({"Rules": [{"Strategy": "Unlimited"}]}, "Strategy"),
                          ({"Rules": []}, "one rule")]:
        expect_error("InvalidParameterValueException", 400, glacier.set_data_retrieval_policy, Policy=bad,
                     contains=contains)
    assert glacier.get_data_retrieval_policy()["Policy"]["Rules"][0]["BytesPerHour"] == 10737418240
    glacier.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "FreeTier"}]})
    assert glacier.get_data_retrieval_policy()["Policy"]["Rules"] == [{"Strategy": "FreeTier"}]


def test_provisioned_capacity(glacier):
    assert glacier.list_provisioned_capacity()["ProvisionedCapacityList"] == []
    ids = [glacier.purchase_provisioned_capacity()["capacityId"] for _ in range(2)]
    expect_error("LimitExceededException", 400, glacier.purchase_provisioned_capacity, contains="limit is 2")
    units = glacier.list_provisioned_capacity()["ProvisionedCapacityList"]
    assert [u["CapacityId"] for u in units] == ids
    assert all(u["ExpirationDate"] > u["StartDate"] for u in units)
