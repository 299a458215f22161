//! E-mail: one `Mailer` trait over SMTP (lettre), a file outbox (`<data dir>/outbox/*.eml`,
//! the default) and memory (tests), and one template per mail. A mail is plain text, with
//! attachments (multipart/mixed) when it has any. No diesel, no actix.

mod templates;

pub use templates::{
    access_ended, confirm_digest, digest, digest_disabled, endpoint_disabled, endpoint_failing,
};

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment as Part, Body, Mailbox, Message, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Default sender address.
pub const DEFAULT_FROM: &str = "partnerfeed <partnerfeed@localhost>";

/// One plain-text mail, with its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
}

/// A file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("the SMTP server refused or failed: {0}")]
    Smtp(String),
    #[error("the SMTP server refused the message for good: {0}")]
    Refused(String),
    #[error("cannot write the outbox file: {0}")]
    File(#[from] std::io::Error),
    #[error("invalid SMTP URL: {0}")]
    Config(String),
}

impl MailError {
    /// Whether sending the same message again cannot succeed: an address the mailer cannot
    /// use, a message it cannot build, or a permanent (5xx) SMTP refusal.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            MailError::Address(_) | MailError::Build(_) | MailError::Refused(_)
        )
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Where mail goes. `send` returns once the transport has accepted the message.
pub trait Mailer: Send + Sync + 'static {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a>;

    /// The directory the mails are written to, for a mailer that keeps them (the file
    /// outbox); the console shows the latest ones' subjects.
    fn outbox(&self) -> Option<&std::path::Path> {
        None
    }
}

/// The subjects of the latest `limit` mails of an outbox directory, newest first, with their
/// file names (which start with the time written). Reads only each file's header.
pub fn latest_subjects(dir: &std::path::Path, limit: usize) -> Vec<(String, String)> {
    use std::io::Read;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names.truncate(limit);
    names
        .into_iter()
        .map(|name| {
            let mut head = Vec::new();
            if let Ok(f) = std::fs::File::open(dir.join(&name)) {
                let _ = f.take(16 * 1024).read_to_end(&mut head);
            }
            let head = String::from_utf8_lossy(&head);
            let subject = head
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_string();
            (name, subject)
        })
        .collect()
}

fn message(from: &str, mail: &Mail) -> Result<Message, MailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| MailError::Address(format!("{from}: {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| MailError::Address(format!("{}: {e}", mail.to)))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone());
    let built = if mail.attachments.is_empty() {
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
    } else {
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
        for a in &mail.attachments {
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|e| MailError::Build(format!("{}: {e}", a.content_type)))?;
            // Base64 whatever the content: CSV's CRLF line ends and long lines arrive intact.
            let body = Body::new_with_encoding(a.bytes.clone(), ContentTransferEncoding::Base64)
                .map_err(|_| MailError::Build(format!("cannot encode {}", a.filename)))?;
            parts = parts.singlepart(Part::new(a.filename.clone()).body(body, content_type));
        }
        builder.multipart(parts)
    };
    built.map_err(|e| MailError::Build(e.to_string()))
}

/// Checks a recipient address (`local@domain`) with the parser the sender uses (lettre's
/// `Mailbox`, as [`message`] parses `Mail::to`), and refuses what the sender would parse but
/// must not mail catalog data to: display names or anything but the bare address, domain
/// literals (`x@[10.0.0.1]`), IP addresses without brackets (`x@10.0.0.1`) and single-label
/// domains (`x@localhost`).
pub fn check_address(address: &str) -> Result<(), MailError> {
    let refuse = |why: &str| Err(MailError::Address(format!("{address}: {why}")));
    let mailbox: Mailbox = match address.parse() {
        Ok(m) => m,
        Err(e) => return refuse(&format!("the mailer cannot send to it ({e})")),
    };
    if mailbox.name.is_some() || mailbox.email.to_string() != address {
        return refuse("give the bare address, like it@shop.example");
    }
    let domain = mailbox.email.domain();
    if domain.starts_with('[') {
        return refuse("a domain literal (an IP address) is not accepted");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return refuse("the domain must be a fully qualified name, like shop.example");
    }
    // An IPv4 address without brackets (`x@10.0.0.1`) parses as a domain, and mail servers
    // deliver to the address it names: no real top-level domain is all digits.
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return refuse("an IP address is not accepted as the domain");
    }
    // The bytes the SMTP envelope will carry: no whitespace, quotes or control characters.
    let user = mailbox.email.user();
    if user.starts_with('"') || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("the mailer cannot send to a quoted or spaced local part");
    }
    Ok(())
}

/// Writes each message as an RFC 5322 `.eml` file into a directory.
pub struct FileMailer {
    dir: PathBuf,
    from: String,
}

impl FileMailer {
    pub fn new(dir: PathBuf, from: &str) -> FileMailer {
        FileMailer {
            dir,
            from: from.to_string(),
        }
    }
}

impl Mailer for FileMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            let bytes = message(&self.from, mail)?.formatted();
            crate::files::private_dir(&self.dir)?;
            let name = format!(
                "{}-{}.eml",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
                crate::random::hex(8)
            );
            // Written under a temporary name and renamed, so a reader never sees half a mail.
            let tmp = self.dir.join(format!(".{name}.tmp"));
            crate::files::write_private(&tmp, &bytes)?;
            std::fs::rename(&tmp, self.dir.join(name))?;
            Ok(())
        })
    }

    fn outbox(&self) -> Option<&std::path::Path> {
        Some(&self.dir)
    }
}

/// Sends over SMTP: `smtp://host:port` (STARTTLS when offered is not forced; add
/// `?tls=required` to force it) or `smtps://user:pass@host` (TLS from the start).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        Ok(SmtpMailer {
            transport,
            from: from.to_string(),
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            let message = message(&self.from, mail)?;
            self.transport.send(message).await.map_err(|e| {
                if e.is_permanent() {
                    MailError::Refused(e.to_string())
                } else {
                    MailError::Smtp(e.to_string())
                }
            })?;
            Ok(())
        })
    }
}

/// Keeps messages in memory; for tests.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Mail>>,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Mailer for MemoryMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            self.sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(mail.clone());
            Ok(())
        })
    }
}

/// The mailer the configuration asks for: SMTP when a URL is given, else the outbox directory.
pub fn from_config(
    smtp_url: Option<&str>,
    outbox: PathBuf,
    from: &str,
) -> Result<Arc<dyn Mailer>, MailError> {
    // Refuse a bad sender at start rather than at the first alert.
    from.parse::<Mailbox>()
        .map_err(|e| MailError::Address(format!("{from}: {e}")))?;
    Ok(match smtp_url.filter(|u| !u.is_empty()) {
        Some(url) => Arc::new(SmtpMailer::new(url, from)?),
        None => Arc::new(FileMailer::new(outbox, from)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_address_written_as_a_domain_is_refused() {
        // Without brackets an IPv4 address parses as a domain, and mail servers deliver to
        // the address it names; no real domain has an all-numeric top-level label.
        for bad in ["x@127.0.0.1", "x@10.0.0.1", "x@169.254.169.254", "x@a.123"] {
            assert!(check_address(bad).is_err(), "{bad} was accepted");
        }
        check_address("x@1.2.3.4.example").unwrap();
    }

    #[test]
    fn recipients_the_sender_cannot_or_must_not_mail_are_refused() {
        for bad in [
            "x@[10.0.0.1]",
            "x@localhost",
            "\"x y\"@a.example",
            "x y@a.example",
            "Shop <x@a.example>",
            "x@a..example",
            "not an address",
        ] {
            assert!(check_address(bad).is_err(), "{bad} was accepted");
        }
        for good in ["it@shop-1.example", "digest+fr@mail.shop.example"] {
            check_address(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }
}
