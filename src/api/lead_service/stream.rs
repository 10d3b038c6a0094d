//! The rows of a streamed import, one client message at a time.

use futures_util::{Stream, StreamExt, stream};
use tonic::{Status, Streaming};

use crate::api::convert::import;
use crate::domain::lead::LeadFields;
use crate::proto::ImportLeadsStreamRequest;

/// The rows of every message: the `first`, already read (it names the target), then the rest.
/// A message is read only when its rows are asked for, so HTTP/2 flow control holds a fast
/// sender back while a chunk is written.
pub fn rows(
    first: Option<ImportLeadsStreamRequest>,
    rest: Streaming<ImportLeadsStreamRequest>,
) -> impl Stream<Item = Result<Vec<LeadFields>, Status>> {
    stream::iter(first.map(Ok))
        .chain(rest)
        .enumerate()
        .map(|(index, message)| {
            message.and_then(|message| import::chunk_rows(index, message).map_err(Status::from))
        })
}
