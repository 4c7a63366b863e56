//! Header names of the Glacier REST API (lowercase, as HTTP/2 and the `http` crate spell them).

pub const ARCHIVE_DESCRIPTION: &str = "x-amz-archive-description";
pub const ARCHIVE_ID: &str = "x-amz-archive-id";
pub const ARCHIVE_SIZE: &str = "x-amz-archive-size";
pub const CONTENT_SHA256: &str = "x-amz-content-sha256";
pub const GLACIER_VERSION: &str = "x-amz-glacier-version";
pub const JOB_ID: &str = "x-amz-job-id";
pub const JOB_OUTPUT_PATH: &str = "x-amz-job-output-path";
pub const LOCK_ID: &str = "x-amz-lock-id";
pub const CAPACITY_ID: &str = "x-amz-capacity-id";
pub const MULTIPART_UPLOAD_ID: &str = "x-amz-multipart-upload-id";
pub const PART_SIZE: &str = "x-amz-part-size";
pub const REQUEST_ID: &str = "x-amzn-requestid";
pub const TREE_HASH: &str = "x-amz-sha256-tree-hash";

/// The only API version there is.
pub const API_VERSION: &str = "2012-06-01";

/// `x-amz-content-sha256` value of clients that do not sign the payload.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Sent by glacier-server on every response (AWS does not send it): an upload (UploadArchive,
/// UploadMultipartPart) may say `x-amz-content-sha256: UNSIGNED-PAYLOAD` when it signs
/// `x-amz-sha256-tree-hash`. The signed tree hash, which the server checks the body against,
/// authenticates the body as strongly as its linear SHA-256 would, and neither side has to
/// compute the linear hash: one SHA-256 pass over the data on each side instead of two.
pub const ACCEPTS_TREE_SIGNED: &str = "x-glacier-accepts-tree-signed-payload";
