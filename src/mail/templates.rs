//! One function per mail. Each names the endpoint URL in its body.

use super::{Attachment, Mail};

/// After several failed attempts in a row.
pub fn endpoint_failing(
    to: &str,
    subscription: &str,
    channel: &str,
    url: &str,
    failures: u32,
    last_error: &str,
) -> Mail {
    Mail {
        to: to.to_string(),
        subject: format!("[partnerfeed] Webhook deliveries to {url} are failing"),
        body: format!(
            "Hello,\n\n\
             The last {failures} attempts to deliver changes of channel {channel} to your webhook\n\
             endpoint failed.\n\n\
             Endpoint:      {url}\n\
             Subscription:  {subscription}\n\
             Last error:    {last_error}\n\n\
             partnerfeed keeps retrying on its schedule; nothing is lost meanwhile. If the\n\
             failures go on until the schedule is exhausted, the subscription will be disabled.\n\
             The delivery log is at GET /v1/subscriptions/{subscription}/attempts.\n"
        ),
        attachments: Vec::new(),
    }
}

/// When a subscription is disabled (schedule exhausted, or 410 Gone).
pub fn endpoint_disabled(
    to: &str,
    subscription: &str,
    channel: &str,
    url: &str,
    reason: &str,
) -> Mail {
    Mail {
        to: to.to_string(),
        subject: format!("[partnerfeed] Webhook subscription to {url} was disabled"),
        body: format!(
            "Hello,\n\n\
             Webhook deliveries of channel {channel} to your endpoint have been stopped.\n\n\
             Endpoint:      {url}\n\
             Subscription:  {subscription}\n\
             Reason:        {reason}\n\n\
             No change is lost: once the endpoint works again, call\n\
             POST /v1/subscriptions/{subscription}/enable and delivery resumes from where it\n\
             stopped, with the current state of everything that changed meanwhile.\n"
        ),
        attachments: Vec::new(),
    }
}

/// A digest: the changes of a channel since the previous digest, attached in the
/// subscription's format.
#[allow(clippy::too_many_arguments)]
pub fn digest(
    to: &str,
    subscription: &str,
    channel: &str,
    changes: i64,
    from: &str,
    until: &str,
    more: bool,
    attachment: Attachment,
) -> Mail {
    let more = if more {
        "\nMore changes follow in the next digest, which goes out right after this one.\n"
    } else {
        ""
    };
    Mail {
        to: to.to_string(),
        subject: format!("[partnerfeed] {changes} changes in channel {channel}"),
        body: format!(
            "Hello,\n\n\
             Attached ({file}) are the {changes} products of channel {channel} that changed since\n\
             the previous digest, each at its current state.\n\n\
             From cursor:   {from}\n\
             To cursor:     {until}\n\
             Subscription:  {subscription}\n{more}\n\
             The same changes are at GET /v1/channels/{channel}/changes?since={from}\n",
            file = attachment.filename,
        ),
        attachments: vec![attachment],
    }
}

/// When a digest is disabled because the mail transport refused it for good.
pub fn digest_disabled(
    to: &str,
    subscription: &str,
    channel: &str,
    recipient: &str,
    reason: &str,
) -> Mail {
    Mail {
        to: to.to_string(),
        subject: format!("[partnerfeed] E-mail digest to {recipient} was disabled"),
        body: format!(
            "Hello,\n\n\
             E-mail digests of channel {channel} to {recipient} have been stopped.\n\n\
             Subscription:  {subscription}\n\
             Reason:        {reason}\n\n\
             No change is lost: fix the address with PATCH /v1/subscriptions/{subscription}\n\
             (a new address is confirmed again) or call POST /v1/subscriptions/{subscription}/enable,\n\
             and digests resume from where they stopped.\n"
        ),
        attachments: Vec::new(),
    }
}

/// The confirmation of a new digest address: a one-time link, no catalog data.
pub fn confirm_digest(to: &str, reseller: &str, channel: &str, link: &str, days: i64) -> Mail {
    Mail {
        to: to.to_string(),
        subject: "[partnerfeed] Confirm e-mail digests to this address".to_string(),
        body: format!(
            "Hello,\n\n\
             The partner account {reseller} asked to send e-mail digests of its channel {channel}\n\
             to this address. Nothing is sent until the address is confirmed. To confirm, open\n\
             this link (valid {days} days, once) and press the button on its page:\n\n\
             {link}\n\n\
             If you did not expect this, ignore this mail: no digest will be sent.\n"
        ),
        attachments: Vec::new(),
    }
}

/// The notice of one withdrawal of access: the subscriptions it ended, `(id, channel, kind,
/// target)` each (the target is the webhook URL or the digest address).
pub fn access_ended(
    to: &str,
    reseller: &str,
    reason: &str,
    ended: &[(&str, &str, &str, &str)],
) -> Mail {
    let why = match reason {
        "channel_deleted" => "the channel was deleted",
        "reseller_deleted" => "your partner account was deleted",
        _ => "your access to the channel was withdrawn",
    };
    let lines: String = ended
        .iter()
        .map(|(id, channel, kind, target)| format!("  {id}  channel {channel}  {kind}  {target}\n"))
        .collect();
    Mail {
        to: to.to_string(),
        subject: format!(
            "[partnerfeed] {} subscription(s) of {reseller} ended",
            ended.len()
        ),
        body: format!(
            "Hello,\n\n\
             The following subscriptions of {reseller} ended because {why} ({reason}).\n\
             Nothing more is sent for them; they can be read and deleted, not resumed.\n\n\
             {lines}"
        ),
        attachments: Vec::new(),
    }
}
