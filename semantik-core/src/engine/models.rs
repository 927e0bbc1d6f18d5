//! The embedder registry: embedders the host registered and models loaded, shared by every
//! collection that uses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::embed::{self, Embedder, ModelSpec};
use crate::error::Result;

/// Registered embedders and loaded models.
#[derive(Debug)]
pub(crate) struct Models {
    device: embed::Device,
    hub: embed::HubConfig,
    /// Embedders the host registered, by model name.
    registered: Mutex<HashMap<String, Arc<dyn Embedder>>>,
    /// Models loaded, by the spec they were loaded for.
    loaded: Mutex<HashMap<ModelSpec, Arc<dyn Embedder>>>,
}

impl Models {
    pub(crate) fn new(device: embed::Device, hub: embed::HubConfig) -> Self {
        Models {
            device,
            hub,
            registered: Mutex::new(HashMap::new()),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Registers `embedder` under its model name (it replaces one registered before).
    pub(crate) fn register(&self, embedder: Arc<dyn Embedder>) {
        self.registered
            .lock()
            .expect("embedders lock")
            .insert(embedder.model_name().to_string(), embedder);
    }

    /// The embedder of `spec` (a collection's model, its revision the recorded commit).
    pub(crate) fn embedder(&self, spec: &ModelSpec) -> Result<Arc<dyn Embedder>> {
        Ok(self.load(spec)?.0)
    }

    /// Loads `spec`'s model unless it is loaded or registered; returns it with the spec of
    /// what was loaded (its revision the commit found, when the model came from the Hub).
    pub(crate) fn load(&self, spec: &ModelSpec) -> Result<(Arc<dyn Embedder>, ModelSpec)> {
        if let Some(e) = self
            .registered
            .lock()
            .expect("embedders lock")
            .get(&spec.name)
        {
            return Ok((e.clone(), spec.clone()));
        }
        if let Some(e) = self.loaded.lock().expect("models lock").get(spec) {
            return Ok((e.clone(), spec.clone()));
        }
        let (e, location) = embed::resolve(spec, self.device, &self.hub)?;
        let loaded = spec
            .clone()
            .with_revision(location.and_then(|l| l.revision).or(spec.revision.clone()));
        let mut models = self.loaded.lock().expect("models lock");
        let e = models.entry(loaded.clone()).or_insert(e).clone();
        models.entry(spec.clone()).or_insert_with(|| e.clone());
        Ok((e, loaded))
    }
}
