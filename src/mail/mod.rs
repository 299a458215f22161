//! E-mail: one `Mailer` trait over SMTP (lettre), a file outbox (`<data dir>/outbox/*.eml`,
//! the default) and memory (tests), and one template per mail. A mail is plain text, with
//! attachments (multipart/mixed) when it has any. No diesel, no actix.

mod templates;

pub use templates::{digest, endpoint_disabled, endpoint_failing};

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
    #[error("cannot write the outbox file: {0}")]
    File(#[from] std::io::Error),
    #[error("invalid SMTP URL: {0}")]
    Config(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Where mail goes. `send` returns once the transport has accepted the message.
pub trait Mailer: Send + Sync + 'static {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a>;
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

/// Checks an e-mail address (`local@domain`) as the mailer will need it.
pub fn check_address(address: &str) -> Result<(), MailError> {
    address
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| MailError::Address(format!("{address}: {e}")))
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
                &crate::tokens::hash(&crate::tokens::generate())[..8]
            );
            // Written under a temporary name and renamed, so a reader never sees half a mail.
            let tmp = self.dir.join(format!(".{name}.tmp"));
            crate::files::write_private(&tmp, &bytes)?;
            std::fs::rename(&tmp, self.dir.join(name))?;
            Ok(())
        })
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
            self.transport
                .send(message)
                .await
                .map_err(|e| MailError::Smtp(e.to_string()))?;
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
