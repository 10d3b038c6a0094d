//! The gRPC edge: one file per service. Requests become validated domain values here, one
//! use case of `service` does the work, and its result maps back to proto. No SQL here.

mod assignment_service;
pub mod auth;
mod availability_service;
mod calendar_service;
pub mod convert;
pub mod deadline;
mod event_cursor;
mod event_service;
pub mod identity;
mod lead_service;
mod page_token;
mod pool_service;
mod recycle_service;
mod report_service;
pub mod status;
pub mod web;
pub mod wire_errors;

pub use assignment_service::AssignmentApi;
pub use availability_service::AvailabilityApi;
pub use calendar_service::CalendarApi;
pub use event_service::EventApi;
pub use lead_service::LeadApi;
pub use pool_service::PoolApi;
pub use recycle_service::RecycleApi;
pub use report_service::ReportApi;

pub use crate::service::Context;

use crate::domain::DomainError;
use crate::domain::access::Actor;

/// What a handler answers: the response, or the status its refusal or failure maps to.
type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

/// One unary call the way every handler runs it: the caller the auth layer settled, the request
/// validated whole by `parse` before any work starts, one use case, and `respond` mapping its
/// result (the caller is passed on, since some responses show leads as the caller may see them).
async fn unary<Req, Command, Out, Resp>(
    ctx: &Context,
    request: tonic::Request<Req>,
    parse: impl FnOnce(&Req) -> Result<Command, DomainError>,
    run: impl AsyncFnOnce(&Context, &Actor, Command) -> Result<Out, DomainError>,
    respond: impl FnOnce(&Actor, Out) -> Resp,
) -> Reply<Resp> {
    let actor = auth::actor(&request)?;
    let command = parse(request.get_ref())?;
    let out = run(ctx, &actor, command).await?;
    Ok(tonic::Response::new(respond(&actor, out)))
}
