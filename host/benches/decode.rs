//! Row decoding (`sluice::source::decode`): what turning one row of the benchmark's 9-column orders
//! table into sluice's typed values costs, per row, on each of the two paths rows arrive by:
//! - `binlog_row`: a rows event's row image as the binlog driver yields it, through `decode_row`;
//! - `selected_row`: a snapshot chunk's row as the binary protocol yields it, through
//!   `decode_selected` per column, as `ChunkReader::read` does.
//!
//! The driver's own parsing of the event bytes is not included. Each sample decodes a batch of
//! 1,024 prepared rows (building the inputs is not timed); criterion reports time and rows per second.
//! Run with `scripts/bench.sh micro` or `cargo bench -p sluice --bench decode`.

mod orders;

use criterion::{BatchSize, Criterion, Throughput};
use sluice::source::decode::{decode_row, decode_selected};

const BATCH: usize = 1024;

fn decode(c: &mut Criterion) {
    let table = orders::table();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    let binlog_rows: Vec<_> = (1..=BATCH as i64).map(orders::binlog_row).collect();
    group.bench_function("binlog_row", |b| {
        b.iter_batched(
            || binlog_rows.clone(),
            |rows| {
                rows.into_iter()
                    .map(|row| decode_row(&table, row).expect("the row decodes"))
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        )
    });
    let selected_rows: Vec<_> = (1..=BATCH as i64).map(orders::selected_row).collect();
    group.bench_function("selected_row", |b| {
        b.iter_batched(
            || selected_rows.clone(),
            |rows| {
                rows.into_iter()
                    .map(|row| {
                        table
                            .columns
                            .iter()
                            .zip(row)
                            .map(|(column, value)| decode_selected(column, value).expect("the value decodes"))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    decode(&mut criterion);
    criterion.final_summary();
}
