//! CalendarService: a tenant's business calendars.

use tonic::{Request, Response};

use crate::api::Reply;
use crate::api::convert::calendar as convert;
use crate::api::convert::id;
use crate::api::{auth, unary};
use crate::domain::access::Actor;
use crate::proto::calendar_service_server::CalendarService;
use crate::proto::{
    CreateCalendarRequest, CreateCalendarResponse, DeleteCalendarRequest, DeleteCalendarResponse,
    GetCalendarRequest, GetCalendarResponse, ListCalendarsRequest, ListCalendarsResponse,
    PreviewDeadlinesRequest, PreviewDeadlinesResponse, UpdateCalendarRequest,
    UpdateCalendarResponse,
};
use crate::service::Context;
use crate::service::{calendars, preview};

pub struct CalendarApi {
    ctx: Context,
}

impl CalendarApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl CalendarService for CalendarApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreateCalendar"))]
    async fn create_calendar(
        &self,
        request: Request<CreateCalendarRequest>,
    ) -> Reply<CreateCalendarResponse> {
        let parse = convert::parse_create;
        let respond = |_: &Actor, named| CreateCalendarResponse {
            calendar: Some(convert::calendar(named)),
        };
        unary(&self.ctx, request, parse, calendars::create, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetCalendar"))]
    async fn get_calendar(
        &self,
        request: Request<GetCalendarRequest>,
    ) -> Reply<GetCalendarResponse> {
        let parse = |r: &GetCalendarRequest| id("calendar_id", &r.calendar_id);
        let respond = |_: &Actor, named| GetCalendarResponse {
            calendar: Some(convert::calendar(named)),
        };
        unary(&self.ctx, request, parse, calendars::get, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListCalendars"))]
    async fn list_calendars(
        &self,
        request: Request<ListCalendarsRequest>,
    ) -> Reply<ListCalendarsResponse> {
        let actor = auth::actor(&request)?;
        let (after, page) = convert::list_query(request.get_ref())?;
        let listed = calendars::list(&self.ctx, &actor, after, page).await?;
        Ok(Response::new(convert::list_response(listed, page)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateCalendar"))]
    async fn update_calendar(
        &self,
        request: Request<UpdateCalendarRequest>,
    ) -> Reply<UpdateCalendarResponse> {
        let parse = convert::parse_update;
        let respond = |_: &Actor, updated| convert::update_response(updated);
        unary(&self.ctx, request, parse, calendars::update, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteCalendar"))]
    async fn delete_calendar(
        &self,
        request: Request<DeleteCalendarRequest>,
    ) -> Reply<DeleteCalendarResponse> {
        let parse = convert::parse_delete;
        let respond = |_: &Actor, ()| DeleteCalendarResponse {};
        unary(&self.ctx, request, parse, calendars::delete, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "PreviewDeadlines"))]
    async fn preview_deadlines(
        &self,
        request: Request<PreviewDeadlinesRequest>,
    ) -> Reply<PreviewDeadlinesResponse> {
        let parse = convert::parse_preview;
        let respond = |_: &Actor, preview| convert::preview_response(preview);
        unary(
            &self.ctx,
            request,
            parse,
            preview::preview_deadlines,
            respond,
        )
        .await
    }
}
