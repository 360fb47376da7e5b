//! Decoder for the `aws-chunked` content encoding that S3 clients use for streaming uploads:
//! `hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n trailer\r\n`.
//! It is incremental (fed whatever frames the connection delivers, it hands back slices of the
//! decoded payload without copying), verifies the chunk signature chain when the upload is
//! signed, and returns the trailing headers (checksums) for the caller to check. Malformed input
//! of any shape is an error, never a panic.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::error::ObjectStoreError;
use super::sigv4::{ChunkSigner, EMPTY_SHA256};

/// Longest chunk-header or trailer line accepted; real ones are under 200 bytes.
const MAX_LINE_BYTES: usize = 4096;
/// Upper bound on the whole trailer section.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Header,
    /// Inside a chunk's data.
    Data,
    /// Expecting the CRLF that ends a chunk's data.
    DataEnd,
    /// After the final zero-size chunk: trailer lines until an empty line.
    Trailer,
    Done,
}

/// Incremental aws-chunked decoder; see the module documentation.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    signer: Option<ChunkSigner>,
    line: Vec<u8>,
    remaining: u64,
    chunk_hash: Option<Sha256>,
    chunk_signature: String,
    decoded: u64,
    limit: u64,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    trailer_bytes: usize,
}

fn malformed(message: &str) -> ObjectStoreError {
    ObjectStoreError::InvalidRequest(format!("malformed aws-chunked body: {message}"))
}

impl ChunkedDecoder {
    /// `signer` is present for signed streaming uploads; `limit` is the declared decoded length
    /// (`x-amz-decoded-content-length`), beyond which no data is accepted.
    pub(crate) fn new(signer: Option<ChunkSigner>, limit: u64) -> Self {
        Self {
            state: State::Header,
            signer,
            line: Vec::new(),
            remaining: 0,
            chunk_hash: None,
            chunk_signature: String::new(),
            decoded: 0,
            limit,
            trailers: Vec::new(),
            trailer_signature: None,
            trailer_bytes: 0,
        }
    }

    /// Decoded payload bytes seen so far.
    pub(crate) fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Feeds the next piece of the encoded body; decoded payload slices are appended to `out`.
    pub(crate) fn feed(
        &mut self,
        mut input: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ObjectStoreError> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    if let Some(line) = self.take_line(&mut input)? {
                        self.start_chunk(&line)?;
                    }
                }
                State::Data => {
                    let n = self.remaining.min(input.len() as u64) as usize;
                    let piece = input.split_to(n);
                    if let Some(hash) = &mut self.chunk_hash {
                        hash.update(&piece);
                    }
                    self.remaining -= n as u64;
                    out.push(piece);
                    if self.remaining == 0 {
                        self.end_chunk_data()?;
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    if let Some(line) = self.take_line(&mut input)? {
                        if !line.is_empty() {
                            return Err(malformed("chunk data longer than its declared size"));
                        }
                        self.state = State::Header;
                    }
                }
                State::Trailer => {
                    if let Some(line) = self.take_line(&mut input)? {
                        if line.is_empty() {
                            self.end_trailer()?;
                            self.state = State::Done;
                        } else {
                            self.trailer_line(&line)?;
                        }
                    }
                }
                State::Done => return Err(malformed("data after the final chunk")),
            }
        }
        Ok(())
    }

    /// Called at the end of the body; returns the trailing headers (lower-case names).
    pub(crate) fn finish(&mut self) -> Result<Vec<(String, String)>, ObjectStoreError> {
        match self.state {
            State::Done => Ok(std::mem::take(&mut self.trailers)),
            // Some clients end the body right after the final chunk header, without the empty
            // trailer line; nothing is lost, and a required trailer is still checked by the caller.
            State::Trailer if self.line.is_empty() && self.trailers.is_empty() => {
                self.end_trailer()?;
                self.state = State::Done;
                Ok(Vec::new())
            }
            _ => Err(ObjectStoreError::IncompleteBody(
                "the aws-chunked body ended before its final chunk".to_owned(),
            )),
        }
    }

    /// Takes one CRLF-terminated line out of `input` if it is complete (buffering a partial one).
    fn take_line(&mut self, input: &mut Bytes) -> Result<Option<Vec<u8>>, ObjectStoreError> {
        let newline = input.iter().position(|&b| b == b'\n');
        let take = newline.map_or(input.len(), |i| i + 1);
        if self.line.len() + take > MAX_LINE_BYTES {
            return Err(malformed("line too long"));
        }
        self.line.extend_from_slice(&input.split_to(take));
        if newline.is_none() {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.line);
        line.pop();
        if line.pop() != Some(b'\r') {
            return Err(malformed("line not terminated by crlf"));
        }
        Ok(Some(line))
    }

    fn start_chunk(&mut self, line: &[u8]) -> Result<(), ObjectStoreError> {
        let line = std::str::from_utf8(line).map_err(|_| malformed("chunk header is not ascii"))?;
        let mut parts = line.split(';');
        let size_text = parts.next().unwrap_or_default();
        if size_text.is_empty()
            || size_text.len() > 16
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(malformed("chunk size is not hexadecimal"));
        }
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| malformed("chunk size is not hexadecimal"))?;
        let signature = parts.find_map(|ext| ext.strip_prefix("chunk-signature="));
        if self.signer.is_some() {
            self.chunk_signature = signature
                .ok_or_else(|| malformed("signed upload chunk without chunk-signature"))?
                .to_owned();
        }
        if size == 0 {
            if let Some(signer) = &mut self.signer {
                signer.verify_chunk(EMPTY_SHA256, &self.chunk_signature)?;
            }
            self.state = State::Trailer;
            return Ok(());
        }
        if size > self.limit.saturating_sub(self.decoded) {
            return Err(ObjectStoreError::IncompleteBody(
                "chunks carry more data than x-amz-decoded-content-length declares".to_owned(),
            ));
        }
        self.decoded += size;
        self.remaining = size;
        self.chunk_hash = self.signer.as_ref().map(|_| Sha256::new());
        self.state = State::Data;
        Ok(())
    }

    fn end_chunk_data(&mut self) -> Result<(), ObjectStoreError> {
        if let (Some(signer), Some(hash)) = (&mut self.signer, self.chunk_hash.take()) {
            signer.verify_chunk(&hex::encode(hash.finalize()), &self.chunk_signature)?;
        }
        Ok(())
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), ObjectStoreError> {
        self.trailer_bytes += line.len() + 2;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(malformed("trailer too long"));
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("trailer is not utf-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("trailer line without a colon"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name.is_empty() {
            return Err(malformed("trailer line without a name"));
        }
        if name == TRAILER_SIGNATURE {
            self.trailer_signature = Some(value);
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    fn end_trailer(&mut self) -> Result<(), ObjectStoreError> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        match (&self.trailer_signature, self.trailers.is_empty()) {
            (None, true) => Ok(()),
            (None, false) => Err(malformed(
                "signed upload trailer without x-amz-trailer-signature",
            )),
            (Some(_), true) => Err(malformed("trailer signature without trailing headers")),
            (Some(signature), false) => {
                let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
                sorted.sort();
                let canonical: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
                signer.verify_trailer(&canonical, signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::objectstore::sigv4::signing_key;

    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    type Decoded = (Vec<u8>, Vec<(String, String)>);

    /// Decodes `body` delivered in pieces of `piece` bytes.
    fn decode(
        body: &[u8],
        piece: usize,
        signer: Option<ChunkSigner>,
        limit: u64,
    ) -> Result<Decoded, ObjectStoreError> {
        let mut decoder = ChunkedDecoder::new(signer, limit);
        let mut out = Vec::new();
        for part in body.chunks(piece.max(1)) {
            decoder.feed(Bytes::copy_from_slice(part), &mut out)?;
        }
        let trailers = decoder.finish()?;
        Ok((out.concat(), trailers))
    }

    fn documented_signer() -> ChunkSigner {
        ChunkSigner::new(
            signing_key(SECRET_KEY, "20130524", "us-east-1", "s3"),
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        )
    }

    /// The body of the S3 documentation's STREAMING-AWS4-HMAC-SHA256-PAYLOAD example.
    fn documented_signed_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        body
    }

    #[test]
    fn documented_signed_upload_decodes_in_any_framing() {
        let body = documented_signed_body();
        assert_eq!(body.len(), 66824, "the documented Content-Length");
        for piece in [1, 7, 4096, body.len()] {
            let (data, trailers) =
                decode(&body, piece, Some(documented_signer()), 66560).expect("decodes");
            assert_eq!(data, vec![b'a'; 66560]);
            assert!(trailers.is_empty());
        }
    }

    #[test]
    fn tampered_signed_chunk_is_refused() {
        let mut body = documented_signed_body();
        body[200] = b'b';
        let err = decode(&body, 1000, Some(documented_signer()), 66560).expect_err("tampered data");
        assert_eq!(err.s3_code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn unsigned_trailer_upload_decodes() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for piece in [1, 3, body.len()] {
            let (data, trailers) = decode(body, piece, None, 11).expect("decodes");
            assert_eq!(data, b"hello world");
            assert_eq!(
                trailers,
                vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
        }
    }

    #[test]
    fn signed_trailer_matches_the_aws_signer() {
        use aws_sdk_s3::config::Credentials;
        use aws_sigv4::sign::v4::{sign_chunk, sign_trailer, SigningParams};
        use std::time::{Duration, UNIX_EPOCH};

        let identity =
            Credentials::new("AKIAIOSFODNN7EXAMPLE", SECRET_KEY, None, None, "test").into();
        // 2013-05-24T00:00:00Z
        let time = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(time)
            .settings(())
            .build()
            .unwrap();
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let data = Bytes::from_static(b"trailing checksum payload");
        let first = sign_chunk(&data, seed, &params).unwrap().into_parts().1;
        let last = sign_chunk(&Bytes::new(), &first, &params)
            .unwrap()
            .into_parts()
            .1;
        // The SDK does not re-export its `Headers` type; an empty request carries one.
        let mut carrier = aws_sdk_s3::config::http::HttpRequest::empty();
        carrier
            .headers_mut()
            .insert("x-amz-checksum-crc32", "AAAAAA==");
        let trailer_sig = sign_trailer(carrier.headers(), &last, &params)
            .unwrap()
            .into_parts()
            .1;

        let body = format!(
            "{:X};chunk-signature={first}\r\n{}\r\n0;chunk-signature={last}\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n",
            data.len(),
            std::str::from_utf8(&data).unwrap()
        );
        let (decoded, trailers) =
            decode(body.as_bytes(), 5, Some(documented_signer()), 100).expect("decodes");
        assert_eq!(decoded, data);
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())]
        );

        let forged = body.replace("AAAAAA==", "AAAAAB==");
        let err = decode(forged.as_bytes(), 64, Some(documented_signer()), 100)
            .expect_err("forged trailer");
        assert_eq!(err.s3_code(), "SignatureDoesNotMatch");
        let unsigned_trailer =
            body.replace(&format!("x-amz-trailer-signature:{trailer_sig}\r\n"), "");
        assert!(decode(
            unsigned_trailer.as_bytes(),
            64,
            Some(documented_signer()),
            100
        )
        .is_err());
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let cases: &[(&[u8], u64)] = &[
            (b"zz\r\nhello\r\n0\r\n\r\n", 5),
            (b"5\nhello\r\n0\r\n\r\n", 5),
            (b"5\r\nhelloX\r\n0\r\n\r\n", 5),
            (b"5\r\nhello\r\n0\r\n\r\nextra", 5),
            (b"5\r\nhel", 5),
            (b"10\r\nhello\r\n0\r\n\r\n", 5),
            (b"ffffffffffffffffff\r\n", 5),
            (b"0\r\nno-colon\r\n\r\n", 0),
            (b"", 0),
        ];
        for (body, limit) in cases {
            assert!(
                decode(body, 3, None, *limit).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let long_line = vec![b'1'; MAX_LINE_BYTES + 10];
        assert!(decode(&long_line, 100, None, u64::MAX).is_err());
        // Unsigned chunks on a signed upload are refused.
        assert!(decode(b"5\r\nhello\r\n0\r\n\r\n", 4, Some(documented_signer()), 5).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutate a valid body at many positions.
        let valid =
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".to_vec();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut body = valid.clone();
            let pos = (seed >> 33) as usize % body.len();
            body[pos] = (seed >> 17) as u8;
            let _ = decode(&body, (seed % 9) as usize + 1, None, 11);
            let _ = decode(
                &body,
                (seed % 5) as usize + 1,
                Some(documented_signer()),
                11,
            );
        }
    }
}
