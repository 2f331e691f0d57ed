//! CIM-XML (DSP0201) codec, sans I/O: operation requests parsed from bytes into typed calls (`request`),
//! operation responses written as XML text (`response`), over a capped element tree (`tree`) that refuses
//! DTDs and unknown entities and caps depth, element count, attributes per element and text size before
//! building anything large; `error` holds what the parts share, the decode error and the caps.

mod error;
mod request;
mod response;
mod tree;

pub use error::{CallId, CimXmlError, Limits};
pub use request::{
    message_id_span, parse_embedded_object, parse_request, Call, IntrinsicOp, ParamValue, Request,
};
pub use response::{
    write_class, write_envelope_open, write_imethod_element, write_imethod_list_open,
    write_imethod_response, write_instance, write_ireturn_items, write_method_response, CimError,
    IReturn, MethodReturn, PullItems, PullResult, WordHash, WriteOptions, ENVELOPE_CLOSE,
    IMETHOD_LIST_CLOSE,
};
