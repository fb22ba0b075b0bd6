//! The kinds of data a detector can find, their stable names and default actions.
//!
//! A kind's name is what appears in `ward.redactions`, in replacement markers
//! and in configuration keys; names never change once released.

use crate::config::Action;

/// What a detector found. The snake_case name is the stable identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Password,
    Secret,
    ApiKey,
    Token,
    Authorization,
    Cookie,
    SessionId,
    PrivateKey,
    Card,
    Cvv,
    Ssn,
    Iban,
    Email,
    Phone,
    Jwt,
    BearerToken,
    BasicAuth,
    UrlCredentials,
    AwsAccessKeyId,
    AwsSecretKey,
    GoogleApiKey,
    AzureStorageKey,
    AzureSasToken,
    GithubToken,
    GitlabToken,
    SlackToken,
    SlackWebhook,
    StripeKey,
    TwilioKey,
    SendgridKey,
    OpenaiKey,
    AnthropicKey,
    HuggingfaceToken,
    NpmToken,
    PypiToken,
    GenericSecret,
    Npi,
    Dea,
    Mrn,
    Icd10,
    RawBody,
}

/// Broad family of a kind; decides what counts as a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Something that grants access: never belongs in free text.
    Credential,
    /// Payment and bank data.
    Financial,
    /// Data identifying a person.
    Personal,
    /// Protected health information.
    Health,
    /// Correlation identifiers that are pseudonymised rather than removed.
    Correlation,
    /// Whole payloads replaced by metadata.
    Payload,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [Kind] = &[
        Kind::Password,
        Kind::Secret,
        Kind::ApiKey,
        Kind::Token,
        Kind::Authorization,
        Kind::Cookie,
        Kind::SessionId,
        Kind::PrivateKey,
        Kind::Card,
        Kind::Cvv,
        Kind::Ssn,
        Kind::Iban,
        Kind::Email,
        Kind::Phone,
        Kind::Jwt,
        Kind::BearerToken,
        Kind::BasicAuth,
        Kind::UrlCredentials,
        Kind::AwsAccessKeyId,
        Kind::AwsSecretKey,
        Kind::GoogleApiKey,
        Kind::AzureStorageKey,
        Kind::AzureSasToken,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::SlackToken,
        Kind::SlackWebhook,
        Kind::StripeKey,
        Kind::TwilioKey,
        Kind::SendgridKey,
        Kind::OpenaiKey,
        Kind::AnthropicKey,
        Kind::HuggingfaceToken,
        Kind::NpmToken,
        Kind::PypiToken,
        Kind::GenericSecret,
        Kind::Npi,
        Kind::Dea,
        Kind::Mrn,
        Kind::Icd10,
        Kind::RawBody,
    ];

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Password => "password",
            Kind::Secret => "secret",
            Kind::ApiKey => "api_key",
            Kind::Token => "token",
            Kind::Authorization => "authorization",
            Kind::Cookie => "cookie",
            Kind::SessionId => "session_id",
            Kind::PrivateKey => "private_key",
            Kind::Card => "card",
            Kind::Cvv => "cvv",
            Kind::Ssn => "ssn",
            Kind::Iban => "iban",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Jwt => "jwt",
            Kind::BearerToken => "bearer_token",
            Kind::BasicAuth => "basic_auth",
            Kind::UrlCredentials => "url_credentials",
            Kind::AwsAccessKeyId => "aws_access_key_id",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::GoogleApiKey => "google_api_key",
            Kind::AzureStorageKey => "azure_storage_key",
            Kind::AzureSasToken => "azure_sas_token",
            Kind::GithubToken => "github_token",
            Kind::GitlabToken => "gitlab_token",
            Kind::SlackToken => "slack_token",
            Kind::SlackWebhook => "slack_webhook",
            Kind::StripeKey => "stripe_key",
            Kind::TwilioKey => "twilio_key",
            Kind::SendgridKey => "sendgrid_key",
            Kind::OpenaiKey => "openai_key",
            Kind::AnthropicKey => "anthropic_key",
            Kind::HuggingfaceToken => "huggingface_token",
            Kind::NpmToken => "npm_token",
            Kind::PypiToken => "pypi_token",
            Kind::GenericSecret => "generic_secret",
            Kind::Npi => "npi",
            Kind::Dea => "dea",
            Kind::Mrn => "mrn",
            Kind::Icd10 => "icd10",
            Kind::RawBody => "raw_body",
        }
    }

    /// Looks a kind up by its stable name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The family this kind belongs to.
    pub fn category(self) -> Category {
        match self {
            Kind::Card | Kind::Cvv | Kind::Iban => Category::Financial,
            Kind::Ssn | Kind::Email | Kind::Phone => Category::Personal,
            Kind::Npi | Kind::Dea | Kind::Mrn | Kind::Icd10 => Category::Health,
            Kind::SessionId => Category::Correlation,
            Kind::RawBody => Category::Payload,
            _ => Category::Credential,
        }
    }

    /// The action applied when the configuration says nothing else.
    ///
    /// Secrets are masked (a hash of a password is still a password oracle);
    /// identifiers analysts correlate on are keyed-hashed; cards keep their
    /// last four digits; raw bodies are dropped and replaced by metadata.
    pub fn default_action(self) -> Action {
        match self {
            Kind::SessionId | Kind::Email | Kind::Phone => Action::Hash,
            Kind::Card => Action::Partial,
            Kind::RawBody => Action::Drop,
            _ => Action::Mask,
        }
    }

    /// Kinds named after the field that held the value rather than the
    /// value's own format.
    pub fn is_generic(self) -> bool {
        matches!(
            self,
            Kind::Password
                | Kind::Secret
                | Kind::ApiKey
                | Kind::Token
                | Kind::Authorization
                | Kind::Cookie
                | Kind::GenericSecret
        )
    }

    /// Whether `partial` means something for this kind (a visible suffix that is
    /// not itself sensitive).
    pub fn supports_partial(self) -> bool {
        matches!(self, Kind::Card | Kind::Iban)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(*k));
            assert!(seen.insert(k.name()), "duplicate name {}", k.name());
        }
        assert_eq!(Kind::from_name("nope"), None);
    }
}
