//! DTS Avro encoding (`sluice::encode::dts_avro`) and the default message key
//! (`sluice::encode::key`): what one row change of the benchmark's 9-column orders table costs the
//! encoder stage, per change, for an INSERT (after image), an UPDATE (both images) and a DELETE
//! (before image), each as streamed from the binlog.
//!
//! Each sample encodes a batch of 1,024 changes; criterion reports time and changes per second.
//! Run with `scripts/bench.sh micro` or `cargo bench -p sluice --bench dts_avro`.

mod orders;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use sluice::change::{Operation, Origin, RowChange, TransactionInfo};
use sluice::encode::dts_avro::DtsAvroEncoder;
use sluice::encode::key;
use sluice::plugin::chain::{RoutedChange, Routing};
use sluice::source::position::{BinlogPosition, RecordPosition};

const BATCH: usize = 1024;

fn changes(operation: Operation) -> Vec<RoutedChange> {
    let table = orders::table();
    let transaction = Arc::new(TransactionInfo {
        id: "0-1-4242".into(),
        start: BinlogPosition::new("mysql-bin.000002", 4),
    });
    (1..=BATCH as i64)
        .map(|id| RoutedChange {
            change: RowChange {
                origin: Origin::Binlog,
                table: table.clone(),
                operation,
                before: (operation != Operation::Insert).then(|| orders::image(id)),
                after: (operation != Operation::Delete).then(|| orders::image(id + 1)),
                position: RecordPosition {
                    event: BinlogPosition::new("mysql-bin.000002", 1_000 + id as u64 * 200),
                    row_index: 0,
                },
                timestamp: 1_714_638_600,
                transaction: transaction.clone(),
            },
            routing: Routing::default(),
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("dts_avro");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, operation) in [
        ("insert", Operation::Insert),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
    ] {
        let changes = changes(operation);
        let mut encoder = DtsAvroEncoder::new("10.11.6-MariaDB");
        group.bench_function(name, |b| {
            b.iter(|| {
                for (id, change) in changes.iter().enumerate() {
                    black_box(encoder.encode(id as i64, change).expect("the change encodes"));
                }
            })
        });
    }
    let changes = changes(Operation::Update);
    group.bench_function("primary_key", |b| {
        b.iter(|| {
            for change in &changes {
                black_box(key::primary_key(&change.change));
            }
        })
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    encode(&mut criterion);
    criterion.final_summary();
}
