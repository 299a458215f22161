//! A subscription request's fields, checked: its target (a webhook URL under the SSRF rules,
//! or a digest's address and period), its format and where its cursor starts.

use serde_json::{Map, Value};

use super::{Context, SubscriptionError};
use crate::catalog::{FieldError, ValidationErrors};
use crate::feeds::Format;
use crate::jobs::digests::Every;
use crate::service::pull;
use crate::store::channels;
use crate::webhooks::client;

const URL_MAX: usize = 2048;
const EMAIL_MAX: usize = 254;

/// One invalid field (422, at `pointer`).
pub(super) fn invalid(pointer: &str, message: impl Into<String>) -> SubscriptionError {
    SubscriptionError::Invalid(ValidationErrors {
        errors: vec![FieldError {
            pointer: pointer.to_string(),
            message: message.into(),
        }],
    })
}

/// A format that has change pages: the built-in ones and the profiles that support changes
/// (Google Merchant feeds are snapshots only).
pub(super) fn parse_format(value: &Value) -> Result<Format, SubscriptionError> {
    let with_changes = || {
        Format::ALL
            .into_iter()
            .chain(Format::profiles())
            .filter(Format::has_changes)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let format = value.as_str().and_then(Format::parse).ok_or_else(|| {
        invalid(
            "/format",
            format!(
                "format must be a feed format with change pages: {}",
                with_changes()
            ),
        )
    })?;
    if !format.has_changes() {
        return Err(invalid(
            "/format",
            format!(
                "{} feeds are snapshots without change pages, so they cannot be pushed; \
                 subscribe with one of {} or pull the {} feed instead",
                format.as_str(),
                with_changes(),
                format.as_str()
            ),
        ));
    }
    Ok(format)
}

/// Checks a URL as given, and every address it resolves to, against the SSRF rules.
pub(super) async fn check_url(
    cx: &Context<'_>,
    value: &Value,
) -> Result<String, SubscriptionError> {
    let url = value
        .as_str()
        .map(|u| u.trim_matches(' '))
        .filter(|u| !u.is_empty() && u.len() <= URL_MAX)
        .ok_or_else(|| invalid("/url", "url is required: an https URL"))?;
    let invalid = |e: crate::webhooks::guard::GuardError| invalid("/url", e.to_string());
    let url = crate::webhooks::guard::normalize(url).map_err(invalid)?;
    client::check_url(&url, cx.webhook_allow)
        .await
        .map_err(invalid)?;
    Ok(url)
}

/// A digest's recipient.
pub(super) fn check_email(value: &Value) -> Result<String, SubscriptionError> {
    let email = value
        .as_str()
        .map(str::trim)
        .filter(|e| !e.is_empty() && e.len() <= EMAIL_MAX)
        .ok_or_else(|| invalid("/email", "email is required: an e-mail address"))?;
    crate::mail::check_address(email).map_err(|e| invalid("/email", e.to_string()))?;
    Ok(email.to_string())
}

/// A digest's period.
pub(super) fn parse_every(value: &Value) -> Result<Every, SubscriptionError> {
    value
        .as_str()
        .and_then(Every::parse)
        .ok_or_else(|| invalid("/every", "every is \"hourly\" or \"daily\""))
}

/// What a new subscription delivers to.
pub(super) enum Target {
    Webhook { url: String },
    Digest { email: String, every: Every },
}

/// `{url}` for a webhook or `{email, every?}` for a digest, never both.
pub(super) async fn target(
    cx: &Context<'_>,
    obj: &Map<String, Value>,
) -> Result<Target, SubscriptionError> {
    match (obj.get("url"), obj.get("email")) {
        (Some(_), Some(_)) => Err(invalid(
            "/email",
            "give url (a webhook) or email (an e-mail digest), not both",
        )),
        (None, Some(email)) => Ok(Target::Digest {
            email: check_email(email)?,
            every: obj
                .get("every")
                .map(parse_every)
                .transpose()?
                .unwrap_or(Every::Daily),
        }),
        (url, None) => {
            if obj.contains_key("every") {
                return Err(invalid(
                    "/every",
                    "every belongs to e-mail digests (with email), not to webhooks",
                ));
            }
            Ok(Target::Webhook {
                url: check_url(cx, url.unwrap_or(&Value::Null)).await?,
            })
        }
    }
}

pub(super) fn object<'a>(
    value: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, SubscriptionError> {
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("", "the body must be a JSON object"))?;
    let unknown: Vec<FieldError> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError {
            pointer: format!("/{k}"),
            message: format!("unknown field; allowed: {}", allowed.join(", ")),
        })
        .collect();
    if unknown.is_empty() {
        Ok(obj)
    } else {
        Err(SubscriptionError::Invalid(ValidationErrors {
            errors: unknown,
        }))
    }
}

/// Where `since` puts the cursor: `"start"`, a cursor of this channel, or (absent) now.
pub(super) fn since_seq(
    since: Option<&Value>,
    channel: &channels::ChannelRow,
    key: &[u8],
) -> Result<i64, SubscriptionError> {
    match since {
        None | Some(Value::Null) => Ok(channel.last_seq),
        Some(Value::String(s)) if s == "start" => Ok(0),
        Some(Value::String(s)) => {
            pull::since_seq(Some(s), channel, key).map_err(|e| invalid("/since", e.to_string()))
        }
        Some(_) => Err(invalid(
            "/since",
            "since is \"start\" or a cursor of this channel",
        )),
    }
}
