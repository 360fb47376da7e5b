//! Reading a request body the way S3 does: undo the aws-chunked framing when the client streamed
//! it, and check everything the client declared about the bytes (`x-amz-content-sha256`,
//! `Content-Md5`, the flexible checksums in a header or a trailer, the decoded length) while the
//! bytes pass through, without ever holding the whole body in memory.

use std::collections::VecDeque;

use axum::body::{Body, BodyDataStream};
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::chunked::ChunkedDecoder;
use super::error::ObjectStoreError;
use super::sigv4::{Authenticated, PayloadHash};

/// The flexible checksum algorithms the store can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChecksumAlgorithm {
    Crc32,
    Sha256,
}

impl ChecksumAlgorithm {
    /// Maps an `x-amz-checksum-*` header name to an algorithm; algorithms the store cannot
    /// compute are refused rather than silently accepted unchecked.
    fn from_header(name: &str) -> Result<Option<Self>, ObjectStoreError> {
        match name {
            "x-amz-checksum-crc32" => Ok(Some(Self::Crc32)),
            "x-amz-checksum-sha256" => Ok(Some(Self::Sha256)),
            "x-amz-checksum-crc32c" | "x-amz-checksum-crc64nvme" | "x-amz-checksum-sha1" => {
                Err(ObjectStoreError::NotImplemented(format!(
                    "{name} is not supported by this store; use CRC32 or SHA256"
                )))
            }
            // Not a checksum header (for example x-amz-checksum-mode or x-amz-checksum-type).
            _ => Ok(None),
        }
    }

    pub(crate) fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Sha256 => "SHA256",
        }
    }
}

/// Where the client's checksum value comes from.
#[derive(Debug)]
enum ChecksumSource {
    Header(String),
    Trailer,
}

/// What a fully read and verified body turned out to be.
#[derive(Debug)]
pub(crate) struct IngestSummary {
    pub size: u64,
    pub md5_hex: String,
    pub crc32: u32,
    /// The checksum the client asked to be verified, as the header to echo back.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

/// A request body being read and verified: [`Ingest::new`] checks the headers (before any byte
/// is read), [`Ingest::with_body`] attaches the body, then call [`Ingest::next`] until `None`
/// and [`Ingest::finish`].
pub(crate) struct Ingest {
    stream: BodyDataStream,
    decoder: Option<ChunkedDecoder>,
    pending: VecDeque<Bytes>,
    input_done: bool,
    trailers: Vec<(String, String)>,
    payload: PayloadHash,
    payload_hash: Option<Sha256>,
    md5: Md5,
    crc32: crc32fast::Hasher,
    checksum: Option<(ChecksumAlgorithm, ChecksumSource, Option<Sha256>)>,
    content_md5: Option<Vec<u8>>,
    declared_decoded_len: Option<u64>,
    received: u64,
    limit: u64,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Ingest {
    /// Checks what the headers declare about the body; `limit` is the largest body accepted
    /// (EntityTooLarge beyond).
    pub(crate) fn new(
        headers: &HeaderMap,
        auth: Authenticated,
        limit: u64,
    ) -> Result<Self, ObjectStoreError> {
        let mut declared_decoded_len = None;
        let decoder = if auth.payload.is_streaming() {
            let declared: u64 = header_str(headers, "x-amz-decoded-content-length")
                .ok_or(ObjectStoreError::MissingContentLength)?
                .parse()
                .map_err(|_| {
                    ObjectStoreError::InvalidArgument(
                        "x-amz-decoded-content-length is not a number".to_owned(),
                    )
                })?;
            if declared > limit {
                return Err(ObjectStoreError::EntityTooLarge);
            }
            declared_decoded_len = Some(declared);
            Some(ChunkedDecoder::new(auth.chunk_signer, declared))
        } else {
            let length = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
            if length.is_some_and(|l| l > limit) {
                return Err(ObjectStoreError::EntityTooLarge);
            }
            None
        };

        let mut checksum = None;
        for (name, value) in headers {
            if let Some(algorithm) = ChecksumAlgorithm::from_header(name.as_str())? {
                let value = value.to_str().map_err(|_| {
                    ObjectStoreError::InvalidRequest(format!("{name} is not ascii"))
                })?;
                checksum = Some((algorithm, ChecksumSource::Header(value.to_owned())));
            }
        }
        if let Some(declared) = header_str(headers, "x-amz-trailer") {
            if decoder.is_none() {
                return Err(ObjectStoreError::InvalidRequest(
                    "x-amz-trailer needs an aws-chunked streaming payload".to_owned(),
                ));
            }
            for name in declared.split(',').map(|n| n.trim().to_ascii_lowercase()) {
                match ChecksumAlgorithm::from_header(&name)? {
                    Some(algorithm) => checksum = Some((algorithm, ChecksumSource::Trailer)),
                    None => {
                        return Err(ObjectStoreError::InvalidRequest(format!(
                            "unsupported trailing header {name}"
                        )))
                    }
                }
            }
        }
        let checksum = checksum.map(|(algorithm, source)| {
            let hasher = (algorithm == ChecksumAlgorithm::Sha256).then(Sha256::new);
            (algorithm, source, hasher)
        });

        let content_md5 = match header_str(headers, "content-md5") {
            None => None,
            Some(value) => Some(
                BASE64
                    .decode(value.trim())
                    .ok()
                    .filter(|d| d.len() == 16)
                    .ok_or_else(|| {
                        ObjectStoreError::InvalidDigest(
                            "the Content-MD5 you specified is not valid".to_owned(),
                        )
                    })?,
            ),
        };

        Ok(Self {
            stream: Body::empty().into_data_stream(),
            decoder,
            pending: VecDeque::new(),
            input_done: false,
            trailers: Vec::new(),
            payload_hash: matches!(auth.payload, PayloadHash::Literal(_)).then(Sha256::new),
            payload: auth.payload,
            md5: Md5::new(),
            crc32: crc32fast::Hasher::new(),
            checksum,
            content_md5,
            declared_decoded_len,
            received: 0,
            limit,
        })
    }

    /// Attaches the body to read.
    pub(crate) fn with_body(mut self, body: Body) -> Self {
        self.stream = body.into_data_stream();
        self
    }

    /// The next piece of the (decoded) payload, or `None` at its end.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, ObjectStoreError> {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                self.account(&piece)?;
                return Ok(Some(piece));
            }
            if self.input_done {
                return Ok(None);
            }
            match self.stream.next().await {
                Some(Ok(frame)) => match &mut self.decoder {
                    Some(decoder) => {
                        let mut out = Vec::new();
                        decoder.feed(frame, &mut out)?;
                        self.pending.extend(out);
                    }
                    None => self.pending.push_back(frame),
                },
                Some(Err(e)) => {
                    return Err(ObjectStoreError::IncompleteBody(format!(
                        "reading the body failed: {e}"
                    )))
                }
                None => {
                    self.input_done = true;
                    if let Some(decoder) = &mut self.decoder {
                        self.trailers = decoder.finish()?;
                    }
                }
            }
        }
    }

    fn account(&mut self, piece: &Bytes) -> Result<(), ObjectStoreError> {
        self.received += piece.len() as u64;
        if self.received > self.limit {
            return Err(ObjectStoreError::EntityTooLarge);
        }
        if let Some(hash) = &mut self.payload_hash {
            hash.update(piece);
        }
        if let Some((_, _, Some(hash))) = &mut self.checksum {
            hash.update(piece);
        }
        self.md5.update(piece);
        self.crc32.update(piece);
        Ok(())
    }

    /// Reads the rest of the body into memory; for the small bodies of bucket requests only.
    pub(crate) async fn read_to_end(mut self) -> Result<(Bytes, IngestSummary), ObjectStoreError> {
        let mut all = Vec::new();
        while let Some(piece) = self.next().await? {
            all.extend_from_slice(&piece);
        }
        Ok((Bytes::from(all), self.finish()?))
    }

    /// Checks every declared digest and length once the body has been read to its end.
    pub(crate) fn finish(self) -> Result<IngestSummary, ObjectStoreError> {
        if !self.input_done || !self.pending.is_empty() {
            return Err(ObjectStoreError::IncompleteBody(
                "the body was not read to its end".to_owned(),
            ));
        }
        if let Some(declared) = self.declared_decoded_len {
            let decoded = self.decoder.as_ref().map_or(0, ChunkedDecoder::decoded_len);
            if decoded != declared {
                return Err(ObjectStoreError::IncompleteBody(format!(
                    "received {decoded} bytes, x-amz-decoded-content-length declares {declared}"
                )));
            }
        }
        if let (PayloadHash::Literal(expected), Some(hash)) = (&self.payload, self.payload_hash) {
            if hex::encode(hash.finalize()) != *expected {
                return Err(ObjectStoreError::ContentSha256Mismatch);
            }
        }
        let md5 = self.md5.finalize();
        if let Some(expected) = &self.content_md5 {
            if md5.as_slice() != expected.as_slice() {
                return Err(ObjectStoreError::BadDigest(
                    "the Content-MD5 you specified did not match what we received".to_owned(),
                ));
            }
        }
        let crc32 = self.crc32.finalize();
        let checksum = match self.checksum {
            None => None,
            Some((algorithm, source, sha)) => {
                let provided = match source {
                    ChecksumSource::Header(value) => value,
                    ChecksumSource::Trailer => self
                        .trailers
                        .iter()
                        .find(|(name, _)| name == algorithm.header_name())
                        .map(|(_, value)| value.clone())
                        .ok_or_else(|| {
                            ObjectStoreError::InvalidRequest(format!(
                                "the declared trailer {} is missing",
                                algorithm.header_name()
                            ))
                        })?,
                };
                let computed = match (algorithm, sha) {
                    (ChecksumAlgorithm::Sha256, Some(hash)) => BASE64.encode(hash.finalize()),
                    _ => BASE64.encode(crc32.to_be_bytes()),
                };
                if provided != computed {
                    return Err(ObjectStoreError::BadDigest(format!(
                        "the {} you specified did not match the calculated checksum",
                        algorithm.label()
                    )));
                }
                Some((algorithm, computed))
            }
        };
        Ok(IngestSummary {
            size: self.received,
            md5_hex: hex::encode(md5),
            crc32,
            checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(payload: PayloadHash) -> Authenticated {
        Authenticated {
            payload,
            chunk_signer: None,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    async fn ingest(
        body: &'static [u8],
        pairs: &[(&'static str, &str)],
        payload: PayloadHash,
    ) -> Result<(Bytes, IngestSummary), ObjectStoreError> {
        Ingest::new(&headers(pairs), auth(payload), 1024)?
            .with_body(Body::from(body))
            .read_to_end()
            .await
    }

    // "hello world": CRC32 0x0d4a1185 (DUoRhQ==), MD5 5eb63bbbe01eeed093cb22bb8f5acdc3.
    const HELLO_SHA256: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    #[tokio::test]
    async fn literal_hash_and_header_checksum_are_verified() {
        let (data, summary) = ingest(
            b"hello world",
            &[
                ("x-amz-checksum-crc32", "DUoRhQ=="),
                ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="),
            ],
            PayloadHash::Literal(HELLO_SHA256.to_owned()),
        )
        .await
        .expect("valid body");
        assert_eq!(data, "hello world");
        assert_eq!(summary.md5_hex, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(summary.crc32, 0x0d4a_1185);
        assert_eq!(
            summary.checksum,
            Some((ChecksumAlgorithm::Crc32, "DUoRhQ==".to_owned()))
        );

        let err = ingest(
            b"hello world",
            &[],
            PayloadHash::Literal(crate::reference::objectstore::sigv4::EMPTY_SHA256.to_owned()),
        )
        .await
        .expect_err("wrong payload hash");
        assert_eq!(err.s3_code(), "XAmzContentSHA256Mismatch");
        let err = ingest(
            b"hello world",
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            PayloadHash::Unsigned,
        )
        .await
        .expect_err("wrong crc");
        assert_eq!(err.s3_code(), "BadDigest");
        let err = ingest(
            b"hello world",
            &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
            PayloadHash::Unsigned,
        )
        .await
        .expect_err("wrong md5");
        assert_eq!(err.s3_code(), "BadDigest");
        let err = ingest(
            b"x",
            &[("x-amz-checksum-crc32c", "AAAAAA==")],
            PayloadHash::Unsigned,
        )
        .await
        .expect_err("unsupported algorithm");
        assert_eq!(err.s3_code(), "NotImplemented");
    }

    #[tokio::test]
    async fn streaming_trailer_checksum_is_verified() {
        let body: &'static [u8] =
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let pairs = [
            ("x-amz-decoded-content-length", "11"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        let (data, summary) = ingest(body, &pairs, PayloadHash::StreamingUnsignedTrailer)
            .await
            .expect("valid");
        assert_eq!(data, "hello world");
        assert_eq!(summary.size, 11);

        let bad: &'static [u8] =
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhA==\r\n\r\n";
        let err = ingest(bad, &pairs, PayloadHash::StreamingUnsignedTrailer)
            .await
            .expect_err("bad crc");
        assert_eq!(err.s3_code(), "BadDigest");
        let missing: &'static [u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let err = ingest(missing, &pairs, PayloadHash::StreamingUnsignedTrailer)
            .await
            .expect_err("no trailer");
        assert_eq!(err.s3_code(), "InvalidRequest");
        let short = [
            ("x-amz-decoded-content-length", "12"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        let err = ingest(body, &short, PayloadHash::StreamingUnsignedTrailer)
            .await
            .expect_err("length");
        assert_eq!(err.s3_code(), "IncompleteBody");
        let err = ingest(body, &[], PayloadHash::StreamingUnsignedTrailer)
            .await
            .expect_err("no length");
        assert_eq!(err.s3_code(), "MissingContentLength");
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let err = Ingest::new(&HeaderMap::new(), auth(PayloadHash::Unsigned), 1024)
            .unwrap()
            .with_body(Body::from(vec![0u8; 2048]))
            .read_to_end()
            .await
            .expect_err("too large");
        assert_eq!(err.s3_code(), "EntityTooLarge");
    }
}
