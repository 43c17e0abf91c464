//! The plugin boundary: what the plugin chain costs per row change, at batch sizes 1, 64 and 1024.
//!
//! Each scenario runs `PluginChain::apply` (the daemon's own code path: interest, lowering, the
//! wasmtime call, the guest glue, the guest's logic, lifting the answers) over a batch of row changes
//! of four 9-column tables and one commit, in steady state (every table shape already seen):
//! - `no_plugin`: the host's own cost of handing a batch through an empty chain;
//! - `rust`: `plugins/reference-rust` alone (a filter that reads the table name and one column, and
//!   masks it; a mapping asked once per table);
//! - `rust_rust`: `reference-rust`, then `plugins/route-by-table` (a filter by table name that drops
//!   one of the four tables, and a mapping per table);
//! - `python`, `js`: the Python and JavaScript builds of the reference plugin, configured as `rust`.
//!
//! The time criterion reports is **per change**: each sample times `apply` over whole batches and
//! divides by the batch size. Cloning the input and dropping the output are not timed. A summary
//! table (median ns per change, and its 95% confidence interval) is printed at the end.
//!
//! The components come from the directory `$SLUICE_BENCH_PLUGINS` (default: `examples/plugins/`),
//! where `scripts/build-plugins.sh` puts them (`reference_rust.wasm`, `route_by_table.wasm`,
//! `reference_python.wasm`, `reference_js.wasm`); a scenario whose component is missing is skipped
//! with a message. Compiled code is cached in `$CARGO_TARGET_DIR/plugin-bench-cache`, so only the
//! first run compiles the large Python and JavaScript components. Run it with
//! `scripts/bench.sh plugins` (builds the components first), or after building them with
//! `cargo bench -p sluice --bench plugin_boundary [-- FILTER]`.

mod orders;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use sluice::change::{Change, ColumnValue, Commit, Operation, Origin, RowChange, TableSchema, TransactionInfo};
use sluice::config::PluginConfig;
use sluice::metrics::Metrics;
use sluice::plugin::chain::{PluginChain, Routed};
use sluice::plugin::engine::PluginEngine;
use sluice::source::position::{BinlogPosition, RecordPosition};
use tokio::runtime::Runtime;

const BATCH_SIZES: [usize; 3] = [1, 64, 1024];

/// The reference plugin's config, the same in every language: mask `note`, drop the deletes of one
/// table, route by a topic template.
const REFERENCE_CONFIG: [(&str, &str); 3] = [
    ("mask_column", "note"),
    ("drop_deletes_of", "shop.returns"),
    ("topic_template", "cdc.{database}.{table}"),
];

/// `route-by-table`: drop the audit table, route the others to `database.table`.
const ROUTER_CONFIG: [(&str, &str); 1] = [("drop_tables", "shop.audit_*")];

/// One benchmarked chain: a name and its plugins, as (component file, config) in chain order.
struct Scenario {
    name: &'static str,
    plugins: Vec<(&'static str, &'static [(&'static str, &'static str)])>,
    /// The per-call cost of an interpreted guest makes batch 1024 take tens of milliseconds per
    /// iteration: such scenarios sample flat rather than with criterion's growing iteration counts.
    slow: bool,
}

fn scenarios() -> Vec<Scenario> {
    let reference = |file| (file, &REFERENCE_CONFIG[..]);
    vec![
        Scenario {
            name: "no_plugin",
            plugins: vec![],
            slow: false,
        },
        Scenario {
            name: "rust",
            plugins: vec![reference("reference_rust.wasm")],
            slow: false,
        },
        Scenario {
            name: "rust_rust",
            plugins: vec![
                reference("reference_rust.wasm"),
                ("route_by_table.wasm", &ROUTER_CONFIG[..]),
            ],
            slow: false,
        },
        Scenario {
            name: "python",
            plugins: vec![reference("reference_python.wasm")],
            slow: true,
        },
        Scenario {
            name: "js",
            plugins: vec![reference("reference_js.wasm")],
            slow: true,
        },
    ]
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn plugin_directory() -> PathBuf {
    std::env::var_os("SLUICE_BENCH_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository_root().join("examples/plugins"))
}

/// Where criterion keeps its results: the directory it would choose itself, made explicit so that the
/// summary can read them back.
fn criterion_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    target_directory().join("criterion")
}

fn target_directory() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository_root().join("target"))
}

/// `size` row changes spread round-robin over four tables (6 inserts, 3 updates and 1 delete in every
/// 10), then one commit.
fn batch(tables: &[Arc<TableSchema>], size: usize) -> Vec<Change> {
    let transaction = Arc::new(TransactionInfo {
        id: Arc::from("0-1-1"),
        start: BinlogPosition::new("mariadb-bin.000001", 4),
    });
    let mut changes: Vec<Change> = (0..size)
        .map(|index| {
            let id = 1_000 + index as i64;
            let (operation, before, after) = match index % 10 {
                0..=5 => (Operation::Insert, None, Some(orders::image_with_status(id, "new"))),
                6..=8 => (
                    Operation::Update,
                    Some(orders::image_with_status(id, "new")),
                    Some(orders::image_with_status(id, "paid")),
                ),
                _ => (Operation::Delete, Some(orders::image_with_status(id, "shipped")), None),
            };
            Change::Row(RowChange {
                origin: Origin::Binlog,
                table: tables[index % tables.len()].clone(),
                operation,
                before,
                after,
                position: RecordPosition {
                    event: BinlogPosition::new("mariadb-bin.000001", 1_000),
                    row_index: index as u64,
                },
                timestamp: 1_714_638_600,
                transaction: transaction.clone(),
            })
        })
        .collect();
    changes.push(Change::Commit(Commit {
        gtids: None,
        resume_from: BinlogPosition::new("mariadb-bin.000001", 900_000),
        progress: Vec::new(),
    }));
    changes
}

/// Loads the scenario's chain, or says why it cannot.
fn load_chain(runtime: &Runtime, engine: &PluginEngine, scenario: &Scenario) -> Result<PluginChain, String> {
    let directory = plugin_directory();
    let mut configs = Vec::new();
    for (index, (file, config)) in scenario.plugins.iter().enumerate() {
        let path = directory.join(file);
        if !path.is_file() {
            return Err(format!(
                "`{}` is missing; build the components with scripts/build-plugins.sh or set SLUICE_BENCH_PLUGINS",
                path.display()
            ));
        }
        let name = format!("{index}-{}", file.trim_end_matches(".wasm"));
        configs.push(PluginConfig::fixed(name, path, owned(config)));
    }
    runtime
        .block_on(PluginChain::load(&configs, Some(engine), Arc::new(Metrics::new())))
        .map_err(|error| error.to_string())
}

/// A plugin config table from its `(key, value)` pairs.
fn owned(config: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    config
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// What a chain made of a batch: rows published, of them masked, and commits.
fn describe(routed: &[Routed]) -> String {
    let mut published = 0;
    let mut masked = 0;
    let mut commits = 0;
    for item in routed {
        match item {
            Routed::Row(row) => {
                published += 1;
                let note = row
                    .change
                    .after
                    .as_ref()
                    .or(row.change.before.as_ref())
                    .map(|image| &image[5]);
                masked += usize::from(note == Some(&ColumnValue::Text(b"***".to_vec())));
            }
            Routed::Commit(_) => commits += 1,
            Routed::DeadLetter(_) | Routed::Ddl(_) => {}
        }
    }
    format!("{published} published ({masked} masked), {commits} commit")
}

fn bench_scenario(
    criterion: &mut Criterion,
    runtime: &Runtime,
    engine: &PluginEngine,
    tables: &[Arc<TableSchema>],
    scenario: &Scenario,
    measured: &mut Vec<(&'static str, usize)>,
) {
    let mut chain = match load_chain(runtime, engine, scenario) {
        Ok(chain) => chain,
        Err(why) => {
            eprintln!("plugin_boundary: skipping `{}`: {why}", scenario.name);
            return;
        }
    };
    let mut group = criterion.benchmark_group(scenario.name);
    if scenario.slow {
        group.sampling_mode(SamplingMode::Flat);
    }
    for size in BATCH_SIZES {
        let input = batch(tables, size);
        // A check that the plugins ran, and the warm-up of every table shape.
        let routed = runtime
            .block_on(chain.apply(input.clone()))
            .expect("the chain handles the batch");
        eprintln!(
            "plugin_boundary: {}, batch {size}: {}",
            scenario.name,
            describe(&routed)
        );
        let mut ran = false;
        group.bench_with_input(BenchmarkId::from_parameter(size), &input, |bencher, input| {
            ran = true;
            bencher.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let batch = input.clone();
                        let started = Instant::now();
                        let routed = chain.apply(batch).await.expect("the chain handles the batch");
                        elapsed += started.elapsed();
                        drop(std::hint::black_box(routed));
                    }
                    // Per change, not per batch.
                    elapsed / size as u32
                })
            });
        });
        if ran {
            measured.push((scenario.name, size));
        }
    }
    group.finish();
}

/// Criterion's median estimate (ns per change) and its 95% confidence interval, if it was measured.
fn estimate(scenario: &str, size: usize) -> Option<(f64, f64, f64)> {
    let path = criterion_directory()
        .join(scenario)
        .join(size.to_string())
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    let median = &estimates["median"];
    Some((
        median["point_estimate"].as_f64()?,
        median["confidence_interval"]["lower_bound"].as_f64()?,
        median["confidence_interval"]["upper_bound"].as_f64()?,
    ))
}

/// The results of this run (the benchmarks a filter let through) as a table, read back from
/// criterion's estimates.
fn print_summary(measured: &[(&'static str, usize)]) {
    println!("\nplugin boundary, median ns per change [95% confidence interval]:");
    print!("{:<10}", "scenario");
    for size in BATCH_SIZES {
        print!(" | {:>24}", format!("batch {size}"));
    }
    println!();
    let mut medians: BTreeMap<(&str, usize), f64> = BTreeMap::new();
    let mut scenarios: Vec<&str> = measured.iter().map(|(scenario, _)| *scenario).collect();
    scenarios.dedup();
    for scenario in scenarios {
        print!("{scenario:<10}");
        for size in BATCH_SIZES {
            let estimated = measured
                .contains(&(scenario, size))
                .then(|| estimate(scenario, size))
                .flatten();
            let cell = match estimated {
                Some((median, lower, upper)) => {
                    medians.insert((scenario, size), median);
                    format!("{median:.0} [{lower:.0}, {upper:.0}]")
                }
                None => "-".to_owned(),
            };
            print!(" | {cell:>24}");
        }
        println!();
    }
    let host = medians.get(&("no_plugin", 64)).copied().unwrap_or(0.0);
    for (scenario, plugins, bar) in [
        ("rust", 1.0, 250.0),
        ("rust_rust", 2.0, 250.0),
        ("python", 1.0, 3000.0),
        ("js", 1.0, 8000.0),
    ] {
        if let Some(median) = medians.get(&(scenario, 64)) {
            let per_plugin = (median - host) / plugins;
            let verdict = if per_plugin <= bar { "meets" } else { "misses" };
            println!(
                "{scenario}: {per_plugin:.0} ns per change per plugin at batch 64 over the host's {host:.0} ns \
                 ({verdict} the bar of {bar:.0} ns)"
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&criterion_directory())
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let cache = target_directory().join("plugin-bench-cache");
    let engine = PluginEngine::new(Some(&cache)).expect("the WebAssembly engine");
    let tables = [
        orders::table_named("shop", "orders"),
        orders::table_named("shop", "returns"),
        orders::table_named("billing", "invoices"),
        orders::table_named("shop", "audit_log"),
    ];
    let mut measured = Vec::new();
    for scenario in scenarios() {
        bench_scenario(&mut criterion, &runtime, &engine, &tables, &scenario, &mut measured);
    }
    criterion.final_summary();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`), with `--test` or with
    // `--profile-time` (for a profiler), criterion measures nothing and writes no estimates.
    let arguments: Vec<String> = std::env::args().collect();
    let given = |flag: &str| arguments.iter().any(|argument| argument == flag);
    if given("--bench") && !given("--test") && !given("--profile-time") {
        print_summary(&measured);
        let filtered_out = arguments[1..]
            .iter()
            .any(|argument| !argument.starts_with('-') && !"swap".contains(argument.as_str()));
        if !filtered_out {
            measure_swap_stall(&runtime, &engine, &tables);
        }
    }
}

/// The stall of a hot swap: how much longer the batch at which a new version takes over takes than a
/// batch in steady state. The new version is loaded (compiled, instantiated, initialised) outside the
/// timing, as the reload task does off the hot path; the timed batch pays the swap and the new
/// instance's first calls (a `map-table` per table shape). Bar (issue 5): at most 50 ms.
fn measure_swap_stall(runtime: &Runtime, engine: &PluginEngine, tables: &[Arc<TableSchema>]) {
    const SWAPS: usize = 40;
    let original = plugin_directory().join("reference_rust.wasm");
    let Ok(bytes) = std::fs::read(&original) else {
        eprintln!(
            "plugin_boundary: skipping the swap stall: `{}` is missing",
            original.display()
        );
        return;
    };
    // Two versions that differ only in a custom section: the same behaviour, different hashes.
    let directory = target_directory().join("plugin-bench-swap");
    std::fs::create_dir_all(&directory).expect("a directory for the two versions");
    let mut variant = bytes.clone();
    variant.extend_from_slice(&[0, 6, 5, b's', b'w', b'a', b'p', b'b']);
    let versions: Vec<PluginConfig> = [("a.wasm", &bytes), ("b.wasm", &variant)]
        .into_iter()
        .map(|(name, content)| {
            let path = directory.join(name);
            std::fs::write(&path, content).expect("writing a version");
            PluginConfig::fixed("reference", path, owned(&REFERENCE_CONFIG))
        })
        .collect();
    let metrics = Arc::new(Metrics::new());
    let mut chain = runtime
        .block_on(PluginChain::load(&versions[..1], Some(engine), metrics))
        .expect("the reference plugin loads");
    let input = batch(tables, 64);
    let time = |chain: &mut PluginChain| {
        let batch = input.clone();
        let started = Instant::now();
        let routed = runtime
            .block_on(chain.apply(batch))
            .expect("the chain handles the batch");
        let elapsed = started.elapsed();
        drop(routed);
        elapsed
    };
    time(&mut chain);
    let mut steady = Vec::new();
    let mut swapped = Vec::new();
    for swap in 0..SWAPS {
        steady.push(time(&mut chain));
        let version = runtime
            .block_on(sluice::plugin::chain::load_version(engine, &versions[(swap + 1) % 2]))
            .expect("the new version loads");
        let before = chain.versions().map(str::to_owned);
        chain.offer(0, version);
        swapped.push(time(&mut chain));
        assert_ne!(chain.versions().map(str::to_owned), before, "the new version took over");
    }
    let summary = |times: &mut Vec<Duration>| {
        times.sort();
        (times[times.len() / 2], times[times.len() - 1])
    };
    let (steady_median, steady_max) = summary(&mut steady);
    let (swap_median, swap_max) = summary(&mut swapped);
    println!();
    println!("hot swap, {SWAPS} swaps of reference-rust, batch 64:");
    println!("  steady batch:   median {steady_median:?}, max {steady_max:?}");
    println!("  swapping batch: median {swap_median:?}, max {swap_max:?}");
    println!(
        "  stall (swapping minus steady, worst case): {:?} (bar: 50 ms)",
        swap_max.saturating_sub(steady_median)
    );
}
