//! Annotation encode/decode of 4 KiB and 64 KiB documents, and a batch of
//! 10,000 documents to digests and PCR8 values on all cores.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rvkit_initdata::InitData;
use rvkit_initdata::annotation::{DecodeOptions, decode, encode};

/// A valid initdata document of about `size` bytes: the walkthrough's shape
/// with a policy padded by comment lines, varied by `seed`.
fn document(size: usize, seed: usize) -> Vec<u8> {
    let mut policy = String::from("package agent_policy\n\ndefault ExecProcessRequest := false\n");
    let mut i = 0;
    while policy.len() + 400 < size {
        policy.push_str(&format!("# rule {seed}-{i}: default ReadStreamRequest := true\n"));
        i += 1;
    }
    format!(
        "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs]\n\
         [token_configs.kbs]\nurl = \"https://kbs-{seed}.example.com\"\n'''\n\"cdh.toml\" = '''\n\
         [kbc]\nname = \"cc_kbc\"\nurl = \"https://kbs-{seed}.example.com\"\n'''\n\"policy.rego\" = '''\n{policy}'''\n"
    )
    .into_bytes()
}

fn annotation(c: &mut Criterion) {
    let mut g = c.benchmark_group("annotation");
    for size in [4 * 1024, 64 * 1024] {
        let doc = document(size, 0);
        let text = encode(&doc);
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode", size), &doc, |b, doc| b.iter(|| encode(doc)));
        let opts = DecodeOptions::default();
        g.bench_with_input(BenchmarkId::new("decode", size), &text, |b, text| {
            b.iter(|| decode(text.as_bytes(), &opts).expect("own encoding decodes"))
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    const N: usize = 10_000;
    let docs: Vec<Vec<u8>> = (0..N).map(|i| document(4 * 1024, i)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("10000-docs-digest-pcr8", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let chunk = N.div_ceil(threads);
                let handles: Vec<_> = docs
                    .chunks(chunk)
                    .map(|part| {
                        s.spawn(move || {
                            part.iter()
                                .map(|d| {
                                    let doc = InitData::parse(d).expect("valid document");
                                    (doc.digest(), doc.pcr8())
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    black_box(h.join().expect("worker finished"));
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, annotation, batch);
criterion_main!(benches);
