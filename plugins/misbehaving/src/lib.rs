//! `misbehaving`: a test fixture, not an example. Its filter does what the `mode` config key says, on
//! every batch:
//! - `spin`: loops forever (the host's CPU budget must stop it);
//! - `allocate`: grows memory without bound (the host's memory limit must stop it);
//! - `error`: returns an error result;
//! - `trap`: panics, which traps the instance;
//! - `open-file`: tries to read `/etc/hostname` (the sandbox must deny it);
//! - `open-socket`: tries to connect to `127.0.0.1:9` (the sandbox must deny it);
//! - `chatty`: writes one line to the host's log, one to stdout and one to stderr, and keeps the change
//!   (the host must route all three to its log under the plugin's name);
//! - `keep` (default): keeps every change.
//!
//! Each reaching mode returns an error either way: its message contains `denied` when the sandbox
//! held, and `SANDBOX BREACH` when the file or socket opened, so a test tells the two apart.

use sluice_guest::{Change, Config, Plugin, PluginError, Verdict};

/// The modes, as the `mode` key spells them.
const MODES: [&str; 8] = [
    "spin",
    "allocate",
    "error",
    "trap",
    "open-file",
    "open-socket",
    "chatty",
    "keep",
];

/// What the fixture reaches for in the `open-file` and `open-socket` modes.
const FILE: &str = "/etc/hostname";
const SOCKET_ADDRESS: &str = "127.0.0.1:9";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Spin,
    Allocate,
    Error,
    Trap,
    OpenFile,
    OpenSocket,
    Chatty,
    Keep,
}

/// The fixture plugin.
pub struct Misbehaving {
    pub mode: Mode,
}

impl Plugin for Misbehaving {
    fn init(config: &Config) -> Result<Self, PluginError> {
        config.check_keys(&["mode"])?;
        let mode = match config.get("mode").unwrap_or("keep") {
            "spin" => Mode::Spin,
            "allocate" => Mode::Allocate,
            "error" => Mode::Error,
            "trap" => Mode::Trap,
            "open-file" => Mode::OpenFile,
            "open-socket" => Mode::OpenSocket,
            "chatty" => Mode::Chatty,
            "keep" => Mode::Keep,
            other => {
                return Err(PluginError::InvalidConfig(format!(
                    "unknown mode `{other}`; the modes are {}",
                    MODES.join(", ")
                )));
            }
        };
        Ok(Misbehaving { mode })
    }

    fn filter(&self, _change: &Change<'_>) -> Result<Verdict, PluginError> {
        match self.mode {
            Mode::Spin => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            Mode::Allocate => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Error => Err(PluginError::Other("misbehaving: failing on purpose".to_owned())),
            Mode::Trap => panic!("misbehaving: trapping on purpose"),
            Mode::OpenFile => Err(match std::fs::read(FILE) {
                Ok(bytes) => PluginError::Other(format!(
                    "misbehaving: SANDBOX BREACH: read {} bytes of {FILE}",
                    bytes.len()
                )),
                Err(error) => PluginError::Other(format!("misbehaving: reading {FILE} was denied: {error}")),
            }),
            Mode::OpenSocket => Err(match std::net::TcpStream::connect(SOCKET_ADDRESS) {
                Ok(_) => PluginError::Other(format!("misbehaving: SANDBOX BREACH: connected to {SOCKET_ADDRESS}")),
                Err(error) => PluginError::Other(format!(
                    "misbehaving: connecting to {SOCKET_ADDRESS} was denied: {error}"
                )),
            }),
            Mode::Chatty => {
                sluice_guest::log::info("misbehaving: a line for the host's log");
                println!("misbehaving: a line on stdout");
                eprintln!("misbehaving: a line on stderr");
                Ok(Verdict::Keep)
            }
            Mode::Keep => Ok(Verdict::Keep),
        }
    }
}

sluice_guest::export_plugin!(Misbehaving);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_is_accepted_and_keep_is_the_default() {
        for mode in MODES {
            assert!(
                Misbehaving::init(&Config::from_pairs(&[("mode", mode)])).is_ok(),
                "{mode}"
            );
        }
        assert_eq!(Misbehaving::init(&Config::new(vec![])).unwrap().mode, Mode::Keep);
    }

    #[test]
    fn an_unknown_mode_or_key_is_an_invalid_config_error() {
        let error = Misbehaving::init(&Config::from_pairs(&[("mode", "sulk")]))
            .err()
            .unwrap();
        assert!(matches!(error, PluginError::InvalidConfig(message) if message.starts_with("unknown mode `sulk`")));
        let error = Misbehaving::init(&Config::from_pairs(&[("mood", "spin")]))
            .err()
            .unwrap();
        assert!(matches!(error, PluginError::InvalidConfig(message) if message.contains("`mood`")));
    }

    #[test]
    fn error_mode_fails_with_its_message() {
        let plugin = Misbehaving { mode: Mode::Error };
        let table = sluice_guest::Table::new("shop", "items", &[]);
        let change = sluice_guest::RowChange::insert(0, vec![]);
        assert_eq!(
            plugin.filter(&Change::new(&table, &change)),
            Err(PluginError::Other("misbehaving: failing on purpose".to_owned()))
        );
    }
}
