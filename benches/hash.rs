//! Hash throughput (MB/s) and PCR extends per second.
//!
//! `cargo xtask bench` runs this next to `openssl speed` and prints the ratio.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rvkit_pcr::{HashAlg, PcrBank, PcrIndex};

/// 1 MiB: large enough that per-call overhead vanishes, the same block size
/// `cargo xtask bench` asks `openssl speed` for.
const LEN: usize = 1 << 20;

fn throughput(c: &mut Criterion) {
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(LEN as u64));
    for alg in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        g.bench_with_input(BenchmarkId::new(alg.name(), LEN), &data, |b, data| b.iter(|| alg.hash(data)));
    }
    g.finish();
}

fn extend(c: &mut Criterion) {
    let mut g = c.benchmark_group("extend");
    g.throughput(Throughput::Elements(1));
    for alg in [HashAlg::Sha256, HashAlg::Sha384] {
        let d = alg.hash(b"event");
        let pcr = PcrIndex::new(8).expect("8 is a PCR");
        let mut bank = PcrBank::new(alg);
        g.bench_function(alg.name(), |b| b.iter(|| bank.extend(pcr, &d).expect("same bank")));
    }
    g.finish();
}

criterion_group!(benches, throughput, extend);
criterion_main!(benches);
