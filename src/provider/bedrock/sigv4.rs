//! AWS Signature Version 4 for Bedrock requests, with the maintained
//! `aws-sigv4` crate. (The mock upstream checks signatures with a copy of
//! its own, so a mistake here is not repeated there.)

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

/// The signing name of the Bedrock runtime API.
pub const SERVICE: &str = "bedrock";

/// What signing produced.
pub struct Signed {
    /// Headers to add: `authorization`, `x-amz-date`, and
    /// `x-amz-security-token` with temporary credentials.
    pub headers: Vec<(&'static str, String)>,
    pub signature: String,
}

/// Signs a POST of `body` to `url` for Bedrock; `headers` are the other
/// headers to sign.
pub fn sign_request(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Signed, String> {
    let scope = Scope {
        region,
        service: SERVICE,
        time,
    };
    sign_for("POST", url, headers, body, credentials, &scope)
}

/// Where and when a signature applies.
struct Scope<'a> {
    region: &'a str,
    service: &'a str,
    time: SystemTime,
}

fn sign_for(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    scope: &Scope<'_>,
) -> Result<Signed, String> {
    let (region, time) = (scope.region, scope.time);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(scope.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| format!("SigV4 parameters: {error}"))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|error| format!("SigV4 request: {error}"))?;
    let (instructions, signature) = sign(request, &params)
        .map_err(|error| format!("SigV4 signing: {error}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(Signed {
        headers: headers
            .iter()
            .map(|h| (h.name(), h.value().to_owned()))
            .collect(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// AWS's published SigV4 test suite (aws-sig-v4-test-suite, as mirrored
    /// in botocore's `tests/unit/auth/aws4_testsuite`): the requests and the
    /// signatures AWS publishes for them.
    #[test]
    fn aws_published_test_vectors() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test-suite",
        );
        let scope = Scope {
            region: "us-east-1",
            service: "service",
            // 20150830T123600Z
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
        };
        let vectors = [
            (
                "GET",
                "https://example.amazonaws.com/",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "POST",
                "https://example.amazonaws.com/",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "GET",
                "https://example.amazonaws.com/?Param1=value2&Param1=Value1",
                "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
            ),
            (
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ];
        for (method, url, signature) in vectors {
            let signed = sign_for(
                method,
                url,
                &[("host", "example.amazonaws.com")],
                b"",
                &credentials,
                &scope,
            )
            .unwrap();
            assert_eq!(signed.signature, signature, "{method} {url}");
            let authorization = &signed
                .headers
                .iter()
                .find(|(name, _)| *name == "authorization")
                .unwrap()
                .1;
            assert_eq!(
                authorization,
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={signature}"
                )
            );
        }
    }

    #[test]
    fn signing_is_deterministic_and_scoped() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        // 20261126T120000Z
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1795694400);
        let url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m%3A0/converse";
        let sign = |body: &[u8]| {
            sign_request(
                url,
                &[("content-type", "application/json")],
                body,
                &credentials,
                "eu-west-1",
                time,
            )
            .unwrap()
        };
        let signed = sign(b"{}");
        assert_eq!(signed.signature, sign(b"{}").signature);
        assert_ne!(signed.signature, sign(b"{ }").signature);
        let headers = signed.headers;
        let authorization = &headers
            .iter()
            .find(|(n, _)| *n == "authorization")
            .unwrap()
            .1;
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
        ), "{authorization}");
    }
}
