//! The CIM-XML export message (DSP0201 `EXPMETHODCALL ExportIndication`, DSP0200 export headers), sans I/O:
//! the request body carrying one indication, and the verdict on a listener's answer.

use crate::cim::Instance;
use crate::wbem::cimxml::{write_instance, WriteOptions};

/// The export headers of DSP0200 §7 (besides Content-Type and Content-Length).
pub const EXPORT_HEADERS: [(&str, &str); 2] = [
    ("CIMExport", "MethodRequest"),
    ("CIMExportMethod", "ExportIndication"),
];

pub const CONTENT_TYPE: &str = "application/xml; charset=\"utf-8\"";

/// The body of an ExportIndication request carrying `indication`.
pub fn export_request(message_id: u64, indication: &Instance) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n");
    out.push_str("<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.4\"><MESSAGE ID=\"");
    out.push_str(&message_id.to_string());
    out.push_str(
        "\" PROTOCOLVERSION=\"1.0\"><SIMPLEEXPREQ><EXPMETHODCALL NAME=\"ExportIndication\">",
    );
    out.push_str("<EXPPARAMVALUE NAME=\"NewIndication\">");
    write_instance(&mut out, indication, WriteOptions::default());
    out.push_str("</EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ></MESSAGE></CIM>");
    out
}

/// Why a listener's answer is not an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportRefused {
    #[error("listener answered HTTP {0}")]
    Http(u16),
    #[error("listener answered CIM error {code}: {description}")]
    Cim { code: u32, description: String },
    #[error("listener's answer is no export response")]
    NotAnExportResponse,
}

/// Whether a listener acknowledged the indication: HTTP 200 with an `EXPMETHODRESPONSE` that holds no `ERROR`.
pub fn check_export_response(status: u16, body: &str) -> Result<(), ExportRefused> {
    if status != 200 {
        return Err(ExportRefused::Http(status));
    }
    if !body.contains("<EXPMETHODRESPONSE") {
        return Err(ExportRefused::NotAnExportResponse);
    }
    if let Some(at) = body.find("<ERROR") {
        let rest = &body[at..];
        let attr = |name: &str| -> Option<String> {
            let start = rest.find(&format!("{name}=\""))? + name.len() + 2;
            let end = rest[start..].find('"')? + start;
            Some(rest[start..end].to_owned())
        };
        return Err(ExportRefused::Cim {
            code: attr("CODE").and_then(|c| c.parse().ok()).unwrap_or(1),
            description: attr("DESCRIPTION").unwrap_or_default(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cim::Value;

    #[test]
    fn the_request_carries_the_indication_with_its_embedded_instance() {
        let mut source = Instance::new("KVM_ComputerSystem");
        source.set("Name", Value::String("a<b".into()));
        let mut ind = Instance::new("KVM_ComputerSystemCreatedIndication");
        ind.set("SourceInstance", Value::Instance(Box::new(source)));
        let body = export_request(7, &ind);
        assert!(body.contains("<MESSAGE ID=\"7\" PROTOCOLVERSION=\"1.0\"><SIMPLEEXPREQ>"));
        assert!(body.contains("<EXPMETHODCALL NAME=\"ExportIndication\"><EXPPARAMVALUE NAME=\"NewIndication\"><INSTANCE CLASSNAME=\"KVM_ComputerSystemCreatedIndication\">"));
        // The embedded instance is escaped text, its own text escaped once more.
        assert!(
            body.contains("&lt;INSTANCE CLASSNAME=&quot;KVM_ComputerSystem&quot;&gt;"),
            "{body}"
        );
        assert!(body.contains("a&amp;lt;b"), "{body}");
        assert!(body.ends_with("</EXPMETHODCALL></SIMPLEEXPREQ></MESSAGE></CIM>"));
    }

    #[test]
    fn answers_are_judged() {
        let ok = "<?xml version=\"1.0\" ?><CIM><MESSAGE ID=\"1\"><SIMPLEEXPRSP>\
                  <EXPMETHODRESPONSE NAME=\"ExportIndication\"/></SIMPLEEXPRSP></MESSAGE></CIM>";
        assert_eq!(check_export_response(200, ok), Ok(()));
        assert_eq!(
            check_export_response(500, ok),
            Err(ExportRefused::Http(500))
        );
        assert_eq!(
            check_export_response(200, "<html/>"),
            Err(ExportRefused::NotAnExportResponse)
        );
        let err = "<CIM><MESSAGE><SIMPLEEXPRSP><EXPMETHODRESPONSE NAME=\"ExportIndication\">\
                   <ERROR CODE=\"1\" DESCRIPTION=\"Indication queue is full\"/></EXPMETHODRESPONSE>";
        assert_eq!(
            check_export_response(200, err),
            Err(ExportRefused::Cim {
                code: 1,
                description: "Indication queue is full".into()
            })
        );
    }
}
