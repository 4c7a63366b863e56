//! Tree hashes: one thread against all, against plain SHA-256 of the same bytes (the floor a
//! tree hash cannot beat on one core); both hashes of an upload in one pass or side by side;
//! and a range's tree hash from stored leaves.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glacier_core::treehash::{TreeHasher, leaf_hashes, range_tree_hash, sha256, tree_hash_of};
use std::hint::black_box;

fn hashing(c: &mut Criterion) {
    let data: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8).collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut g = c.benchmark_group("64 MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("sha256 (linear)", |b| b.iter(|| sha256(black_box(&data))));
    for threads in [1, cores] {
        g.bench_with_input(
            BenchmarkId::new("tree hash, threads", threads),
            &threads,
            |b, &t| b.iter(|| tree_hash_of(&leaf_hashes(black_box(&data), t))),
        );
    }
    // What an upload needs, both hashes: one pass feeding both (before) against the linear
    // hash on one thread beside the leaves on another (the client's `hash_file_range` now).
    g.bench_function("linear + tree, one pass", |b| {
        b.iter(|| {
            let mut h = TreeHasher::new();
            h.update(black_box(&data));
            h.finish()
        })
    });
    g.bench_function("linear beside tree, two threads", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let linear = s.spawn(|| sha256(black_box(&data)));
                let tree = tree_hash_of(&leaf_hashes(black_box(&data), 1));
                (linear.join().ok(), tree)
            })
        })
    });
    g.finish();
}

fn ranges(c: &mut Criterion) {
    // A 64 GiB archive's leaves; the range is 1 GiB in the middle, tree-hash aligned.
    let leaves: Vec<[u8; 32]> = (0..65_536u32).map(|i| sha256(&i.to_le_bytes())).collect();
    let total = 64u64 << 30;
    c.bench_function("range tree hash of 1 GiB from 64 GiB of leaves", |b| {
        b.iter(|| range_tree_hash(black_box(&leaves), 32 << 30, (33 << 30) - 1, total))
    });
}

criterion_group!(benches, hashing, ranges);
criterion_main!(benches);
