//! SigV4 as AWS checks it: the mock recomputes the signature a request
//! should carry, with the `aws-sigv4` crate, and compares. Written apart from
//! the gateway's signer so that a mistake there is caught here.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

/// The signing name of the Bedrock runtime API.
pub const SERVICE: &str = "bedrock";

/// What a request to `url` with these signed `headers` and `body` should be
/// signed with, given the caller's access key (the mock's secret equals it).
pub fn expected_signature(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: Credentials,
    region: &str,
    time: SystemTime,
) -> Result<String, String> {
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| error.to_string())?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|error| error.to_string())?;
    let (_, signature) = sign(request, &params)
        .map_err(|error| error.to_string())?
        .into_parts();
    Ok(signature)
}

/// `x-amz-date` (`YYYYMMDDTHHMMSSZ`) as a time, read through its RFC 3339
/// spelling.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let part = |range: std::ops::Range<usize>| {
        text.get(range)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
    };
    if text.len() != 16 || text.as_bytes()[8] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(9..11)?,
        part(11..13)?,
        part(13..15)?
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn amz_dates_read_as_utc_and_bad_ones_do_not() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(1_440_938_160)
        );
        for bad in [
            "20150830 123600Z",
            "20151330T123600Z",
            "2015083T123600Z",
            "2015-830T123600Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
