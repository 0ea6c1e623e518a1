//! Serialising the AI SDK UI message stream chunks that every generation appends (one
//! `text-delta` per token), and reading a delta back as the resume path does.

use std::time::Duration;

use alleato_core::messages::ui_stream::{Metadata, UiChunk, UsageMetadata};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

/// The chunks of one echo answer of `words` tokens.
fn answer(words: usize) -> Vec<UiChunk> {
    let mut chunks = vec![
        UiChunk::Start {
            message_id: "0193f6c2-7a3e-7cc1-9b1f-2f0a6d1e4b55".to_owned(),
        },
        UiChunk::StartStep,
        UiChunk::TextStart { id: "0".to_owned() },
    ];
    chunks.extend((0..words).map(|i| UiChunk::TextDelta {
        id: "0".to_owned(),
        delta: format!(" word{i}"),
    }));
    chunks.extend([
        UiChunk::TextEnd { id: "0".to_owned() },
        UiChunk::FinishStep,
        UiChunk::MessageMetadata {
            message_metadata: Metadata {
                model: "echo".to_owned(),
                usage: UsageMetadata {
                    input_tokens: 12,
                    output_tokens: words as u64,
                },
            },
        },
        UiChunk::Finish,
    ]);
    chunks
}

fn ui_chunk(c: &mut Criterion) {
    let mut group = c.benchmark_group("ui_chunk");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let delta = UiChunk::TextDelta {
        id: "0".to_owned(),
        delta: " weather".to_owned(),
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("text_delta_to_json", |b| b.iter(|| black_box(&delta).to_json()));
    let json = delta.to_json();
    group.bench_function("delta_of", |b| b.iter(|| UiChunk::delta_of(black_box(&json))));
    let chunks = answer(8);
    group.throughput(Throughput::Elements(chunks.len() as u64));
    group.bench_function("echo_answer_of_8_tokens_to_json", |b| {
        b.iter(|| {
            black_box(&chunks)
                .iter()
                .map(UiChunk::to_json)
                .map(|s| s.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, ui_chunk);
criterion_main!(benches);
