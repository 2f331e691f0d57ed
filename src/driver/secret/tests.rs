//! The secret store's rules and what it leaves on disk.

use super::*;
use std::os::unix::fs::PermissionsExt;

const UUID: &str = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f";

fn xml(attrs: &str, usage: &str) -> String {
    format!("<secret {attrs}><uuid>{UUID}</uuid><usage type='ceph'><name>{usage}</name></usage></secret>")
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn values_are_sealed_at_rest_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path()).unwrap();
    assert!(files(dir.path()).is_empty(), "no key before a value");
    let secret = store
        .secret_define_xml(&xml("", "client.a"), 0)
        .await
        .unwrap();
    assert_eq!(
        (secret.usage_type, secret.usage_id.as_str()),
        (2, "client.a")
    );
    store
        .secret_set_value(&secret, b"plain-text-value", 0)
        .await
        .unwrap();
    assert_eq!(
        files(dir.path()),
        [
            format!("{UUID}.value"),
            format!("{UUID}.xml"),
            vault::KEY_FILE.to_string()
        ]
    );
    let sealed = std::fs::read(dir.path().join(format!("{UUID}.value"))).unwrap();
    assert!(!sealed.windows(16).any(|w| w == b"plain-text-value"));
    for name in files(dir.path()) {
        let mode = std::fs::metadata(dir.path().join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    drop(store);
    let store = SecretStore::open(dir.path()).unwrap();
    let secret = store.secret_lookup_by_usage(2, "client.a").await.unwrap();
    assert_eq!(
        store.secret_get_value(&secret, 0).await.unwrap(),
        b"plain-text-value"
    );
    store.secret_undefine(&secret).await.unwrap();
    assert_eq!(files(dir.path()), [vault::KEY_FILE.to_string()]);
    let err = store.secret_lookup_by_uuid(&secret.uuid).await.unwrap_err();
    assert_eq!(
        err.message,
        format!("Secret not found: no secret with matching uuid '{UUID}'")
    );
}

#[tokio::test]
async fn ephemeral_secrets_never_touch_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path()).unwrap();
    let secret = store
        .secret_define_xml(&xml("ephemeral='yes'", "client.e"), 0)
        .await
        .unwrap();
    store
        .secret_set_value(&secret, b"in-memory", 0)
        .await
        .unwrap();
    assert!(files(dir.path()).is_empty());
    assert_eq!(
        store.secret_get_value(&secret, 0).await.unwrap(),
        b"in-memory"
    );
    // Made persistent, it brings its value to disk (sealed); made ephemeral again, both leave.
    store
        .secret_define_xml(&xml("", "client.e"), 0)
        .await
        .unwrap();
    assert_eq!(files(dir.path()).len(), 3);
    store
        .secret_define_xml(&xml("ephemeral='yes'", "client.e"), 0)
        .await
        .unwrap();
    assert_eq!(files(dir.path()), [vault::KEY_FILE.to_string()]);
    drop(store);
    let store = SecretStore::open(dir.path()).unwrap();
    assert!(store.list_all_secrets(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn libvirts_rules_on_usage_privacy_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path()).unwrap();
    let secret = store
        .secret_define_xml(&xml("private='yes'", "client.p"), 0)
        .await
        .unwrap();
    store.secret_set_value(&secret, b"x", 0).await.unwrap();
    let err = store.secret_get_value(&secret, 0).await.unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            ErrorCode::INVALID_SECRET,
            "Invalid secret: secret is private"
        )
    );
    let err = store
        .secret_define_xml(&xml("private='no'", "client.p"), 0)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "internal error: cannot change private flag on existing secret"
    );
    let err = store
        .secret_define_xml(&xml("private='yes'", "client.q"), 0)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "internal error: a secret with UUID {UUID} is already defined for use with client.p"
        )
    );
    let other = "<secret><uuid>11111111-2222-3333-4444-555555555555</uuid>\
                 <usage type='ceph'><name>client.p</name></usage></secret>";
    let err = store.secret_define_xml(other, 0).await.unwrap_err();
    assert_eq!(
        err.message,
        format!("internal error: a secret with UUID {UUID} already defined for use with client.p")
    );
    // The same id under another usage type is another usage.
    let tls = "<secret><usage type='tls'><name>client.p</name></usage></secret>";
    store.secret_define_xml(tls, 0).await.unwrap();
    let all = store.list_all_secrets(0).await.unwrap();
    assert_eq!(all.len(), 2);
    let private = store
        .list_all_secrets(f::LIST_SECRETS_PRIVATE)
        .await
        .unwrap();
    assert_eq!(private, std::slice::from_ref(&secret));
    let public = store
        .list_all_secrets(f::LIST_SECRETS_NO_PRIVATE | f::LIST_SECRETS_NO_EPHEMERAL)
        .await
        .unwrap();
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].usage_type, 4);
    let tls_secret = &public[0];
    let err = store.secret_get_value(tls_secret, 0).await.unwrap_err();
    assert_eq!(
        (err.code, err.message),
        (
            ErrorCode::NO_SECRET,
            format!(
                "Secret not found: secret '{}' does not have a value",
                tls_secret.uuid
            )
        )
    );
    let err = store.list_all_secrets(1 << 4).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_ARG);
    let err = store
        .secret_lookup_by_usage(3, "client.p")
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Secret not found: no secret with matching usage 'client.p'"
    );
}

#[tokio::test]
async fn a_damaged_definition_is_skipped_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path()).unwrap();
    store
        .secret_define_xml(&xml("", "client.a"), 0)
        .await
        .unwrap();
    drop(store);
    std::fs::write(
        dir.path().join("11111111-2222-3333-4444-555555555555.xml"),
        "<secret",
    )
    .unwrap();
    let store = SecretStore::open(dir.path()).unwrap();
    assert_eq!(store.list_all_secrets(0).await.unwrap().len(), 1);
}
