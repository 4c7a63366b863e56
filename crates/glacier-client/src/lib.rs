//! An Amazon Glacier client. Layer1 (one method per REST operation) and Layer2 (vaults, jobs,
//! writers, concurrent transfers) are still to come; today the crate offers the seed's `utils`.

/// The seed's `boto.glacier.utils`: tree hashes and part sizing.
pub mod utils {
    pub use glacier_core::treehash::{TreeHash, TreeHasher, sha256, tree_hash_of};
    pub use glacier_core::validate::minimum_part_size;

    /// The default part size of the seed's uploaders: 4 MiB.
    pub const DEFAULT_PART_SIZE: u64 = 4 * glacier_core::MIB;
}
