from helpers import expect_error

TOPIC = "arn:aws:sns:us-east-1:111122223333:archive-ready"


def test_set_get_delete(glacier, vault):
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_notifications, vaultName=vault,
                 contains="notification")
    r = glacier.set_vault_notifications(vaultName=vault, vaultNotificationConfig={
        "SNSTopic": TOPIC, "Events": ["ArchiveRetrievalCompleted", "InventoryRetrievalCompleted"]})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = glacier.get_vault_notifications(vaultName=vault)["vaultNotificationConfig"]
    assert got == {"SNSTopic": TOPIC, "Events": ["ArchiveRetrievalCompleted", "InventoryRetrievalCompleted"]}
    glacier.set_vault_notifications(vaultName=vault, vaultNotificationConfig={
        "SNSTopic": TOPIC, "Events": ["InventoryRetrievalCompleted"]})
    assert glacier.get_vault_notifications(vaultName=vault)["vaultNotificationConfig"]["Events"] == [
        "InventoryRetrievalCompleted"]
    assert glacier.delete_vault_notifications(vaultName=vault)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("ResourceNotFoundException", 404, glacier.get_vault_notifications, vaultName=vault)


def test_bad_configurations_change_nothing(glacier, vault):
    glacier.set_vault_notifications(vaultName=vault, vaultNotificationConfig={
        "SNSTopic": TOPIC, "Events": ["ArchiveRetrievalCompleted"]})
    expect_error("InvalidParameterValueException", 400, glacier.set_vault_notifications, vaultName=vault,
                 vaultNotificationConfig={"SNSTopic": TOPIC, "Events": ["ArchiveDeleted"]}, contains="ArchiveDeleted")
    expect_error("MissingParameterValueException", 400, glacier.set_vault_notifications, vaultName=vault,
                 vaultNotificationConfig={"Events": ["ArchiveRetrievalCompleted"]}, contains="SNSTopic")
    expect_error("MissingParameterValueException", 400, glacier.set_vault_notifications, vaultName=vault,
                 vaultNotificationConfig={"SNSTopic": TOPIC, "Events": []}, contains="Events")
    expect_error("ResourceNotFoundException", 404, glacier.set_vault_notifications, vaultName="no-such-vault",
                 vaultNotificationConfig={"SNSTopic": TOPIC, "Events": ["ArchiveRetrievalCompleted"]})
    assert glacier.get_vault_notifications(vaultName=vault)["vaultNotificationConfig"]["Events"] == [
        "ArchiveRetrievalCompleted"]
