//! DRF's `PageNumberPagination` for the lists under `/api/`: `?page=N` (1-based) and
//! `?page_size=` up to a maximum, answered as `{"count", "next", "previous", "results"}` with
//! absolute `next`/`previous` links, so no list answer grows with the table.
//!
//! Where DRF is lenient, we follow it: a `page_size` above the maximum gets the maximum, and
//! any other query parameter is carried into the links. Where it would silently fall back we
//! answer an error instead, so the OpenAPI document can say exactly what is accepted: a
//! `page` that is not a page of the list is a 404 `{"detail": "Invalid page."}` (as DRF), a
//! `page_size` that is not a positive integer is a 400 (DRF would use the default size).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::{Connection as _, QueryResult};
use serde::Serialize;
use shared::oauth2::provider::Provider;
use shared::storage::db::{Connection, Db};

use super::error::ApiError;
use super::{PublicUrl, base_url};
use crate::settings::ApiSettings;

/// The query parameters that choose the page.
pub const PAGE: &str = "page";
pub const PAGE_SIZE: &str = "page_size";

/// `?page=` and `?page_size=` as the OpenAPI document describes them; [`PageRequest::parse`]
/// reads them.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "only its description is used")]
pub struct PageParams {
    /// 1-based page number; a page past the last is a 404 `Invalid page.`
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Objects per page (default `PAGE_SIZE`); above `MAX_PAGE_SIZE` gets `MAX_PAGE_SIZE`.
    #[param(minimum = 1)]
    page_size: Option<i64>,
}

/// Which page a list request asks for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// 1-based; not yet checked against the list's length (see [`PageRequest::check`]).
    page: i64,
    size: i64,
    /// The query's other parameters, `page_size` included, kept for the links.
    others: Vec<(String, String)>,
}

/// One page of a list, as DRF answers it.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A list request: its query string, read only when [`Listing::answer`] is called (after the
/// caller is checked), and what answering needs: the public URL, the database, the settings.
#[derive(Debug)]
pub struct Listing {
    query: String,
    public_url: PublicUrl,
    provider: web::Data<Provider>,
    settings: web::Data<ApiSettings>,
}

impl FromRequest for Listing {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        fn data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, actix_web::Error> {
            req.app_data::<web::Data<T>>().cloned().ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("the service is not configured")
            })
        }
        let mut listing = || {
            Ok(Listing {
                query: req.query_string().to_owned(),
                public_url: PublicUrl::from_request(req, payload).into_inner()?,
                provider: data(req)?,
                settings: data(req)?,
            })
        };
        ready(listing())
    }
}

impl Listing {
    /// The page asked for of the list at `/api/<name>/`: `count` and `load` as in
    /// [`read_page`], each row rendered by `render(row, base_url)`.
    pub async fn answer<R, T, C, L>(
        self,
        name: &str,
        count: C,
        load: L,
        render: impl Fn(R, &str) -> T,
    ) -> Result<HttpResponse, ApiError>
    where
        R: Send + 'static,
        T: Serialize,
        C: FnOnce(&mut Connection) -> QueryResult<i64> + Send + 'static,
        L: FnOnce(&mut Connection, i64, i64) -> QueryResult<Vec<R>> + Send + 'static,
    {
        let wanted = PageRequest::parse(&self.query, &self.settings)?;
        let (count, rows) = read_page(&self.provider.db, &wanted, count, load).await?;
        let base = base_url(&self.public_url);
        let results: Vec<T> = rows.into_iter().map(|row| render(row, base)).collect();
        let list_url = format!("{base}/api/{name}/");
        Ok(HttpResponse::Ok().json(wanted.page(count, results, &list_url)))
    }
}

/// Reads the page `wanted` of a list in one read transaction, so that the count and the rows
/// agree: `count` counts the whole list, `load(conn, limit, offset)` reads the page's rows in
/// the list's order. A page past the end is [`ApiError::InvalidPage`].
async fn read_page<R, C, L>(
    db: &Db,
    wanted: &PageRequest,
    count: C,
    load: L,
) -> Result<(i64, Vec<R>), ApiError>
where
    R: Send + 'static,
    C: FnOnce(&mut Connection) -> QueryResult<i64> + Send + 'static,
    L: FnOnce(&mut Connection, i64, i64) -> QueryResult<Vec<R>> + Send + 'static,
{
    let query = wanted.clone();
    db.run(move |conn| {
        conn.transaction(|conn| {
            let total = count(conn)?;
            query.check(total)?;
            let rows = load(conn, query.limit(), query.offset())?;
            Ok::<_, ApiError>((total, rows))
        })
    })
    .await
}

impl PageRequest {
    /// Reads `page` and `page_size` from a raw query string (the last value of a repeated
    /// parameter wins, as Django's `QueryDict.get`).
    pub fn parse(query: &str, settings: &ApiSettings) -> Result<PageRequest, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let last = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let page = match last(PAGE).map(positive_integer) {
            None => 1,
            Some(Some(page)) => page,
            Some(None) => return Err(ApiError::InvalidPage),
        };
        let max = i64::from(settings.max_page_size.max(1));
        let size = match last(PAGE_SIZE).map(positive_integer) {
            None => i64::from(settings.page_size.max(1)),
            Some(Some(size)) => size,
            Some(None) => return Err(ApiError::InvalidPageSize),
        };
        let size = size.min(max);
        let others = pairs.into_iter().filter(|(key, _)| key != PAGE).collect();
        Ok(PageRequest { page, size, others })
    }

    pub fn limit(&self) -> i64 {
        self.size
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.size)
    }

    /// Refuses a page past the end of a list of `count` objects; the first page always
    /// exists, even for an empty list (DRF's `allow_empty_first_page`).
    pub fn check(&self, count: i64) -> Result<(), ApiError> {
        if self.page > self.pages(count) {
            return Err(ApiError::InvalidPage);
        }
        Ok(())
    }

    fn pages(&self, count: i64) -> i64 {
        ((count + self.size - 1) / self.size).max(1)
    }

    /// The page's answer; `list_url` is the list's absolute URL without a query.
    pub fn page<T>(&self, count: i64, results: Vec<T>, list_url: &str) -> Page<T> {
        let next = (self.page < self.pages(count)).then(|| self.link(list_url, self.page + 1));
        let previous = (self.page > 1).then(|| self.link(list_url, self.page - 1));
        Page {
            count,
            next,
            previous,
            results,
        }
    }

    /// `list_url` with this request's other parameters and `page` (none for the first page,
    /// as DRF links back to it), parameters sorted by name as DRF's `replace_query_param`.
    fn link(&self, list_url: &str, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .others
            .iter()
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        if page > 1 {
            pairs.push((PAGE, page.to_string()));
        }
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if query.is_empty() {
            list_url.to_owned()
        } else {
            format!("{list_url}?{query}")
        }
    }
}

/// Decimal digits only (no sign, no spaces), from 1 to `i64::MAX`: the document declares
/// both parameters as positive int64, and a value outside it is refused like any other.
fn positive_integer(raw: &str) -> Option<i64> {
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|value| *value >= 1)
}

#[cfg(test)]
mod tests {
    use super::PageRequest;
    use crate::api::error::ApiError;
    use crate::settings::ApiSettings;

    fn parse(query: &str) -> Result<PageRequest, ApiError> {
        PageRequest::parse(query, &ApiSettings::default())
    }

    #[test]
    fn the_page_size_is_the_default_or_the_callers_up_to_the_maximum() {
        assert_eq!(parse("").expect("valid").limit(), 50);
        assert_eq!(parse("page_size=7").expect("valid").limit(), 7);
        assert_eq!(parse("page_size=101").expect("valid").limit(), 100);
        let largest = format!("page_size={}", i64::MAX);
        assert_eq!(parse(&largest).expect("valid").limit(), 100);
        // Past int64, as the document declares it.
        for bad in [
            "0",
            "000",
            "-3",
            "x",
            "",
            "1.5",
            "+5",
            "9223372036854775808",
        ] {
            assert!(
                matches!(
                    parse(&format!("page_size={bad}")),
                    Err(ApiError::InvalidPageSize)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_page_is_a_positive_integer_within_the_list() {
        let request = parse("page=3&page_size=10").expect("valid");
        assert_eq!(request.offset(), 20);
        assert!(request.check(21).is_ok());
        assert!(matches!(request.check(20), Err(ApiError::InvalidPage)));
        assert!(parse("").expect("valid").check(0).is_ok());
        let far = parse(&format!("page={}", i64::MAX)).expect("valid");
        assert!(far.offset() > 0);
        assert!(matches!(far.check(10), Err(ApiError::InvalidPage)));
        for bad in ["0", "-1", "last", "", "2.0", "9223372036854775808"] {
            assert!(
                matches!(parse(&format!("page={bad}")), Err(ApiError::InvalidPage)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_links_keep_the_other_parameters_and_drop_page_for_the_first_page() {
        let request = parse("page=2&page_size=1&q=a%20b").expect("valid");
        let page = request.page(3, vec![()], "http://h/api/items/");
        assert_eq!(
            page.next.as_deref(),
            Some("http://h/api/items/?page=3&page_size=1&q=a+b")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("http://h/api/items/?page_size=1&q=a+b")
        );
        let page = parse("")
            .expect("valid")
            .page(1, vec![()], "http://h/api/items/");
        assert_eq!((page.next, page.previous), (None, None));
    }
}
