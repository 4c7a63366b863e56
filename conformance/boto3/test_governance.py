import json
import uuid

import pytest

from harness import ACCOUNT, OTHER_ACCOUNT
from helpers import EXPEDITED, MIB, data, expect_error, tree_hash

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
    glacier.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "None"}]})


def test_provisioned_capacity(glacier):
    assert glacier.list_provisioned_capacity()["ProvisionedCapacityList"] == []
    ids = [glacier.purchase_provisioned_capacity()["capacityId"] for _ in range(2)]
    expect_error("LimitExceededException", 400, glacier.purchase_provisioned_capacity, contains="limit is 2")
    units = glacier.list_provisioned_capacity()["ProvisionedCapacityList"]
    assert [u["CapacityId"] for u in units] == ids
    assert all(u["ExpirationDate"] > u["StartDate"] for u in units)


def upload(client, vault, body, **kw):
    return client.upload_archive(vaultName=vault, body=body, checksum=tree_hash(body), **kw)["archiveId"]


def lock_policy(vault, days):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "worm", "Effect": "Deny", "Principal": "*", "Action": "glacier:DeleteArchive",
        "Resource": f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}",
        "Condition": {"NumericLessThan": {"glacier:ArchiveAgeInDays": str(days)}}}]})


def test_locked_vault_refuses_deleting_young_archives(glacier, vault):
    kept = upload(glacier, vault, b"write once, read many")
    gone = upload(glacier, vault, b"deleted before the lock")
    glacier.delete_archive(vaultName=vault, archiveId=gone)
    lock_id = glacier.initiate_vault_lock(vaultName=vault, policy={"Policy": lock_policy(vault, 365)})["lockId"]
    glacier.complete_vault_lock(vaultName=vault, lockId=lock_id)
    message = expect_error("AccessDeniedException", 403, glacier.delete_archive, vaultName=vault, archiveId=kept,
                           contains="explicit deny")
    assert "glacier:DeleteArchive" in message and "worm" in message
    # The archive is still there: a retrieval of it starts.
    glacier.initiate_job(vaultName=vault, jobParameters={"Type": "archive-retrieval", "ArchiveId": kept})
    # The locked policy can neither be removed nor replaced, and uploads go on.
    expect_error("AccessDeniedException", 403, glacier.abort_vault_lock, vaultName=vault)
    upload(glacier, vault, b"more")


def test_in_progress_lock_is_in_effect_and_an_old_enough_archive_is_not_protected(glacier, vault):
    archive = upload(glacier, vault, b"young")
    glacier.initiate_vault_lock(vaultName=vault, policy={"Policy": lock_policy(vault, 1)})
    expect_error("AccessDeniedException", 403, glacier.delete_archive, vaultName=vault, archiveId=archive)
    glacier.abort_vault_lock(vaultName=vault)
    # A 0-day lock protects nothing: an archive is 0 days old, not less than 0.
    glacier.initiate_vault_lock(vaultName=vault, policy={"Policy": lock_policy(vault, 0)})
    glacier.delete_archive(vaultName=vault, archiveId=archive)
    glacier.abort_vault_lock(vaultName=vault)


def grant(vault, actions):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "cross-account", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": actions,
        "Resource": f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}"}]})


def test_cross_account_access_needs_a_grant(glacier, other, vault):
    # Without a grant the vault is not there for the other account, and the account's
    # own resources are its owner's only.
    expect_error("ResourceNotFoundException", 404, other.describe_vault, accountId=ACCOUNT, vaultName=vault)
    expect_error("ResourceNotFoundException", 404, other.upload_archive, accountId=ACCOUNT, vaultName=vault,
                 body=b"x", checksum=tree_hash(b"x"))
    expect_error("AccessDeniedException", 403, other.list_vaults, accountId=ACCOUNT)
    expect_error("AccessDeniedException", 403, other.get_data_retrieval_policy, accountId=ACCOUNT)
    expect_error("AccessDeniedException", 403, other.create_vault, accountId=ACCOUNT, vaultName="theirs")
    assert vault not in {v["VaultName"] for v in other.list_vaults()["VaultList"]}

    glacier.set_vault_access_policy(vaultName=vault, policy={"Policy": grant(
        vault, ["glacier:DescribeVault", "glacier:UploadArchive", "glacier:InitiateJob", "glacier:Get*"])})
    described = other.describe_vault(accountId=ACCOUNT, vaultName=vault)
    assert described["VaultARN"] == f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}"
    archive = upload(other, vault, b"from another account", accountId=ACCOUNT)
    job = other.initiate_job(accountId=ACCOUNT, vaultName=vault,
                             jobParameters={"Type": "archive-retrieval", "ArchiveId": archive})["jobId"]
    assert other.get_vault_access_policy(accountId=ACCOUNT, vaultName=vault)["policy"]["Policy"]
    # What the policy does not grant is refused, now that the vault is visible.
    expect_error("AccessDeniedException", 403, other.delete_archive, accountId=ACCOUNT, vaultName=vault,
                 archiveId=archive, contains="glacier:DeleteArchive")
    expect_error("AccessDeniedException", 403, other.describe_job, accountId=ACCOUNT, vaultName=vault, jobId=job)
    expect_error("AccessDeniedException", 403, other.set_vault_access_policy, accountId=ACCOUNT,
                 vaultName=vault, policy={"Policy": grant(vault, "glacier:*")})
    # The other account's "-" is its own account.
    expect_error("ResourceNotFoundException", 404, other.describe_vault, vaultName=vault)

    glacier.delete_vault_access_policy(vaultName=vault)
    expect_error("ResourceNotFoundException", 404, other.describe_vault, accountId=ACCOUNT, vaultName=vault)
    glacier.delete_archive(vaultName=vault, archiveId=archive)


def test_explicit_deny_binds_the_owner_and_tag_conditions(glacier, vault):
    deny_frozen = json.dumps({"Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": ["glacier:Upload*", "glacier:InitiateMultipartUpload"],
        "Resource": "*", "Condition": {"StringEquals": {"glacier:ResourceTag/stage": "frozen"}}}]})
    glacier.set_vault_access_policy(vaultName=vault, policy={"Policy": deny_frozen})
    archive = upload(glacier, vault, b"before freezing")
    glacier.add_tags_to_vault(vaultName=vault, Tags={"stage": "frozen"})
    expect_error("AccessDeniedException", 403, upload, glacier, vault, b"after freezing")
    expect_error("AccessDeniedException", 403, glacier.initiate_multipart_upload, vaultName=vault,
                 partSize=str(MIB))
    glacier.remove_tags_from_vault(vaultName=vault, TagKeys=["stage"])
    glacier.delete_archive(vaultName=vault, archiveId=upload(glacier, vault, b"thawed"))
    glacier.delete_archive(vaultName=vault, archiveId=archive)
    glacier.delete_vault_access_policy(vaultName=vault)


def test_malformed_policies_say_why(glacier, vault):
    for policy, contains in [
        ({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "*", "Resource": "*"}]}, "Allow or Deny"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "Principal is missing"),
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]},
         "not a Glacier action"),
        ({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                         "Condition": {"NumericLessThan": {"glacier:ArchiveAgeInDays": "a year"}}}]}, "not a number"),
    ]:
        expect_error("InvalidParameterValueException", 400, glacier.set_vault_access_policy, vaultName=vault,
                     policy={"Policy": json.dumps(policy)}, contains=contains)
        expect_error("InvalidParameterValueException", 400, glacier.initiate_vault_lock, vaultName=vault,
                     policy={"Policy": json.dumps(policy)}, contains=contains)
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_access_policy, vaultName=vault)
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_lock, vaultName=vault)


def retrieve(client, vault, archive, **kw):
    return client.initiate_job(vaultName=vault, jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive, **kw})["jobId"]


def test_data_retrieval_policy_is_enforced(limited):
    vault = f"limits-{uuid.uuid4().hex[:8]}"
    limited.create_vault(vaultName=vault)
    archive = upload(limited, vault, data(2 * MIB, 7))
    limited.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "BytesPerHour", "BytesPerHour": 3 * MIB}]})
    retrieve(limited, vault, archive)
    expect_error("PolicyEnforcedException", 400, retrieve, limited, vault, archive,
                 contains="data retrieval policy")
    retrieve(limited, vault, archive, RetrievalByteRange=f"0-{MIB - 1}")  # exactly fills the hour
    expect_error("PolicyEnforcedException", 400, retrieve, limited, vault, archive,
                 RetrievalByteRange=f"0-{MIB - 1}")
    # The free tier here allows 3 MiB a day, already used; None lifts every limit.
    limited.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "FreeTier"}]})
    expect_error("PolicyEnforcedException", 400, retrieve, limited, vault, archive, contains="free tier")
    limited.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "None"}]})
    retrieve(limited, vault, archive)
    # Inventories are not data retrievals.
    limited.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "BytesPerHour", "BytesPerHour": 1}]})
    limited.initiate_job(vaultName=vault, jobParameters={"Type": "inventory-retrieval"})
    limited.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "None"}]})


@pytest.mark.skipif(not EXPEDITED, reason="no Expedited tier on S3 Deep Archive")
def test_expedited_retrievals_need_capacity(limited):
    vault = f"expedited-{uuid.uuid4().hex[:8]}"
    limited.create_vault(vaultName=vault)
    archive = upload(limited, vault, b"urgent")
    retrieve(limited, vault, archive, Tier="Expedited")
    expect_error("InsufficientCapacityException", 400, retrieve, limited, vault, archive, Tier="Expedited",
                 contains="provisioned capacity")
    retrieve(limited, vault, archive, Tier="Standard")  # other tiers are not held back
    limited.purchase_provisioned_capacity()
    for _ in range(3):
        retrieve(limited, vault, archive, Tier="Expedited")
    expect_error("InsufficientCapacityException", 400, retrieve, limited, vault, archive, Tier="Expedited")
