//! CalendarService: a tenant's business calendars.

use tonic::{Request, Response};

use crate::api::Reply;
use crate::api::auth;
use crate::api::convert::calendar as convert;
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
        let actor = auth::actor(&request)?;
        let command = convert::parse_create(request.get_ref())?;
        let named = calendars::create(&self.ctx, &actor, command).await?;
        let calendar = Some(convert::calendar(named));
        Ok(Response::new(CreateCalendarResponse { calendar }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetCalendar"))]
    async fn get_calendar(
        &self,
        request: Request<GetCalendarRequest>,
    ) -> Reply<GetCalendarResponse> {
        let actor = auth::actor(&request)?;
        let calendar_id = convert::calendar_id(&request.get_ref().calendar_id)?;
        let named = calendars::get(&self.ctx, &actor, calendar_id).await?;
        let calendar = Some(convert::calendar(named));
        Ok(Response::new(GetCalendarResponse { calendar }))
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
        let actor = auth::actor(&request)?;
        let command = convert::parse_update(request.get_ref())?;
        let updated = calendars::update(&self.ctx, &actor, command).await?;
        Ok(Response::new(convert::update_response(updated)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteCalendar"))]
    async fn delete_calendar(
        &self,
        request: Request<DeleteCalendarRequest>,
    ) -> Reply<DeleteCalendarResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::parse_delete(request.get_ref())?;
        calendars::delete(&self.ctx, &actor, command).await?;
        Ok(Response::new(DeleteCalendarResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc = "PreviewDeadlines"))]
    async fn preview_deadlines(
        &self,
        request: Request<PreviewDeadlinesRequest>,
    ) -> Reply<PreviewDeadlinesResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::parse_preview(request.get_ref())?;
        let preview = preview::preview_deadlines(&self.ctx, &actor, command).await?;
        Ok(Response::new(convert::preview_response(preview)))
    }
}
