//! The S3 client the harness uses against S3-compatible stores (ours or a connector's): the
//! real aws-sdk-s3, configured from explicit values only. It deliberately avoids `aws-config`,
//! so no environment variable, profile file or instance metadata endpoint can change where it
//! connects or which keys it signs with.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;

/// Builds an S3 client for `endpoint` (for example `http://127.0.0.1:9000`) signing with the
/// given static keys for `region`. Path-style addressing is forced because the endpoint is an
/// address, not a domain under which buckets could be virtual hosts.
///
/// The SDK's default checksum settings are kept on purpose: uploads then use aws-chunked
/// streaming with a CRC32 trailer (signed chunk by chunk over plain HTTP), and downloads ask
/// for and validate the CRC32, which exercises the same paths a connector talking to AWS uses.
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Client {
    let credentials = Credentials::new(access_key, secret_key, None, None, "dsp-harness-static");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}
