//! The S3 operations: s3s-fs's file system, passed through, with the corrections a reference
//! store needs. s3s-fs renames an upload into place before it compares the client's checksums
//! (and never checks a part's), so a corrupt upload would replace the object: uploads are
//! checked here while they stream, and a mismatch fails the stream before s3s-fs renames
//! anything. Errors raised by a request body (a chunk signature that does not match, a bad
//! checksum) get their S3 codes instead of `InternalError`, which clients would retry. Buckets
//! are listed in name order, as S3 lists them.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::HeaderMap;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{self, StreamingBlob};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError, TrailingHeaders, S3};

/// The checksum algorithms S3 clients may declare, by their `x-amz-checksum-*` suffix.
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

pub(crate) struct Backend {
    pub(crate) fs: s3s_fs::FileSystem,
    /// The s3s-fs root, where each bucket is a directory.
    pub(crate) root: std::path::PathBuf,
}

/// Implements [`S3`] for [`Backend`] by handing the listed operations to s3s-fs, plus the
/// operations written out after `;;`.
macro_rules! pass_through {
    ($($op:ident: $input:ident -> $output:ident),* ;; $($own:tt)*) => {
        #[async_trait::async_trait]
        impl S3 for Backend {
            $(async fn $op(&self, req: S3Request<dto::$input>) -> S3Result<S3Response<dto::$output>> {
                self.fs.$op(req).await.map_err(body_error)
            })*
            $($own)*
        }
    };
}

pass_through! {
    create_bucket: CreateBucketInput -> CreateBucketOutput,
    head_bucket: HeadBucketInput -> HeadBucketOutput,
    get_bucket_location: GetBucketLocationInput -> GetBucketLocationOutput,
    list_objects: ListObjectsInput -> ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input -> ListObjectsV2Output,
    get_object: GetObjectInput -> GetObjectOutput,
    head_object: HeadObjectInput -> HeadObjectOutput,
    copy_object: CopyObjectInput -> CopyObjectOutput,
    delete_object: DeleteObjectInput -> DeleteObjectOutput,
    delete_objects: DeleteObjectsInput -> DeleteObjectsOutput,
    create_multipart_upload: CreateMultipartUploadInput -> CreateMultipartUploadOutput,
    upload_part_copy: UploadPartCopyInput -> UploadPartCopyOutput,
    list_parts: ListPartsInput -> ListPartsOutput,
    complete_multipart_upload: CompleteMultipartUploadInput -> CompleteMultipartUploadOutput,
    abort_multipart_upload: AbortMultipartUploadInput -> AbortMultipartUploadOutput
    ;;
    async fn list_buckets(&self, req: S3Request<dto::ListBucketsInput>) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let mut response = self.fs.list_buckets(req).await?;
        if let Some(buckets) = &mut response.output.buckets {
            buckets.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(response)
    }

    /// s3s-fs removes a bucket with everything in it; S3 refuses unless it is empty.
    async fn delete_bucket(&self, req: S3Request<dto::DeleteBucketInput>) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        // The name is safe to join: s3s has checked it against S3's bucket naming rules.
        if let Ok(mut entries) = tokio::fs::read_dir(self.root.join(&req.input.bucket)).await {
            if entries.next_entry().await.ok().flatten().is_some() {
                return Err(s3_error!(BucketNotEmpty, "the bucket you tried to delete is not empty"));
            }
        }
        self.fs.delete_bucket(req).await
    }

    async fn put_object(&self, mut req: S3Request<dto::PutObjectInput>) -> S3Result<S3Response<dto::PutObjectOutput>> {
        req.input.body = req.input.body.take().map(|body| verified(body, &req.headers, req.trailing_headers.clone()));
        self.fs.put_object(req).await.map_err(body_error)
    }

    async fn upload_part(&self, mut req: S3Request<dto::UploadPartInput>) -> S3Result<S3Response<dto::UploadPartOutput>> {
        req.input.body = req.input.body.take().map(|body| verified(body, &req.headers, req.trailing_headers.clone()));
        self.fs.upload_part(req).await.map_err(body_error)
    }
}

/// Gives errors that came out of the request body their own S3 code. s3s-fs wraps whatever the
/// body stream yields in `InternalError`; s3s's aws-chunked decoder is private, so its
/// signature error is known by its message.
fn body_error(error: S3Error) -> S3Error {
    let Some(source) = error.source().filter(|_| *error.code() == S3ErrorCode::InternalError) else {
        return error;
    };
    if let Some(inner) = source.downcast_ref::<S3Error>() {
        return S3Error::with_message(inner.code().clone(), inner.message().unwrap_or_default().to_owned());
    }
    let text = source.to_string();
    if text.contains("AwsChunkedStreamError: SignatureMismatch") {
        s3_error!(SignatureDoesNotMatch, "a chunk signature does not match the chunk")
    } else if text.contains("UploadStreamError: Sha256Mismatch") {
        let code = S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into());
        let mut error = S3Error::with_message(code, "the body's sha-256 does not match x-amz-content-sha256");
        error.set_status_code(axum::http::StatusCode::BAD_REQUEST);
        error
    } else if text.contains("AwsChunkedStreamError") || text.contains("UploadStreamError") {
        s3_error!(IncompleteBody, "the aws-chunked body is malformed: {text}")
    } else {
        error
    }
}

/// Wraps an upload body so that it fails, instead of ending, when its bytes do not match the
/// checksums the client declared in headers (`x-amz-checksum-*`, `content-md5`) or announced
/// as trailers (`x-amz-trailer`, read from the verified trailers once the body has ended).
fn verified(body: StreamingBlob, headers: &HeaderMap, trailers: Option<TrailingHeaders>) -> StreamingBlob {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let announced = header("x-amz-trailer").unwrap_or_default().to_ascii_lowercase();
    let mut hasher = ChecksumHasher::default();
    let mut declared = Vec::new();
    for algorithm in ALGORITHMS {
        let name = format!("x-amz-checksum-{algorithm}");
        let in_header = header(&name);
        if in_header.is_none() && !announced.split(',').any(|t| t.trim() == name) {
            continue;
        }
        match algorithm {
            "crc32" => hasher.crc32 = Some(Default::default()),
            "crc32c" => hasher.crc32c = Some(Default::default()),
            "sha1" => hasher.sha1 = Some(Default::default()),
            "sha256" => hasher.sha256 = Some(Default::default()),
            _ => hasher.crc64nvme = Some(Default::default()),
        }
        declared.push((name, in_header));
    }
    let md5 = header("content-md5").map(|expected| (Md5::new(), expected));
    if declared.is_empty() && md5.is_none() {
        return body;
    }
    StreamingBlob::new(Verified { body, hasher: Some(hasher), declared, md5, trailers })
}

struct Verified {
    body: StreamingBlob,
    hasher: Option<ChecksumHasher>,
    /// `x-amz-checksum-*` names with the header's value, or `None` when sent as a trailer.
    declared: Vec<(String, Option<String>)>,
    md5: Option<(Md5, String)>,
    trailers: Option<TrailingHeaders>,
}

impl Verified {
    fn mismatch(&mut self) -> Option<S3Error> {
        let computed = self.hasher.take()?.finalize();
        for (name, in_header) in &self.declared {
            let expected = in_header.clone().or_else(|| {
                let trailers = self.trailers.as_ref()?;
                trailers.read(|h| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)).flatten()
            });
            let actual = match name.trim_start_matches("x-amz-checksum-") {
                "crc32" => &computed.checksum_crc32,
                "crc32c" => &computed.checksum_crc32c,
                "sha1" => &computed.checksum_sha1,
                "sha256" => &computed.checksum_sha256,
                _ => &computed.checksum_crc64nvme,
            };
            match expected {
                None => return Some(s3_error!(InvalidRequest, "{name} was announced as a trailer but not sent")),
                Some(expected) if Some(&expected) != actual.as_ref() => {
                    return Some(s3_error!(BadDigest, "the body's {name} does not match the one sent"));
                }
                Some(_) => {}
            }
        }
        let (md5, expected) = self.md5.take()?;
        let actual = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5.finalize());
        (actual != expected).then(|| s3_error!(BadDigest, "the body's md5 does not match content-md5"))
    }
}

impl Stream for Verified {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match ready!(this.body.poll_next_unpin(cx)) {
            Some(Ok(bytes)) => {
                if let Some(hasher) = &mut this.hasher {
                    hasher.update(&bytes);
                }
                if let Some((md5, _)) = &mut this.md5 {
                    md5.update(&bytes);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            None => Poll::Ready(this.mismatch().map(|error| Err(Box::new(error) as StdError))),
        }
    }
}

impl ByteStream for Verified {
    fn remaining_length(&self) -> RemainingLength {
        self.body.remaining_length()
    }
}
