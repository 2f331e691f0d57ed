//! The calls that open a stream (volume upload and download, screenshot, console): the driver answers with a
//! reply and the user end of a [`Stream`], which the server then carries as STREAM messages on the call's serial.

use super::*;
use crate::driver::Stream;

/// A stream a call opened, for the server to bridge to the wire.
pub struct OpenedStream {
    pub stream: Stream,
    /// Holes may travel (the call asked for a sparse stream).
    pub sparse: bool,
}

/// Answers `call` if it opens a stream; `None` passes it on.
pub(super) async fn open(
    driver: &Connection,
    call: &Call,
) -> Option<Result<(Reply, OpenedStream)>> {
    let opened = |stream, sparse| OpenedStream { stream, sparse };
    Some(match call {
        Call::StorageVolUpload(args) => driver
            .vol_upload(&args.vol, args.offset, args.length, args.flags)
            .await
            .map(|stream| {
                let sparse = args.flags & flags::VOL_UPLOAD_SPARSE_STREAM != 0;
                (Reply::StorageVolUpload(()), opened(stream, sparse))
            }),
        Call::StorageVolDownload(args) => driver
            .vol_download(&args.vol, args.offset, args.length, args.flags)
            .await
            .map(|stream| {
                let sparse = args.flags & flags::VOL_DOWNLOAD_SPARSE_STREAM != 0;
                (Reply::StorageVolDownload(()), opened(stream, sparse))
            }),
        Call::DomainScreenshot(args) => driver
            .domain_screenshot(&args.dom, args.screen, args.flags)
            .await
            .map(|(mime, stream)| {
                let ret = proto::ScreenshotRet { mime: Some(mime) };
                (Reply::DomainScreenshot(ret), opened(stream, false))
            }),
        Call::DomainOpenConsole(args) => driver
            .domain_open_console(&args.dom, args.dev_name.as_deref(), args.flags)
            .await
            .map(|stream| (Reply::DomainOpenConsole(()), opened(stream, false))),
        Call::DomainMigratePrepareTunnel3Params(args) => driver
            .domain_migrate_prepare_tunnel3_params(
                args.params.0.clone(),
                args.cookie_in.0.clone(),
                args.flags,
            )
            .await
            .map(|(cookie, stream)| {
                let ret = proto::MigrateCookieRet {
                    cookie_out: crate::rpc::xdr::Opaque(cookie),
                };
                (
                    Reply::DomainMigratePrepareTunnel3Params(ret),
                    opened(stream, false),
                )
            }),
        _ => return None,
    })
}
