//! [`Config`]: the plugin's `config` table, as `init` receives it.

use crate::types::PluginError;

/// The key/value pairs of the plugin's `config` table in the daemon's config file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// The config the host passed to `init`.
    pub fn new(pairs: Vec<(String, String)>) -> Config {
        Config { pairs }
    }

    /// A config from string pairs, for tests: `Config::from_pairs(&[("mode", "keep")])`.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Config {
        Config::new(
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        )
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of `key`, if given (the first, if given more than once; [`Config::check_keys`]
    /// rejects that).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(candidate, _)| candidate == key)
            .map(|(_, value)| value.as_str())
    }

    /// Fails with `invalid-config` naming the first key that is not in `known` (and listing the
    /// known ones), or the first key given more than once.
    pub fn check_keys(&self, known: &[&str]) -> Result<(), PluginError> {
        for (index, (key, _)) in self.pairs.iter().enumerate() {
            if !known.contains(&key.as_str()) {
                let known = if known.is_empty() {
                    "this plugin takes none".to_owned()
                } else {
                    format!("known keys: {}", known.join(", "))
                };
                return Err(PluginError::InvalidConfig(format!(
                    "unknown config key `{key}`; {known}"
                )));
            }
            if self.pairs[..index].iter().any(|(earlier, _)| earlier == key) {
                return Err(PluginError::InvalidConfig(format!(
                    "config key `{key}` is given more than once"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named_with_the_known_ones() {
        let config = Config::from_pairs(&[("mode", "x"), ("moed", "y")]);
        assert_eq!(
            config.check_keys(&["mode", "level"]),
            Err(PluginError::InvalidConfig(
                "unknown config key `moed`; known keys: mode, level".to_owned()
            ))
        );
        assert_eq!(
            Config::from_pairs(&[("a", "")]).check_keys(&[]),
            Err(PluginError::InvalidConfig(
                "unknown config key `a`; this plugin takes none".to_owned()
            ))
        );
    }

    #[test]
    fn a_repeated_key_is_rejected() {
        let config = Config::from_pairs(&[("mode", "x"), ("mode", "y")]);
        assert_eq!(
            config.check_keys(&["mode"]),
            Err(PluginError::InvalidConfig(
                "config key `mode` is given more than once".to_owned()
            ))
        );
    }

    #[test]
    fn values_are_found_by_key() {
        let config = Config::from_pairs(&[("mode", "x")]);
        assert_eq!(config.check_keys(&["mode"]), Ok(()));
        assert_eq!(config.get("mode"), Some("x"));
        assert_eq!(config.get("other"), None);
    }
}
