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
