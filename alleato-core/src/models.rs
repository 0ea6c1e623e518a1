//! The catalog of language models a deployment offers.

/// One model clients may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The id sent to the provider and accepted in requests (`gpt-4o-mini`, `echo`).
    pub id: String,
    /// A human-readable name.
    pub name: String,
}

/// The allow-list of models, with the default one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCatalog {
    models: Vec<ModelInfo>,
}

impl ModelCatalog {
    /// A catalog whose first model is the default.
    ///
    /// # Errors
    /// When `models` is empty or has two models with the same id.
    pub fn new(models: Vec<ModelInfo>) -> Result<Self, &'static str> {
        if models.is_empty() {
            return Err("at least one model must be configured");
        }
        for (i, m) in models.iter().enumerate() {
            if m.id.trim().is_empty() {
                return Err("model ids must not be empty");
            }
            if models[..i].iter().any(|o| o.id == m.id) {
                return Err("model ids must be unique");
            }
        }
        Ok(Self { models })
    }

    /// Every model, the default first.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The default model.
    pub fn default_model(&self) -> &ModelInfo {
        &self.models[0]
    }

    /// The model with this id, when allowed.
    pub fn get(&self, id: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.id == id)
    }
}
