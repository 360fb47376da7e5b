//! The XML bodies the store answers with (error documents, bucket and object listings), written
//! by hand in the shapes and element order S3 uses. Pure string building; no I/O.

use chrono::{DateTime, Utc};

use super::names::BucketName;
use super::store::ObjectMeta;

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// Canonical id of the store's single owner, as S3 reports it in listings.
pub(crate) const OWNER_ID: &str =
    "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
const OWNER_NAME: &str = "dsp-harness";

/// Escapes text for element content. Control characters other than tab, newline and carriage
/// return cannot appear literally in XML 1.0, so they become character references, as S3 does.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `2009-10-12T17:50:30.000Z`, the timestamp form of S3 XML documents.
pub(crate) fn iso8601(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A tiny writer that keeps element nesting readable at the call sites.
struct Doc(String);

impl Doc {
    fn new(root: &str) -> Self {
        Self(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{S3_NAMESPACE}\">"
        ))
    }

    fn bare(root: &str) -> Self {
        Self(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>"
        ))
    }

    fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    fn text(&mut self, tag: &str, value: &str) -> &mut Self {
        self.open(tag);
        self.0.push_str(&escape(value));
        self.close(tag)
    }

    fn owner(&mut self) -> &mut Self {
        self.open("Owner")
            .text("ID", OWNER_ID)
            .text("DisplayName", OWNER_NAME)
            .close("Owner")
    }

    fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.0
    }
}

/// The `<Error>` document.
pub(crate) fn error(
    code: &str,
    message: &str,
    details: &[(&str, String)],
    resource: &str,
    request_id: &str,
) -> String {
    let mut doc = Doc::bare("Error");
    doc.text("Code", code).text("Message", message);
    for (tag, value) in details {
        doc.text(tag, value);
    }
    doc.text("Resource", resource).text("RequestId", request_id);
    doc.finish("Error")
}

/// ListBuckets (`GET /`).
pub(crate) fn list_buckets(
    buckets: &[(BucketName, DateTime<Utc>)],
    region: &str,
    prefix: Option<&str>,
    continuation_token: Option<&str>,
) -> String {
    let mut doc = Doc::new("ListAllMyBucketsResult");
    doc.open("Buckets");
    for (name, created) in buckets {
        doc.open("Bucket")
            .text("Name", name.as_str())
            .text("CreationDate", &iso8601(*created))
            .text("BucketRegion", region)
            .close("Bucket");
    }
    doc.close("Buckets").owner();
    if let Some(token) = continuation_token {
        doc.text("ContinuationToken", token);
    }
    if let Some(prefix) = prefix {
        doc.text("Prefix", prefix);
    }
    doc.finish("ListAllMyBucketsResult")
}

/// GetBucketLocation (`GET /bucket?location`).
pub(crate) fn location(region: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_NAMESPACE}\">{}</LocationConstraint>",
        // S3 reports the classic region as an empty constraint.
        if region == "us-east-1" { String::new() } else { escape(region) }
    )
}

/// One entry of an object listing: an object or a rolled-up common prefix.
#[derive(Debug, Clone)]
pub(crate) enum ListEntry {
    Object(std::sync::Arc<ObjectMeta>),
    Prefix(String),
}

/// Everything ListObjects (V1 and V2) reports.
pub(crate) struct Listing<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: usize,
    pub entries: &'a [ListEntry],
    pub truncated: bool,
    /// `encoding-type=url`: keys and prefixes are URL-encoded in the response.
    pub url_encode: bool,
    pub fetch_owner: bool,
}

impl Listing<'_> {
    fn encode(&self, value: &str) -> String {
        if self.url_encode {
            super::sigv4::uri_encode(value.as_bytes(), true)
        } else {
            value.to_owned()
        }
    }

    fn entries(&self, doc: &mut Doc) {
        for entry in self.entries {
            if let ListEntry::Object(meta) = entry {
                doc.open("Contents")
                    .text("Key", &self.encode(&meta.key))
                    .text("LastModified", &iso8601(meta.last_modified))
                    .text("ETag", &meta.etag())
                    .text("Size", &meta.size.to_string())
                    .text("StorageClass", "STANDARD");
                if self.fetch_owner {
                    doc.owner();
                }
                doc.close("Contents");
            }
        }
        for entry in self.entries {
            if let ListEntry::Prefix(prefix) = entry {
                doc.open("CommonPrefixes")
                    .text("Prefix", &self.encode(prefix))
                    .close("CommonPrefixes");
            }
        }
    }

    /// ListObjectsV2 (`GET /bucket?list-type=2`).
    pub(crate) fn v2(
        &self,
        continuation_token: Option<&str>,
        next_continuation_token: Option<&str>,
        start_after: Option<&str>,
    ) -> String {
        let mut doc = Doc::new("ListBucketResult");
        doc.text("Name", self.bucket)
            .text("Prefix", &self.encode(self.prefix))
            .text("KeyCount", &self.entries.len().to_string())
            .text("MaxKeys", &self.max_keys.to_string());
        if let Some(delimiter) = self.delimiter {
            doc.text("Delimiter", &self.encode(delimiter));
        }
        doc.text("IsTruncated", if self.truncated { "true" } else { "false" });
        if let Some(token) = continuation_token {
            doc.text("ContinuationToken", token);
        }
        if let Some(token) = next_continuation_token {
            doc.text("NextContinuationToken", token);
        }
        if let Some(start_after) = start_after {
            doc.text("StartAfter", &self.encode(start_after));
        }
        if self.url_encode {
            doc.text("EncodingType", "url");
        }
        self.entries(&mut doc);
        doc.finish("ListBucketResult")
    }

    /// ListObjects, the original version (`GET /bucket`).
    pub(crate) fn v1(&self, marker: &str, next_marker: Option<&str>) -> String {
        let mut doc = Doc::new("ListBucketResult");
        doc.text("Name", self.bucket)
            .text("Prefix", &self.encode(self.prefix))
            .text("Marker", &self.encode(marker));
        if let Some(next) = next_marker {
            doc.text("NextMarker", &self.encode(next));
        }
        doc.text("MaxKeys", &self.max_keys.to_string());
        if let Some(delimiter) = self.delimiter {
            doc.text("Delimiter", &self.encode(delimiter));
        }
        doc.text("IsTruncated", if self.truncated { "true" } else { "false" });
        if self.url_encode {
            doc.text("EncodingType", "url");
        }
        self.entries(&mut doc);
        doc.finish("ListBucketResult")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#x1;\n"
        );
    }

    #[test]
    fn error_document_has_s3_shape() {
        let xml = error(
            "NoSuchKey",
            "The specified key does not exist.",
            &[("Key", "a&b".to_owned())],
            "/bucket/a&b",
            "REQ1",
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key><Resource>/bucket/a&amp;b</Resource><RequestId>REQ1</RequestId></Error>"
        );
    }
}
