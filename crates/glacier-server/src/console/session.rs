//! Console sessions: a token `HEX(ACCESS_KEY).EXPIRES.MAC` that the server hands out when a
//! SigV4-signed sign-in verifies, where EXPIRES is in seconds since the epoch and MAC is the
//! HMAC-SHA256, keyed by the identity's secret, of the key and the expiry.
//!
//! Nothing is stored: any node that accepts the identity accepts its sessions, and a key that
//! is removed or whose secret changes (SIGHUP reloads `--credentials`) ends its sessions at
//! once. The token holds no secret, and forging one takes the secret.

use crate::config::Identity;
use crate::error::ApiError;
use glacier_core::ErrorCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

/// What the MAC signs besides the key and the expiry, so that it can be nothing else's MAC.
const PURPOSE: &[u8] = b"glacier-console-session\n";

fn mac(identity: &Identity, expires: i64) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length: `None` cannot happen, and would verify nothing.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(identity.secret_access_key.as_bytes()).ok()?;
    mac.update(PURPOSE);
    mac.update(identity.access_key_id.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    Some(mac)
}

/// A session of `identity` that ends at `expires`.
pub(crate) fn mint(identity: &Identity, expires: OffsetDateTime) -> String {
    let expires = expires.unix_timestamp();
    let tag = mac(identity, expires)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{}.{expires}.{tag}", hex::encode(&identity.access_key_id))
}

fn signed_out(message: &str) -> ApiError {
    ApiError::new(ErrorCode::MissingAuthenticationTokenException, message)
}

/// The identity of a session token and when it ends, if one of `identities` signed it and it
/// has not ended at `now`.
pub(crate) fn verify(
    token: &str,
    identities: &[Identity],
    now: OffsetDateTime,
) -> Result<(Identity, OffsetDateTime), ApiError> {
    let invalid = || signed_out("The console session is not valid; sign in again");
    let mut parts = token.split('.');
    let (Some(key), Some(expires), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let key = hex::decode(key)
        .ok()
        .and_then(|k| String::from_utf8(k).ok())
        .ok_or_else(invalid)?;
    let expires: i64 = expires.parse().map_err(|_| invalid())?;
    let tag = hex::decode(tag).map_err(|_| invalid())?;
    let identity = identities
        .iter()
        .find(|i| i.access_key_id == key)
        .ok_or_else(invalid)?;
    if mac(identity, expires).is_none_or(|m| m.verify_slice(&tag).is_err()) {
        return Err(invalid());
    }
    let ends = OffsetDateTime::from_unix_timestamp(expires).map_err(|_| invalid())?;
    if ends <= now {
        return Err(signed_out("The console session ended; sign in again"));
    }
    Ok((identity.clone(), ends))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str, secret: &str) -> Identity {
        Identity {
            access_key_id: key.into(),
            secret_access_key: secret.into(),
            account_id: "111122223333".into(),
        }
    }

    #[test]
    fn a_minted_session_verifies_until_it_ends() {
        let me = id("AKID.with.dots", "secret");
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let ends = now + time::Duration::hours(1);
        let token = mint(&me, ends);
        assert!(!token.contains("secret"));
        let ids = [id("OTHER", "x"), me.clone()];
        assert_eq!(verify(&token, &ids, now).unwrap(), (me.clone(), ends));
        let late = verify(&token, &ids, ends).unwrap_err();
        assert_eq!(late.code, ErrorCode::MissingAuthenticationTokenException);
        assert!(late.message.contains("ended"), "{late:?}");
    }

    #[test]
    fn altered_tokens_and_changed_keys_are_refused() {
        let me = id("AKID", "secret");
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let token = mint(&me, now + time::Duration::hours(1));
        let (key, rest) = token.split_once('.').unwrap();
        let (expires, tag) = rest.split_once('.').unwrap();
        let later: i64 = expires.parse::<i64>().unwrap() + 3600;
        let flipped = format!(
            "{}{}",
            &tag[..63],
            if tag.ends_with('0') { '1' } else { '0' }
        );
        for bad in [
            format!("{key}.{later}.{tag}"),
            format!("{key}.{expires}.{flipped}"),
            format!("{}.{expires}.{tag}", hex::encode("OTHER")),
            format!("{token}.x"),
            "".to_owned(),
            "zz.1.2".to_owned(),
        ] {
            let e = verify(&bad, std::slice::from_ref(&me), now).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::MissingAuthenticationTokenException,
                "{bad}"
            );
        }
        // The identity removed, or its secret changed: its sessions end.
        assert!(verify(&token, &[], now).is_err());
        assert!(verify(&token, &[id("AKID", "rotated")], now).is_err());
    }
}
