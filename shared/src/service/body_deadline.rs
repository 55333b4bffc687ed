//! A deadline for request bodies. actix times out the request head only
//! (`client_request_timeout`): a client that announces a body and sends it a byte at a time
//! would otherwise hold its connection, and a file descriptor, for as long as it likes.
//! Here the whole body must arrive within the configured time of the head; a slower one ends
//! the request with an empty 408 that closes the connection (the JSON error handler around
//! this middleware gives it its body).

use std::cell::Cell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::Stream;
use futures_util::future::LocalBoxFuture;
use tokio::time::{Instant, Sleep};

/// The middleware: `App::new().wrap(BodyDeadline::new(timeout))`.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    timeout: Duration,
}

impl BodyDeadline {
    pub fn new(timeout: Duration) -> Self {
        BodyDeadline { timeout }
    }
}

impl<S> Transform<S, ServiceRequest> for BodyDeadline
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = Error> + 'static,
{
    type Response = ServiceResponse;
    type Error = Error;
    type Transform = BodyDeadlineService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BodyDeadlineService {
            service: Rc::new(service),
            timeout: self.timeout,
        }))
    }
}

#[derive(Debug)]
pub struct BodyDeadlineService<S> {
    service: Rc<S>,
    timeout: Duration,
}

impl<S> Service<ServiceRequest> for BodyDeadlineService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = Error> + 'static,
{
    type Response = ServiceResponse;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse, Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if !has_body(&req) {
            // Most requests (every GET of the API) carry none: no timer, no allocation.
            return Box::pin(self.service.call(req));
        }
        let expired = Rc::new(Cell::new(false));
        let payload = TimedPayload {
            inner: req.take_payload(),
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + self.timeout)),
            expired: expired.clone(),
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(payload),
        });
        let service = self.service.clone();
        Box::pin(async move {
            let res = service.call(req).await?;
            if !expired.get() {
                return Ok(res);
            }
            // Whatever the handler made of the failed read (a 400 from an extractor), the
            // answer is a timeout, and the rest of the body is not worth waiting for.
            log::info!("request body not received in time");
            let response = HttpResponse::RequestTimeout().force_close().finish();
            Ok(res.into_response(response))
        })
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The request's payload, cut off with an error once the deadline passes.
struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.get() {
            return Poll::Ready(None);
        }
        // What has arrived is delivered first: a body complete in time is never cut.
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body timed out",
            )))));
        }
        Poll::Pending
    }
}
