//! XML Schema validation and well-formedness checks in-process, through the system's libxml2
//! (the library behind `xmllint`), for partnerfeed's tests. The few libxml2 functions used are
//! declared by hand: no bindgen, so nothing beyond libxml2 itself is needed to build.
//!
//! Network access is disabled while parsing documents and schemas (`XML_PARSE_NONET`); a schema
//! is read from a file so that its relative `xsd:import`s and `xsd:include`s resolve.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::Once;

#[repr(C)]
struct XmlError {
    domain: c_int,
    code: c_int,
    message: *const c_char,
    level: c_int,
    file: *const c_char,
    line: c_int,
}

type StructuredErrorFunc = unsafe extern "C" fn(user: *mut c_void, error: *const XmlError);

#[link(name = "xml2")]
extern "C" {
    fn xmlInitParser();
    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<StructuredErrorFunc>);
    fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut c_void;
    fn xmlFreeDoc(doc: *mut c_void);
    fn xmlSchemaNewParserCtxt(url: *const c_char) -> *mut c_void;
    fn xmlSchemaSetParserStructuredErrors(
        ctxt: *mut c_void,
        handler: Option<StructuredErrorFunc>,
        ctx: *mut c_void,
    );
    fn xmlSchemaParse(ctxt: *mut c_void) -> *mut c_void;
    fn xmlSchemaFreeParserCtxt(ctxt: *mut c_void);
    fn xmlSchemaFree(schema: *mut c_void);
    fn xmlSchemaNewValidCtxt(schema: *mut c_void) -> *mut c_void;
    fn xmlSchemaSetValidStructuredErrors(
        ctxt: *mut c_void,
        handler: Option<StructuredErrorFunc>,
        ctx: *mut c_void,
    );
    fn xmlSchemaValidateDoc(ctxt: *mut c_void, doc: *mut c_void) -> c_int;
    fn xmlSchemaFreeValidCtxt(ctxt: *mut c_void);
}

/// `XML_PARSE_NONET`: never fetch anything over the network.
const PARSE_NONET: c_int = 1 << 11;
/// `XML_ERR_WARNING`: levels above it are errors.
const LEVEL_WARNING: c_int = 1;

fn init() {
    static INIT: Once = Once::new();
    // SAFETY: xmlInitParser is meant to be called once before any other use, from any thread.
    INIT.call_once(|| unsafe { xmlInitParser() });
}

/// Collects libxml2's errors as `file:line: message` lines.
unsafe extern "C" fn collect(user: *mut c_void, error: *const XmlError) {
    if user.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `user` is the `Vec<String>` handed to libxml2 by this module for the duration of
    // the call that reports into it; `error` is valid for the duration of this callback.
    let (errors, error) = unsafe { (&mut *(user as *mut Vec<String>), &*error) };
    if error.level <= LEVEL_WARNING {
        return;
    }
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: libxml2 passes NUL-terminated strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let file = text(error.file);
    let message = text(error.message);
    errors.push(format!(
        "{}:{}: {}",
        if file.is_empty() { "-" } else { &file },
        error.line,
        message.trim_end()
    ));
}

/// A parsed document, freed on drop.
struct Doc(*mut c_void);

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xmlReadMemory and is freed once.
        unsafe { xmlFreeDoc(self.0) }
    }
}

fn parse(doc: &[u8]) -> Result<Doc, Vec<String>> {
    init();
    let size = c_int::try_from(doc.len()).map_err(|_| vec!["document too large".to_string()])?;
    let mut errors: Vec<String> = Vec::new();
    // SAFETY: the buffer outlives the call; the error sink is this thread's and is reset before
    // `errors` goes out of scope (libxml2's global error handler is per thread).
    let ptr = unsafe {
        xmlSetStructuredErrorFunc(
            &mut errors as *mut Vec<String> as *mut c_void,
            Some(collect),
        );
        let ptr = xmlReadMemory(
            doc.as_ptr() as *const c_char,
            size,
            c"document.xml".as_ptr(),
            std::ptr::null(),
            PARSE_NONET,
        );
        xmlSetStructuredErrorFunc(std::ptr::null_mut(), None);
        ptr
    };
    if ptr.is_null() {
        if errors.is_empty() {
            errors.push("the document is not well-formed XML".into());
        }
        return Err(errors);
    }
    let doc = Doc(ptr);
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

/// Whether `doc` is well-formed XML; the parser's errors otherwise.
pub fn well_formed(doc: &[u8]) -> Result<(), Vec<String>> {
    parse(doc).map(|_| ())
}

/// A compiled XML Schema.
pub struct Schema(*mut c_void);

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xmlSchemaParse and is freed once.
        unsafe { xmlSchemaFree(self.0) }
    }
}

impl Schema {
    /// Reads and compiles the schema at `path` with everything it imports.
    pub fn from_file(path: &Path) -> Result<Schema, Vec<String>> {
        init();
        let c_path = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| vec![format!("{}: a path with a NUL byte", path.display())])?;
        let mut errors: Vec<String> = Vec::new();
        // SAFETY: every pointer is checked; the error sink outlives the parser context, which
        // is freed before `errors` goes out of scope.
        let schema = unsafe {
            let ctxt = xmlSchemaNewParserCtxt(c_path.as_ptr());
            if ctxt.is_null() {
                return Err(vec![format!("{}: cannot open the schema", path.display())]);
            }
            let sink = &mut errors as *mut Vec<String> as *mut c_void;
            xmlSchemaSetParserStructuredErrors(ctxt, Some(collect), sink);
            xmlSetStructuredErrorFunc(sink, Some(collect));
            let schema = xmlSchemaParse(ctxt);
            xmlSetStructuredErrorFunc(std::ptr::null_mut(), None);
            xmlSchemaFreeParserCtxt(ctxt);
            schema
        };
        if schema.is_null() {
            if errors.is_empty() {
                errors.push(format!("{}: the schema does not compile", path.display()));
            }
            return Err(errors);
        }
        Ok(Schema(schema))
    }

    /// Validates `doc` against the schema: `Err` carries every error libxml2 reported.
    pub fn validate(&self, doc: &[u8]) -> Result<(), Vec<String>> {
        let doc = parse(doc)?;
        let mut errors: Vec<String> = Vec::new();
        // SAFETY: the schema and document are alive for the call; the validation context is
        // freed before `errors` goes out of scope.
        let rc = unsafe {
            let ctxt = xmlSchemaNewValidCtxt(self.0);
            if ctxt.is_null() {
                return Err(vec!["cannot make a validation context".into()]);
            }
            xmlSchemaSetValidStructuredErrors(
                ctxt,
                Some(collect),
                &mut errors as *mut Vec<String> as *mut c_void,
            );
            let rc = xmlSchemaValidateDoc(ctxt, doc.0);
            xmlSchemaFreeValidCtxt(ctxt);
            rc
        };
        match rc {
            0 => Ok(()),
            _ if !errors.is_empty() => Err(errors),
            rc => Err(vec![format!("validation failed (libxml2 code {rc})")]),
        }
    }
}

/// Validates `doc` against the schema file `xsd`.
pub fn validate(xsd: &Path, doc: &[u8]) -> Result<(), Vec<String>> {
    Schema::from_file(xsd)?.validate(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XSD: &str = r#"<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="note"><xs:complexType><xs:sequence>
    <xs:element name="to" type="xs:string"/>
    <xs:element name="n" type="xs:positiveInteger"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"#;

    fn schema() -> (tempfile_like::Dir, Schema) {
        let dir = tempfile_like::Dir::new();
        let path = dir.0.join("note.xsd");
        std::fs::write(&path, XSD).expect("write the schema");
        let schema = Schema::from_file(&path).expect("the schema compiles");
        (dir, schema)
    }

    #[test]
    fn valid_documents_pass_and_invalid_ones_are_named() {
        let (_dir, schema) = schema();
        assert_eq!(schema.validate(b"<note><to>a</to><n>3</n></note>"), Ok(()));
        let errors = schema
            .validate(b"<note><to>a</to><n>-3</n></note>")
            .expect_err("a negative positiveInteger");
        assert!(errors.iter().any(|e| e.contains("'n'")), "{errors:?}");
        let errors = schema
            .validate(b"<note><n>3</n></note>")
            .expect_err("a missing element");
        assert!(errors.iter().any(|e| e.contains("to")), "{errors:?}");
    }

    #[test]
    fn malformed_documents_and_schemas_fail() {
        let (_dir, schema) = schema();
        assert!(schema.validate(b"<note><to>a</note>").is_err());
        assert!(well_formed(b"<a><b/></a>").is_ok());
        assert!(well_formed(b"<a><b></a>").is_err());
        assert!(Schema::from_file(Path::new("/nonexistent/x.xsd")).is_err());
    }

    #[test]
    fn validates_from_many_threads() {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    let (_dir, schema) = schema();
                    let ok = format!("<note><to>{i}</to><n>{}</n></note>", i + 1);
                    assert_eq!(schema.validate(ok.as_bytes()), Ok(()));
                    assert!(schema.validate(b"<note/>").is_err());
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    }

    /// A temporary directory without a dependency.
    mod tempfile_like {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "xsd-check-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).expect("temp dir");
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
