//! The catalog of language models a deployment offers, and the models behind it.

use std::sync::Arc;
use std::time::Duration;

use crate::llm::openai::{OpenAiConfig, OpenAiConfigError};
use crate::llm::{EchoModel, LanguageModel, ModelRouter, Sleeper};

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

/// The model settings of a deployment, as both runtimes read them from `ALLEATO_*` variables.
/// Its `Debug` output hides the API key.
#[derive(Clone, Default)]
pub struct ModelSettings {
    /// `ALLEATO_OPENAI_BASE_URL`: an OpenAI-compatible API, when one is used.
    pub openai_base_url: Option<String>,
    /// `ALLEATO_OPENAI_API_KEY`.
    pub openai_api_key: Option<String>,
    /// `ALLEATO_OPENAI_MODELS`: the model ids the provider serves, the first the default.
    pub openai_models: Vec<String>,
    /// `ALLEATO_OPENAI_CONNECT_TIMEOUT_SECS`.
    pub openai_connect_timeout: Duration,
    /// `ALLEATO_OPENAI_IDLE_TIMEOUT_SECS`.
    pub openai_idle_timeout: Duration,
    /// `ALLEATO_DEFAULT_MODEL`: moved to the front of the catalog.
    pub default_model: Option<String>,
    /// `ALLEATO_ECHO_DELAY_MS`: the echo model's wait before each token.
    pub echo_delay: Duration,
}

impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSettings")
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "<redacted>"))
            .field("openai_models", &self.openai_models)
            .field("openai_connect_timeout", &self.openai_connect_timeout)
            .field("openai_idle_timeout", &self.openai_idle_timeout)
            .field("default_model", &self.default_model)
            .field("echo_delay", &self.echo_delay)
            .finish()
    }
}

/// A model setting that cannot be served, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {why}")]
pub struct ModelSettingError {
    /// The variable at fault, e.g. `ALLEATO_OPENAI_MODELS`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// The catalog of a deployment and the model that serves it: the built-in `echo` always, and,
/// when a provider is configured, its models first (the first of them the default) served by
/// the client `openai` builds on the runtime's transport.
///
/// # Errors
/// [`ModelSettingError`] when a provider is half configured (a URL without models or models
/// without a URL), its client cannot be built, or the default model is not in the catalog.
pub fn deployment_models(
    settings: &ModelSettings,
    sleeper: Arc<dyn Sleeper>,
    openai: impl FnOnce(OpenAiConfig) -> Result<Arc<dyn LanguageModel>, OpenAiConfigError>,
) -> Result<(ModelCatalog, Arc<dyn LanguageModel>), ModelSettingError> {
    let error = |setting, why: &str| ModelSettingError {
        setting,
        why: why.to_owned(),
    };
    let echo = Arc::new(EchoModel::new(sleeper, settings.echo_delay));
    let mut router = ModelRouter::new().with("echo", echo);
    let mut infos = Vec::new();
    let ids: Vec<String> = settings
        .openai_models
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    match (&settings.openai_base_url, ids.is_empty()) {
        (Some(url), false) => {
            let config = OpenAiConfig::new(url.clone())
                .with_api_key(settings.openai_api_key.clone())
                .with_connect_timeout(settings.openai_connect_timeout)
                .with_idle_timeout(settings.openai_idle_timeout);
            let model = openai(config).map_err(|e| error("ALLEATO_OPENAI_BASE_URL", &e.to_string()))?;
            for id in ids {
                router = router.with(id.clone(), model.clone());
                infos.push(ModelInfo { name: id.clone(), id });
            }
        }
        (Some(_), true) => return Err(error("ALLEATO_OPENAI_MODELS", "must name at least one model")),
        (None, false) => return Err(error("ALLEATO_OPENAI_MODELS", "needs ALLEATO_OPENAI_BASE_URL")),
        (None, true) => {}
    }
    infos.push(ModelInfo {
        id: "echo".to_owned(),
        name: "Echo (built in)".to_owned(),
    });
    if let Some(default) = &settings.default_model {
        let Some(i) = infos.iter().position(|m| &m.id == default) else {
            return Err(error(
                "ALLEATO_DEFAULT_MODEL",
                &format!("{default} is not a configured model"),
            ));
        };
        let m = infos.remove(i);
        infos.insert(0, m);
    }
    let catalog = ModelCatalog::new(infos).map_err(|why| error("ALLEATO_OPENAI_MODELS", why))?;
    Ok((catalog, Arc::new(router)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSleep;

    #[async_trait::async_trait]
    impl Sleeper for NoSleep {
        async fn sleep(&self, _: Duration) {}
    }

    fn ids(settings: &ModelSettings) -> Result<Vec<String>, ModelSettingError> {
        let echo_as_provider =
            |_: OpenAiConfig| Ok(Arc::new(EchoModel::new(Arc::new(NoSleep), Duration::ZERO)) as Arc<dyn LanguageModel>);
        let (catalog, _) = deployment_models(settings, Arc::new(NoSleep), echo_as_provider)?;
        Ok(catalog.models().iter().map(|m| m.id.clone()).collect())
    }

    #[test]
    fn the_providers_models_come_first_unless_a_default_is_named() {
        assert_eq!(ids(&ModelSettings::default()).unwrap(), ["echo"]);
        let mut settings = ModelSettings {
            openai_base_url: Some("http://127.0.0.1:9/v1".to_owned()),
            openai_models: vec![" a ".to_owned(), String::new(), "b".to_owned()],
            ..ModelSettings::default()
        };
        assert_eq!(ids(&settings).unwrap(), ["a", "b", "echo"]);
        settings.default_model = Some("b".to_owned());
        assert_eq!(ids(&settings).unwrap(), ["b", "a", "echo"]);
    }

    #[test]
    fn half_configured_providers_and_unknown_defaults_name_their_setting() {
        let url_only = ModelSettings {
            openai_base_url: Some("http://127.0.0.1:9/v1".to_owned()),
            ..ModelSettings::default()
        };
        assert_eq!(ids(&url_only).unwrap_err().setting, "ALLEATO_OPENAI_MODELS");
        let models_only = ModelSettings {
            openai_models: vec!["a".to_owned()],
            ..ModelSettings::default()
        };
        assert_eq!(ids(&models_only).unwrap_err().setting, "ALLEATO_OPENAI_MODELS");
        let unknown_default = ModelSettings {
            default_model: Some("gpt-9".to_owned()),
            ..ModelSettings::default()
        };
        assert_eq!(ids(&unknown_default).unwrap_err().setting, "ALLEATO_DEFAULT_MODEL");
        let keyed = ModelSettings {
            openai_api_key: Some("sk-hidden".to_owned()),
            ..ModelSettings::default()
        };
        assert!(!format!("{keyed:?}").contains("sk-hidden"));
    }
}
