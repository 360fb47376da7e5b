//! What the store refuses that s3s and s3s-fs would let through. s3s-fs keeps an object at
//! `<data dir>/<bucket>/<key>`, so a key is a path: `.` and `..` segments, empty segments and
//! NUL bytes would reach other files or alias one object under two keys, and are refused
//! wherever a key enters (the request path, a copy source, a batch delete). Every request must
//! be SigV4-signed for the store's region: s3s checks the signature against whatever region the
//! client names and also accepts SigV2, so both are checked here. Browser form uploads (POST
//! object) are disabled: the harness never needs them (`server` refuses them first).

use axum::http::{HeaderMap, Uri};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};

/// The store's access policy, asked by s3s after the signature checked out.
pub(crate) struct Guard {
    pub(crate) region: String,
    /// The s3s-fs root, where each bucket is a directory.
    pub(crate) root: std::path::PathBuf,
}

#[async_trait::async_trait]
impl S3Access for Guard {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "requests must be signed with sigv4"));
        }
        match signed_region(cx.headers(), cx.uri()) {
            None => return Err(s3_error!(InvalidRequest, "signature version 2 is not accepted; sign with sigv4")),
            Some(region) if region != self.region => {
                let expected = &self.region;
                return Err(s3_error!(AuthorizationHeaderMalformed, "the authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'"));
            }
            Some(_) => {}
        }
        if cx.s3_op().name() == "PostObject" {
            // `server` refuses form uploads before s3s reads them; this is the second lock.
            return Err(s3_error!(MethodNotAllowed, "browser form uploads (post object) are disabled"));
        }
        if let S3Path::Object { bucket, key } = cx.s3_path() {
            check_key(key)?;
            // s3s-fs would answer NoSuchKey for a missing bucket, and a PUT would create it.
            // The name is safe to join: s3s has checked it against S3's bucket naming rules.
            let is_bucket = tokio::fs::metadata(self.root.join(&**bucket)).await.is_ok_and(|m| m.is_dir());
            if !is_bucket {
                return Err(s3_error!(NoSuchBucket, "the specified bucket does not exist"));
            }
        }
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        check_copy_source(&req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        check_copy_source(&req.input.copy_source)
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        req.input.delete.objects.iter().try_for_each(|object| check_key(&object.key))
    }
}

/// The region of a SigV4 credential scope (`<key>/<date>/<region>/s3/aws4_request`), from the
/// authorization header or a presigned URL's `X-Amz-Credential`; `None` when the request is not
/// signed with SigV4 (s3s has verified the signature by then, so the scope is the signed one).
fn signed_region(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let scope = match header {
        Some(value) => {
            let credential = value.strip_prefix("AWS4-HMAC-SHA256")?.split_once("Credential=")?.1;
            credential.split([',', ' ']).next()?.to_owned()
        }
        None => {
            let query = uri.query()?;
            let raw = query.split('&').find_map(|pair| pair.strip_prefix("X-Amz-Credential="))?;
            percent_encoding::percent_decode_str(raw).decode_utf8().ok()?.into_owned()
        }
    };
    scope.rsplit('/').nth(2).map(str::to_owned)
}

fn check_copy_source(source: &CopySource) -> S3Result<()> {
    match source {
        CopySource::Bucket { key, .. } => check_key(key),
        _ => Err(s3_error!(NotImplemented, "only bucket/key copy sources are supported")),
    }
}

/// Keys become paths under the data directory, so they must be plain relative paths whose
/// segments fit in a file name (255 bytes on the usual file systems).
fn check_key(key: &str) -> S3Result<()> {
    if key.split('/').any(|segment| segment.len() > 255) {
        return Err(s3_error!(KeyTooLongError, "a key segment is longer than 255 bytes, which this store cannot keep as a file name"));
    }
    let bad_segment = key.split('/').any(|segment| matches!(segment, "" | "." | ".."));
    if bad_segment || key.contains('\0') {
        let why = "this store keeps keys as paths, so empty, '.' and '..' segments and nul bytes are not allowed";
        return Err(s3_error!(InvalidArgument, "object key {key:?} is refused: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_plain_relative_paths_are_refused() {
        let longest = format!("{0}/{0}/{0}/{1}", "k".repeat(255), "k".repeat(255));
        for good in ["a", "a/b/c.json", "reports/2024 q1+q2/x", "..a/b..", "a.b/.c", &longest] {
            assert!(check_key(good).is_ok(), "{good} should be accepted");
        }
        for bad in ["", "../x", "a/../../b", "a/./b", ".", "a//b", "/a", "a/", "a\0b", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_signed_region_is_read_from_the_header_or_the_presigned_url() {
        let mut headers = HeaderMap::new();
        let none: Uri = "/b/k".parse().unwrap();
        let v4 = "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-central-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        headers.insert("authorization", v4.parse().unwrap());
        assert_eq!(signed_region(&headers, &none).as_deref(), Some("eu-central-1"));
        let presigned = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Signature=00";
        let presigned: Uri = presigned.parse().unwrap();
        assert_eq!(signed_region(&HeaderMap::new(), &presigned).as_deref(), Some("us-west-2"));
        headers.insert("authorization", "AWS AK:c2lnbmF0dXJl".parse().unwrap());
        assert_eq!(signed_region(&headers, &none), None, "sigv2 has no scope");
        let v2_presigned: Uri = "/b/k?AWSAccessKeyId=AK&Expires=1&Signature=x".parse().unwrap();
        assert_eq!(signed_region(&HeaderMap::new(), &v2_presigned), None);
    }
}
