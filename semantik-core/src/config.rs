//! [`Config`]: the settings of an open database.

use std::time::Duration;

use crate::embed;

/// Settings of an open database (not persisted).
///
/// ```
/// use std::time::Duration;
/// let c = semantik_core::Config::new()
///     .with_max_concurrent_operations(4)
///     .with_operation_timeout(Some(Duration::from_secs(600)));
/// assert_eq!(c.max_concurrent_operations, 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Operations that run at the same time, across collections (default 2).
    pub max_concurrent_operations: usize,
    /// Longest an operation may run before it fails with [`Error::TimedOut`] (default none).
    pub operation_timeout: Option<Duration>,
    /// Most collections the database may hold (default 1,000).
    pub max_collections: usize,
    /// Most bytes of source content one collection may hold (default unlimited).
    pub max_collection_bytes: Option<u64>,
    /// Name of the collection [`Database::default_collection`] returns (default `"default"`).
    pub default_collection_name: String,
    /// Where embedding models run (default the CPU).
    pub device: embed::Device,
    /// Where models come from: the Hub, its cache, the offline switch (default: from the
    /// environment, see [`HubConfig::from_env`](embed::HubConfig::from_env)).
    pub hub: embed::HubConfig,
    /// Faults injected into storage (tests only).
    #[cfg(feature = "testing")]
    pub(crate) faults: Option<crate::Faults>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_operations: 2,
            operation_timeout: None,
            max_collections: 1000,
            max_collection_bytes: None,
            default_collection_name: "default".into(),
            device: embed::Device::Cpu,
            hub: embed::HubConfig::from_env(),
            #[cfg(feature = "testing")]
            faults: None,
        }
    }
}

impl Config {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets how many operations run at once (at least 1).
    pub fn with_max_concurrent_operations(mut self, n: usize) -> Self {
        self.max_concurrent_operations = n.max(1);
        self
    }
    /// Sets the time limit of operations.
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.operation_timeout = timeout;
        self
    }
    /// Sets the most collections.
    pub fn with_max_collections(mut self, n: usize) -> Self {
        self.max_collections = n;
        self
    }
    /// Sets the most bytes of source content per collection.
    pub fn with_max_collection_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_collection_bytes = bytes;
        self
    }
    /// Sets where embedding models run.
    pub fn with_device(mut self, device: embed::Device) -> Self {
        self.device = device;
        self
    }
    /// Sets where models come from.
    pub fn with_hub(mut self, hub: embed::HubConfig) -> Self {
        self.hub = hub;
        self
    }
    /// Never downloads models: one missing from the caches is [`Error::ModelNotFound`]
    /// (also set by `HF_HUB_OFFLINE=1`).
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.hub.offline = offline;
        self
    }
    /// Sets the default collection's name.
    pub fn with_default_collection_name(mut self, name: impl Into<String>) -> Self {
        self.default_collection_name = name.into();
        self
    }
    /// Injects `faults` into the database's storage (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn with_faults(mut self, faults: crate::Faults) -> Self {
        self.faults = Some(faults);
        self
    }
}
