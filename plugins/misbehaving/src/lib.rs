//! `misbehaving`: a test fixture, not an example. Its `handle` does what the `mode` config key says:
//! - `spin`: loops forever (the host's CPU budget must stop it);
//! - `allocate`: grows memory without bound (the host's memory limit must stop it);
//! - `error`: returns an error result;
//! - `keep` (default): keeps every change.

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::cell::RefCell;

    wit_bindgen::generate!({
        path: "../../wit",
        world: "row-plugin",
    });

    use exports::sluice::plugin::row_handler::Guest;
    use sluice::plugin::types::{ChangeBatch, Decision, PluginError, Routing};

    thread_local! {
        static MODE: RefCell<String> = const { RefCell::new(String::new()) };
    }

    struct Misbehaving;

    impl Guest for Misbehaving {
        fn init(config: Vec<(String, String)>) -> Result<(), PluginError> {
            let mode = config
                .into_iter()
                .find(|(key, _)| key == "mode")
                .map(|(_, value)| value);
            let mode = mode.unwrap_or_else(|| "keep".to_owned());
            if !["spin", "allocate", "error", "keep"].contains(&mode.as_str()) {
                return Err(PluginError::InvalidConfig(format!("unknown mode `{mode}`")));
            }
            MODE.with_borrow_mut(|slot| *slot = mode);
            Ok(())
        }

        fn handle(batch: ChangeBatch) -> Result<Vec<Decision>, PluginError> {
            match MODE.with_borrow(|mode| mode.clone()).as_str() {
                "spin" => {
                    let mut counter: u64 = 0;
                    loop {
                        counter = std::hint::black_box(counter.wrapping_add(1));
                    }
                }
                "allocate" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "error" => Err(PluginError::Other("misbehaving: failing on purpose".to_owned())),
                _ => Ok(batch
                    .changes
                    .iter()
                    .map(|_| {
                        Decision::Keep(Routing {
                            topic: None,
                            key: None,
                            object_name: None,
                        })
                    })
                    .collect()),
            }
        }
    }

    export!(Misbehaving);
}
