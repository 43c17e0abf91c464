//! The host's log: each line goes to the daemon's tracing, tagged with the plugin's name.
//!
//! Natively (in unit tests) there is no host, so lines go to stderr instead.

pub use crate::bindings::sluice::plugin::log::Level;

/// Writes one line to the daemon's log at `level`.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::sluice::plugin::log::write(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes one line at `debug` level.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes one line at `info` level.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes one line at `warn` level.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Writes one line at `error` level.
pub fn error(message: &str) {
    write(Level::Error, message);
}
